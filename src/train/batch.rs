//! Clips as tensors, and batches of T-frame sequences drawn from them with a
//! seeded stream (so a resumed run draws the same batches).

use tch::{Device, Kind, Tensor};

use crate::frame::{Clip, Plane, Rgb};
use crate::world::rng::Rand;

/// One clip as tensors: [N, C, H, W] per stream, on the CPU.
pub struct ClipTensors {
    pub name: String,
    pub com: Tensor,
    pub pha: Tensor,
    pub fgr: Tensor,
    pub bgr: Option<Tensor>,
    /// Held-object mask from the world's labels ([N, 1, H, W]), when known.
    pub object: Option<Tensor>,
    /// The world's label map as class ids in a float tensor ([N, 1, H, W],
    /// values of `frame::label`), when known: targets for models that
    /// predict segmentation-like modalities (VMFM).
    pub labels: Option<Tensor>,
}

fn rgb_tensor(frames: &[&Rgb]) -> Tensor {
    let (w, h) = (frames[0].w as i64, frames[0].h as i64);
    let data: Vec<f32> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    Tensor::from_slice(&data).reshape([frames.len() as i64, h, w, 3]).permute([0, 3, 1, 2]).contiguous()
}

fn plane_tensor(frames: &[&Plane]) -> Tensor {
    let (w, h) = (frames[0].w as i64, frames[0].h as i64);
    let data: Vec<f32> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    Tensor::from_slice(&data).reshape([frames.len() as i64, 1, h, w])
}

/// Back from a [1, H, W] or [H, W] tensor to a plane.
pub fn to_plane(t: &Tensor) -> Plane {
    let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
    let s = t.size();
    let (h, w) = (s[s.len() - 2] as usize, s[s.len() - 1] as usize);
    Plane::new(w, h, Vec::<f32>::try_from(t.reshape([-1])).expect("float tensor"))
}

/// Back from a [3, H, W] tensor to RGB.
pub fn to_rgb(t: &Tensor) -> Rgb {
    let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).permute([1, 2, 0]).contiguous();
    let s = t.size();
    Rgb::new(s[1] as usize, s[0] as usize, Vec::<f32>::try_from(t.reshape([-1])).expect("float tensor"))
}

impl ClipTensors {
    pub fn from_clip(clip: &Clip) -> ClipTensors {
        let com = rgb_tensor(&clip.frames.iter().map(|f| &f.com).collect::<Vec<_>>());
        let pha = plane_tensor(&clip.frames.iter().map(|f| &f.pha).collect::<Vec<_>>());
        let fgr = match clip.frames.iter().map(|f| f.fgr.as_ref()).collect::<Option<Vec<_>>>() {
            Some(v) => rgb_tensor(&v),
            None => com.shallow_clone(),
        };
        let bgr = clip.frames.iter().map(|f| f.bgr.as_ref()).collect::<Option<Vec<_>>>().map(|v| rgb_tensor(&v));
        let label_maps = clip.frames.iter().map(|f| f.label.as_ref()).collect::<Option<Vec<_>>>();
        let labels = label_maps.as_ref().map(|ls| {
            let planes: Vec<Plane> = ls.iter().map(|l| Plane::new(l.w, l.h, l.data.iter().map(|v| *v as f32).collect())).collect();
            plane_tensor(&planes.iter().collect::<Vec<_>>())
        });
        let object = label_maps.map(|ls| {
            let planes: Vec<Plane> = ls
                .iter()
                .map(|l| Plane::new(l.w, l.h, l.data.iter().map(|v| (*v == crate::frame::label::HELD_OBJECT) as u8 as f32).collect()))
                .collect();
            plane_tensor(&planes.iter().collect::<Vec<_>>())
        });
        ClipTensors { name: clip.meta.name.clone(), com, pha, fgr, bgr, object, labels }
    }

    pub fn len(&self) -> i64 {
        self.com.size()[0]
    }

    /// Another handle on the same tensors (no copy).
    pub fn shallow_clone(&self) -> ClipTensors {
        let opt = |t: &Option<Tensor>| t.as_ref().map(|t| t.shallow_clone());
        ClipTensors {
            name: self.name.clone(),
            com: self.com.shallow_clone(),
            pha: self.pha.shallow_clone(),
            fgr: self.fgr.shallow_clone(),
            bgr: opt(&self.bgr),
            object: opt(&self.object),
            labels: opt(&self.labels),
        }
    }

    /// Frame `i`'s held-object mask, one bool per pixel (row-major), when known.
    pub fn object_mask(&self, i: i64) -> Option<Vec<bool>> {
        let obj = self.object.as_ref()?;
        let v = Vec::<f32>::try_from(obj.get(i).reshape([-1]).to_kind(Kind::Float)).expect("float mask");
        Some(v.iter().map(|x| *x > 0.5).collect())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A batch of sequences: [B, T, C, H, W] each.
pub struct Batch {
    pub src: Tensor,
    pub pha: Tensor,
    pub fgr: Tensor,
    /// Label maps (class ids as floats, C = 1) when every clip has them.
    pub labels: Option<Tensor>,
}

impl Batch {
    /// A batch without label maps.
    pub fn new(src: Tensor, pha: Tensor, fgr: Tensor) -> Batch {
        Batch { src, pha, fgr, labels: None }
    }
    pub fn to_device(&self, d: Device) -> Batch {
        Batch { src: self.src.to_device(d), pha: self.pha.to_device(d), fgr: self.fgr.to_device(d), labels: self.labels.as_ref().map(|l| l.to_device(d)) }
    }
}

/// How sequences are drawn.
#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    pub batch: i64,
    pub seq_len: i64,
    /// Probability of compositing the foreground over another clip's
    /// background (RVM trains on foregrounds composited at load time).
    pub swap_background: f32,
    pub flip: f32,
}

/// A T-frame window of one clip starting at `start` (clamped), optionally
/// flipped and re-composited over `bg` (a [T, 3, H, W] background).
pub fn window(c: &ClipTensors, start: i64, t: i64, flip: bool, bg: Option<&Tensor>) -> (Tensor, Tensor, Tensor) {
    let t = t.min(c.len());
    let start = start.clamp(0, c.len() - t);
    let mut pha = c.pha.narrow(0, start, t);
    let mut fgr = c.fgr.narrow(0, start, t);
    let mut src = match bg {
        Some(b) => &pha * &fgr + (1.0 - &pha) * b,
        None => c.com.narrow(0, start, t),
    };
    if flip {
        src = src.flip([3]);
        pha = pha.flip([3]);
        fgr = fgr.flip([3]);
    }
    (src, pha, fgr)
}

/// Draw a batch from `clips` with the stream `r`; swapped backgrounds come
/// from the clips themselves.
pub fn sample(clips: &[ClipTensors], s: &Sampling, r: &mut Rand) -> Batch {
    sample_with(clips, clips, s, r)
}

/// As [`sample`], with swapped backgrounds drawn from `pool` (e.g. varied
/// `synvm` backgrounds for green-screen `synmeta` foregrounds, as RVM
/// composites its foregrounds over random backgrounds).
pub fn sample_with(clips: &[ClipTensors], pool: &[ClipTensors], s: &Sampling, r: &mut Rand) -> Batch {
    let (mut src, mut pha, mut fgr, mut labels) = (vec![], vec![], vec![], vec![]);
    for _ in 0..s.batch {
        let c = &clips[r.int(0, clips.len())];
        let t = s.seq_len.min(c.len());
        let start = r.int(0, (c.len() - t + 1) as usize) as i64;
        let flip = r.chance(s.flip);
        let bg = if r.chance(s.swap_background) { background_window(pool, t, r) } else { None };
        let (a, b, c2) = window(c, start, t, flip, bg.as_ref());
        labels.push(window_labels(c, start, t, flip, bg.is_some(), &b));
        src.push(a);
        pha.push(b);
        fgr.push(c2);
    }
    let labels = labels.into_iter().collect::<Option<Vec<_>>>().map(|l| Tensor::stack(&l, 0));
    Batch { src: Tensor::stack(&src, 0), pha: Tensor::stack(&pha, 0), fgr: Tensor::stack(&fgr, 0), labels }
}

/// The label maps of the window [`window`] cut (same start, length and
/// flip; `pha` is that window's alpha). Over a swapped background only the
/// foreground keeps its labels: the clip's own interferers are gone.
fn window_labels(c: &ClipTensors, start: i64, t: i64, flip: bool, swapped: bool, pha: &Tensor) -> Option<Tensor> {
    let l = c.labels.as_ref()?;
    let t = t.min(c.len());
    let start = start.clamp(0, c.len() - t);
    let mut l = l.narrow(0, start, t);
    if flip {
        l = l.flip([3]);
    }
    Some(if swapped { l * pha.gt(0.0).to_kind(tch::Kind::Float) } else { l })
}

/// A `t`-frame background window from a random clip of `pool`; None when
/// that clip has no backgrounds or fewer than `t` frames. (The start is
/// drawn whenever the clip has backgrounds, so the stream of draws does not
/// depend on the clip's length.)
pub fn background_window(pool: &[ClipTensors], t: i64, r: &mut Rand) -> Option<Tensor> {
    let other = &pool[r.int(0, pool.len())];
    let b = other.bgr.as_ref()?;
    let start = r.int(0, (other.len() - t + 1).max(1) as usize) as i64;
    (other.len() >= t).then(|| b.narrow(0, start, t))
}
