//! Local data augmentation (paper Sec. IV-E 2): background replacement
//! (probability 0.5, by an image or a video background) and the regular
//! augmentations: flip, random erasing, hue, contrast, brightness,
//! grayscale, sharpen, smooth, and pause (a repeated frame). Each works on a
//! T-frame sequence of [T, C, H, W] tensors in [0, 1] and is a small
//! function; which run and how often is [`AugmentConfig`].
//!
//! Background replacement composites `alpha * com + (1 - alpha) * bg`: the
//! annotated alpha is all local capture gives (no clean foreground), so the
//! composite is used as the foreground colour, as the paper's pipeline
//! must; the sequence's foreground target becomes that composite too.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::world::rng::Rand;

/// A training sequence: composite, alpha, foreground target.
pub struct Seq {
    pub com: Tensor,
    pub pha: Tensor,
    pub fgr: Tensor,
}

impl Seq {
    pub fn len(&self) -> i64 {
        self.com.size()[0]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Probabilities of each augmentation (0 disables it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    pub background: f32,
    /// Of replacements, the share using a video (vs a still image) background.
    pub video_background: f32,
    pub flip: f32,
    pub erase: f32,
    pub hue: f32,
    pub contrast: f32,
    pub brightness: f32,
    pub grayscale: f32,
    pub sharpen: f32,
    pub smooth: f32,
    pub pause: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            background: 0.5,
            video_background: 0.5,
            flip: 0.5,
            erase: 0.2,
            hue: 0.3,
            contrast: 0.3,
            brightness: 0.3,
            grayscale: 0.1,
            sharpen: 0.1,
            smooth: 0.1,
            pause: 0.1,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        AugmentConfig { background: 0.0, video_background: 0.0, flip: 0.0, erase: 0.0, hue: 0.0, contrast: 0.0, brightness: 0.0, grayscale: 0.0, sharpen: 0.0, smooth: 0.0, pause: 0.0 }
    }
}

/// Replace the background: `bg` is [T, 3, H, W] (video) or [1, 3, H, W] (image).
pub fn replace_background(s: &Seq, bg: &Tensor) -> Seq {
    let com = &s.pha * &s.com + (1.0 - &s.pha) * bg;
    Seq { fgr: s.com.shallow_clone(), com, pha: s.pha.shallow_clone() }
}

/// Mirror every frame left-right.
pub fn flip(s: &Seq) -> Seq {
    Seq { com: s.com.flip([3]), pha: s.pha.flip([3]), fgr: s.fgr.flip([3]) }
}

/// Fill one rectangle (the same in every frame) of the composite with a
/// colour; alpha is unchanged, so the model learns to ignore occluders of
/// the input (as torchvision's RandomErasing on the input does).
pub fn erase(s: &Seq, x: i64, y: i64, w: i64, h: i64, colour: [f32; 3]) -> Seq {
    let com = s.com.copy();
    let c = Tensor::from_slice(&colour).view([1, 3, 1, 1]).to_device(com.device());
    let _ = com.narrow(2, y, h).narrow(3, x, w).copy_(&c.expand([s.len(), 3, h, w], false));
    Seq { com, pha: s.pha.shallow_clone(), fgr: s.fgr.shallow_clone() }
}

/// Rotate hue by `angle` radians (rotation about the grey axis, in YIQ).
pub fn hue(s: &Seq, angle: f32) -> Seq {
    let (c, sn) = (angle.cos(), angle.sin());
    // RGB -> YIQ, rotate I/Q, back.
    let to = [[0.299f32, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]];
    let back = [[1.0f32, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]];
    let rot = [[1.0f32, 0.0, 0.0], [0.0, c, -sn], [0.0, sn, c]];
    let mul = |a: [[f32; 3]; 3], b: [[f32; 3]; 3]| {
        let mut m = [[0f32; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        m
    };
    let m = mul(back, mul(rot, to));
    let mt = Tensor::from_slice(&m.concat()).view([3, 3]).to_device(s.com.device());
    let apply = |x: &Tensor| x.permute([0, 2, 3, 1]).matmul(&mt.tr()).permute([0, 3, 1, 2]).clamp(0.0, 1.0);
    Seq { com: apply(&s.com), pha: s.pha.shallow_clone(), fgr: apply(&s.fgr) }
}

/// Scale contrast about each frame's mean grey by `f`.
pub fn contrast(s: &Seq, f: f32) -> Seq {
    let apply = |x: &Tensor| {
        let m = x.mean_dim(&[1i64, 2, 3][..], true, Kind::Float);
        ((x - &m) * f as f64 + m).clamp(0.0, 1.0)
    };
    Seq { com: apply(&s.com), pha: s.pha.shallow_clone(), fgr: apply(&s.fgr) }
}

/// Multiply brightness by `f`.
pub fn brightness(s: &Seq, f: f32) -> Seq {
    Seq { com: (&s.com * f as f64).clamp(0.0, 1.0), pha: s.pha.shallow_clone(), fgr: (&s.fgr * f as f64).clamp(0.0, 1.0) }
}

/// Luma in all three channels.
pub fn grayscale(s: &Seq) -> Seq {
    let apply = |x: &Tensor| {
        let w = Tensor::from_slice(&[0.299f32, 0.587, 0.114]).view([1, 3, 1, 1]).to_device(x.device());
        (x * w).sum_dim_intlist(&[1i64][..], true, Kind::Float).expand([-1, 3, -1, -1], false).contiguous()
    };
    Seq { com: apply(&s.com), pha: s.pha.shallow_clone(), fgr: apply(&s.fgr) }
}

fn filter3(x: &Tensor, k: [f32; 9]) -> Tensor {
    let w = Tensor::from_slice(&k).view([1, 1, 3, 3]).to_device(x.device()).repeat([3, 1, 1, 1]);
    x.reflection_pad2d([1, 1, 1, 1]).conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], 3)
}

/// Unsharp: 3x3 sharpening kernel (centre 5, cross -1), clamped.
pub fn sharpen(s: &Seq) -> Seq {
    let k = [0.0, -1.0, 0.0, -1.0, 5.0, -1.0, 0.0, -1.0, 0.0];
    Seq { com: filter3(&s.com, k).clamp(0.0, 1.0), pha: s.pha.shallow_clone(), fgr: filter3(&s.fgr, k).clamp(0.0, 1.0) }
}

/// 3x3 binomial blur of the composite (alpha stays sharp: the matte to
/// predict does not change when the camera blurs).
pub fn smooth(s: &Seq) -> Seq {
    let k = [1.0 / 16.0, 2.0 / 16.0, 1.0 / 16.0, 2.0 / 16.0, 4.0 / 16.0, 2.0 / 16.0, 1.0 / 16.0, 2.0 / 16.0, 1.0 / 16.0];
    Seq { com: filter3(&s.com, k), pha: s.pha.shallow_clone(), fgr: s.fgr.shallow_clone() }
}

/// Pause at frame `at` (>= 1): it is shown twice and the rest shifts one
/// later, so the length is kept and the last frame drops out.
pub fn pause(s: &Seq, at: i64) -> Seq {
    let t = s.len();
    let at = at.clamp(1, (t - 1).max(1));
    let idx: Vec<i64> = (0..t).map(|i| if i < at { i } else { i - 1 }).collect();
    let ix = Tensor::from_slice(&idx).to_device(s.com.device());
    Seq { com: s.com.index_select(0, &ix), pha: s.pha.index_select(0, &ix), fgr: s.fgr.index_select(0, &ix) }
}

/// Apply the configured augmentations in a fixed order, each with its
/// probability. `backgrounds` are [N, 3, H, W] video clips (N >= T) to
/// draw image (one frame) or video (T frames) backgrounds from.
pub fn augment(s: Seq, cfg: &AugmentConfig, backgrounds: &[Tensor], r: &mut Rand) -> Seq {
    let t = s.len();
    let (h, w) = (s.com.size()[2], s.com.size()[3]);
    let mut s = s;
    if !backgrounds.is_empty() && r.chance(cfg.background) {
        let b = r.pick(backgrounds);
        let n = b.size()[0];
        let bg = if r.chance(cfg.video_background) && n >= t {
            b.narrow(0, r.int(0, (n - t + 1) as usize) as i64, t)
        } else {
            b.narrow(0, r.int(0, n as usize) as i64, 1)
        };
        s = replace_background(&s, &bg.to_device(s.com.device()));
    }
    if r.chance(cfg.flip) {
        s = flip(&s);
    }
    if r.chance(cfg.erase) {
        let (ew, eh) = ((w as f32 * r.range(0.1, 0.3)) as i64, (h as f32 * r.range(0.1, 0.3)) as i64);
        let (x, y) = (r.int(0, (w - ew).max(1) as usize) as i64, r.int(0, (h - eh).max(1) as usize) as i64);
        s = erase(&s, x, y, ew.max(1), eh.max(1), r.color());
    }
    if r.chance(cfg.hue) {
        s = hue(&s, r.range(-0.5, 0.5));
    }
    if r.chance(cfg.contrast) {
        s = contrast(&s, r.range(0.7, 1.3));
    }
    if r.chance(cfg.brightness) {
        s = brightness(&s, r.range(0.7, 1.3));
    }
    if r.chance(cfg.grayscale) {
        s = grayscale(&s);
    }
    if r.chance(cfg.sharpen) {
        s = sharpen(&s);
    }
    if r.chance(cfg.smooth) {
        s = smooth(&s);
    }
    if t > 1 && r.chance(cfg.pause) {
        s = pause(&s, r.int(1, t as usize) as i64);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn seq(t: i64) -> Seq {
        tch::manual_seed(0);
        let com = Tensor::rand([t, 3, 8, 12], (Kind::Float, Device::Cpu));
        let pha = Tensor::rand([t, 1, 8, 12], (Kind::Float, Device::Cpu)).round();
        Seq { fgr: com.copy(), com, pha }
    }

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    fn in_unit_range(x: &Tensor) -> bool {
        x.min().double_value(&[]) >= 0.0 && x.max().double_value(&[]) <= 1.0
    }

    #[test]
    fn each_augmentation_keeps_shape_and_range() {
        let s = seq(4);
        let bg = Tensor::rand([4, 3, 8, 12], (Kind::Float, Device::Cpu));
        let outs = vec![
            replace_background(&s, &bg),
            flip(&s),
            erase(&s, 2, 1, 3, 2, [1.0, 0.0, 0.0]),
            hue(&s, 0.4),
            contrast(&s, 1.3),
            brightness(&s, 1.3),
            grayscale(&s),
            sharpen(&s),
            smooth(&s),
            pause(&s, 2),
        ];
        for o in &outs {
            assert_eq!(o.com.size(), s.com.size());
            assert_eq!(o.pha.size(), s.pha.size());
            assert!(in_unit_range(&o.com) && in_unit_range(&o.fgr));
        }
        // Photometric ones never touch alpha.
        for o in &outs[3..9] {
            assert_eq!(max_abs(&o.pha, &s.pha), 0.0);
        }
    }

    #[test]
    fn semantics() {
        let s = seq(4);
        // Background replacement: where alpha = 1 the composite is kept, where 0 it is the background.
        let bg = Tensor::full([1, 3, 8, 12], 0.25, (Kind::Float, Device::Cpu));
        let o = replace_background(&s, &bg);
        let fg = s.pha.expand([4, 3, 8, 12], false);
        assert!(max_abs(&(&o.com * &fg), &(&s.com * &fg)) < 1e-6);
        assert!(max_abs(&(&o.com * (1.0 - &fg)), &((1.0 - &fg) * 0.25)) < 1e-6);
        // Pause: frame 2 repeats frame 1 and frame 3 is old frame 2.
        let p = pause(&s, 2);
        assert_eq!(max_abs(&p.com.get(2), &s.com.get(1)), 0.0);
        assert_eq!(max_abs(&p.com.get(3), &s.com.get(2)), 0.0);
        assert_eq!(max_abs(&p.pha.get(2), &s.pha.get(1)), 0.0);
        // Flip twice is the identity; erase paints exactly the rectangle.
        assert_eq!(max_abs(&flip(&flip(&s)).com, &s.com), 0.0);
        let e = erase(&s, 2, 1, 3, 2, [1.0, 0.0, 0.0]);
        assert_eq!(e.com.get(0).get(0).get(1).get(2).double_value(&[]), 1.0);
        assert_eq!(max_abs(&e.com.narrow(3, 5, 7), &s.com.narrow(3, 5, 7)), 0.0);
        // Hue 0 is the identity; grayscale makes channels equal.
        assert!(max_abs(&hue(&s, 0.0).com, &s.com) < 5e-3, "YIQ round trip");
        let g = grayscale(&s);
        assert!(max_abs(&g.com.narrow(1, 0, 1), &g.com.narrow(1, 2, 1)) < 1e-7);
        // Smoothing a constant image changes nothing; sharpening too.
        let c = Seq { com: Tensor::full([2, 3, 8, 12], 0.4, (Kind::Float, Device::Cpu)), pha: s.pha.narrow(0, 0, 2), fgr: Tensor::full([2, 3, 8, 12], 0.4, (Kind::Float, Device::Cpu)) };
        assert!(max_abs(&smooth(&c).com, &c.com) < 1e-6 && max_abs(&sharpen(&c).com, &c.com) < 1e-6);
    }

    #[test]
    fn augment_is_deterministic_under_a_seed() {
        let bgs = vec![Tensor::rand([6, 3, 8, 12], (Kind::Float, Device::Cpu))];
        let cfg = AugmentConfig { background: 1.0, pause: 1.0, ..AugmentConfig::default() };
        // One input, copied: libtorch's global generator is shared with
        // tests running in parallel, so `seq` is drawn once.
        let s = seq(4);
        let copy = || Seq { com: s.com.copy(), pha: s.pha.copy(), fgr: s.fgr.copy() };
        let a = augment(copy(), &cfg, &bgs, &mut Rand::keyed("aug", 5));
        let b = augment(copy(), &cfg, &bgs, &mut Rand::keyed("aug", 5));
        assert_eq!(max_abs(&a.com, &b.com), 0.0);
        let c = augment(copy(), &cfg, &bgs, &mut Rand::keyed("aug", 6));
        assert!(max_abs(&a.com, &c.com) > 0.0);
        let none = augment(copy(), &AugmentConfig::none(), &bgs, &mut Rand::keyed("aug", 5));
        assert_eq!(max_abs(&none.com, &s.com), 0.0);
    }
}
