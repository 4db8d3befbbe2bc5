//! Simulated users of interactive matting (DFIMat, Sec. 5.2): the first
//! clicks and box drawn from the ground truth, a correction click per round
//! at the deepest point of the largest error region, the multi-round
//! protocol, and the degraded previous-round alpha that training feeds the
//! network (`super::dfimat` is the network they drive).

use tch::{Device, Kind, Tensor};

use super::super::layers::{flat, unflat};
use super::super::matter::Matter;
use super::super::params::ParamSet;
use super::dfimat::PROMPTS;
use crate::world::rng::Rand;

/// Click Gaussian width: 1/32 of the shorter side, at least a pixel.
fn click_sigma(h: usize, w: usize) -> f32 {
    (h.min(w) as f32 / 32.0).max(1.0)
}

pub(crate) fn cpu_values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous().reshape([-1])).expect("float tensor")
}

/// Chamfer distance (steps 1 and sqrt 2) from each pixel of `inside` to the
/// nearest pixel outside it, the image border counting as outside; 0 outside.
fn depth_inside(inside: &[bool], w: usize, h: usize) -> Vec<f32> {
    const D: f32 = std::f32::consts::SQRT_2;
    let mut d: Vec<f32> = inside.iter().map(|&m| if m { f32::MAX / 4.0 } else { 0.0 }).collect();
    let at = |d: &[f32], x: isize, y: isize| {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize { 0.0 } else { d[y as usize * w + x as usize] }
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            if inside[i] {
                let v = [at(&d, x - 1, y) + 1.0, at(&d, x, y - 1) + 1.0, at(&d, x - 1, y - 1) + D, at(&d, x + 1, y - 1) + D];
                d[i] = v.into_iter().fold(d[i], f32::min);
            }
        }
    }
    for y in (0..h as isize).rev() {
        for x in (0..w as isize).rev() {
            let i = y as usize * w + x as usize;
            if inside[i] {
                let v = [at(&d, x + 1, y) + 1.0, at(&d, x, y + 1) + 1.0, at(&d, x + 1, y + 1) + D, at(&d, x - 1, y + 1) + D];
                d[i] = v.into_iter().fold(d[i], f32::min);
            }
        }
    }
    d
}

/// The largest 4-connected region of `m` (first found on ties).
fn largest_region(m: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut label = vec![0u32; m.len()];
    let (mut best, mut best_n, mut next) = (0u32, 0usize, 0u32);
    let mut stack = Vec::new();
    for start in 0..m.len() {
        if !m[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let mut n = 0;
        while let Some(i) = stack.pop() {
            n += 1;
            let (x, y) = (i % w, i / w);
            let nb = [(x > 0).then(|| i - 1), (x + 1 < w).then(|| i + 1), (y > 0).then(|| i - w), (y + 1 < h).then(|| i + w)];
            for j in nb.into_iter().flatten() {
                if m[j] && label[j] == 0 {
                    label[j] = next;
                    stack.push(j);
                }
            }
        }
        if n > best_n {
            (best, best_n) = (next, n);
        }
    }
    label.iter().map(|&l| l != 0 && l == best).collect()
}

/// Max-combine a click Gaussian centred on pixel (x, y) into `map`.
pub(crate) fn stamp_click(map: &mut [f32], w: usize, h: usize, x: usize, y: usize) {
    let s = click_sigma(h, w);
    let r = (3.0 * s).ceil() as isize;
    for yy in (y as isize - r).max(0)..=(y as isize + r).min(h as isize - 1) {
        for xx in (x as isize - r).max(0)..=(x as isize + r).min(w as isize - 1) {
            let d2 = ((xx - x as isize).pow(2) + (yy - y as isize).pow(2)) as f32;
            let i = yy as usize * w + xx as usize;
            map[i] = map[i].max((-d2 / (2.0 * s * s)).exp());
        }
    }
}

/// First-round prompts from the truth ([N, 1, H, W]) as [N, PROMPTS, H, W]:
/// `clicks` positive clicks at random interior points (where the distance
/// to the background is at least half the largest one, and away from
/// earlier clicks, so they spread over the instance), and with `box_prompt`
/// the foreground's bounding box, each side pushed outwards by 0-10 % of the
/// box size (a loose user box that still contains the target). An empty
/// truth gets no prompts.
pub fn first_prompts(truth: &Tensor, clicks: usize, box_prompt: bool, r: &mut Rand) -> Tensor {
    let s = truth.size();
    let (n, h, w) = (s[0] as usize, s[2] as usize, s[3] as usize);
    let vals = cpu_values(truth);
    let mut out = vec![0f32; n * PROMPTS as usize * h * w];
    let keep_away = (3.0 * click_sigma(h, w)).max(2.0);
    for k in 0..n {
        let fg: Vec<bool> = vals[k * h * w..(k + 1) * h * w].iter().map(|&v| v > 0.5).collect();
        let base = k * PROMPTS as usize * h * w;
        let mut depth = depth_inside(&fg, w, h);
        for _ in 0..clicks {
            let top = depth.iter().cloned().fold(0.0, f32::max);
            if top <= 0.0 {
                break;
            }
            let cand: Vec<usize> = (0..h * w).filter(|&i| depth[i] >= 0.5 * top).collect();
            let i = cand[r.int(0, cand.len())];
            let (cx, cy) = (i % w, i / w);
            stamp_click(&mut out[base..base + h * w], w, h, cx, cy);
            for (j, d) in depth.iter_mut().enumerate() {
                let (dx, dy) = ((j % w) as f32 - cx as f32, (j / w) as f32 - cy as f32);
                if dx * dx + dy * dy <= keep_away * keep_away {
                    *d = 0.0;
                }
            }
        }
        let xs = (0..h * w).filter(|&i| fg[i]).map(|i| i % w);
        let ys = (0..h * w).filter(|&i| fg[i]).map(|i| i / w);
        if let (true, Some(x0), Some(x1), Some(y0), Some(y1)) = (box_prompt, xs.clone().min(), xs.max(), ys.clone().min(), ys.max()) {
            let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
            let mut grow = |len: f32| (r.range(0.0, 0.1) * len).round() as usize;
            let (x0, x1) = (x0.saturating_sub(grow(bw)), (x1 + grow(bw)).min(w - 1));
            let (y0, y1) = (y0.saturating_sub(grow(bh)), (y1 + grow(bh)).min(h - 1));
            let b = base + 2 * h * w;
            for y in y0..=y1 {
                out[b + y * w + x0..=b + y * w + x1].fill(1.0);
            }
        }
    }
    Tensor::from_slice(&out).reshape([n as i64, PROMPTS, h as i64, w as i64]).to_device(truth.device())
}

/// The next round's prompts: one click at the deepest point of the largest
/// 4-connected region where the prediction (`pred` > 0.5) and the truth
/// (> 0.5) disagree, on the positive map where the truth is foreground and
/// the negative one otherwise; the previous-alpha channel becomes `pred`.
/// Inputs are [N, PROMPTS, H, W] and [N, 1, H, W]; a frame without errors
/// gets no click.
pub fn add_correction(prompts: &Tensor, pred: &Tensor, truth: &Tensor) -> Tensor {
    let s = prompts.size();
    let (n, h, w) = (s[0] as usize, s[2] as usize, s[3] as usize);
    let (p, t) = (cpu_values(pred), cpu_values(truth));
    let mut out = cpu_values(prompts);
    for k in 0..n {
        let frame = k * h * w..(k + 1) * h * w;
        let wrong: Vec<bool> = p[frame.clone()].iter().zip(&t[frame.clone()]).map(|(a, b)| (*a > 0.5) != (*b > 0.5)).collect();
        let region = largest_region(&wrong, w, h);
        let depth = depth_inside(&region, w, h);
        let base = k * PROMPTS as usize * h * w;
        let (best, top) = depth.iter().enumerate().fold((0, 0.0f32), |acc, (i, &d)| if d > acc.1 { (i, d) } else { acc });
        if top > 0.0 {
            let channel = if t[k * h * w + best] > 0.5 { 0 } else { 1 };
            let c = base + channel * h * w;
            stamp_click(&mut out[c..c + h * w], w, h, best % w, best / w);
        }
        let prev = base + 3 * h * w;
        for (o, v) in out[prev..prev + h * w].iter_mut().zip(&p[frame]) {
            *o = v.clamp(0.0, 1.0);
        }
    }
    Tensor::from_slice(&out).reshape([n as i64, PROMPTS, h as i64, w as i64]).to_device(prompts.device())
}

/// The protocol hoimat scores the model with (Table II, Fig. 6) and
/// annotates with (local adaptation): two positive clicks and a box, then
/// two correction rounds.
pub const ROUNDS: usize = 3;
pub const CLICKS: usize = 2;

/// The multi-round protocol (Sec. 5.2) without gradients: round 1 gives
/// `clicks` positive clicks and a box, each later round one correction
/// click from the last prediction. `com` [N, 3, H, W], `truth`
/// [N, 1, H, W]; returns the last round's alpha [N, 1, H, W].
pub fn interactive_alpha(net: &dyn Matter, params: &ParamSet, com: &Tensor, truth: &Tensor, rounds: usize, clicks: usize, r: &mut Rand) -> Tensor {
    tch::no_grad(|| {
        let run = |prompts: &Tensor| {
            let src = Tensor::cat(&[com, &prompts.to_device(com.device())], 1).unsqueeze(1);
            net.run(params, &src, None, false).pha.squeeze_dim(1)
        };
        let mut prompts = first_prompts(truth, clicks, true, r);
        let mut pha = run(&prompts);
        for _ in 1..rounds.max(1) {
            prompts = add_correction(&prompts, &pha, truth);
            pha = run(&prompts);
        }
        pha
    })
}

/// A stand-in for the previous round's prediction: the truth grown or
/// shrunk by a few pixels, with a wrong blob added or cut out half the time.
fn degraded(truth: &Tensor, r: &mut Rand) -> Tensor {
    let s = truth.size();
    let (h, w) = (s[2], s[3]);
    let k = r.int(1, (h.min(w) / 16).max(1) as usize + 1) as i64;
    let grown = truth.max_pool2d([2 * k + 1, 2 * k + 1], [1, 1], [k, k], [1, 1], false);
    let mut d = if r.chance(0.5) { grown } else { -(-truth).max_pool2d([2 * k + 1, 2 * k + 1], [1, 1], [k, k], [1, 1], false) };
    if r.chance(0.5) {
        let (cx, cy) = (r.range(0.0, w as f32) as f64, r.range(0.0, h as f32) as f64);
        let rad = r.range(0.05, 0.2) as f64 * h.min(w) as f64;
        let opts = (Kind::Float, truth.device());
        let yy = Tensor::arange(h, opts).view([1, 1, h, 1]);
        let xx = Tensor::arange(w, opts).view([1, 1, 1, w]);
        let blob = ((yy - cy).square() + (xx - cx).square()).le(rad * rad).to_kind(Kind::Float);
        d = if r.chance(0.5) { d.maximum(&blob) } else { d * (1.0 - blob) };
    }
    d
}

/// Training inputs with simulated prompts, per frame: 1-3 positive clicks,
/// a box half the time, and half the time a later round (the previous
/// alpha a degraded truth, plus its correction click), so the model learns
/// first and later rounds. `src` [B, T, 3, H, W], `truth` [B, T, 1, H, W];
/// returns [B, T, 3 + PROMPTS, H, W].
pub fn training_input(src: &Tensor, truth: &Tensor, r: &mut Rand) -> Tensor {
    let s = src.size();
    let t = flat(&truth.detach()).to_device(Device::Cpu).to_kind(Kind::Float);
    let frames: Vec<Tensor> = (0..s[0] * s[1])
        .map(|i| {
            let ti = t.narrow(0, i, 1);
            let p = first_prompts(&ti, r.int(1, 4), r.chance(0.5), r);
            if r.chance(0.5) { add_correction(&p, &degraded(&ti, r), &ti) } else { p }
        })
        .collect();
    let p = unflat(&Tensor::cat(&frames, 0), s[0], s[1]).to_device(src.device()).to_kind(src.kind());
    Tensor::cat(&[src, &p], 2)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A disc of ones, [1, 1, h, w].
    pub(crate) fn disc(h: i64, w: i64, cx: f64, cy: f64, rad: f64) -> Tensor {
        let yy = Tensor::arange(h, (Kind::Float, Device::Cpu)).view([h, 1]);
        let xx = Tensor::arange(w, (Kind::Float, Device::Cpu)).view([1, w]);
        ((yy - cy).square() + (xx - cx).square()).le(rad * rad).to_kind(Kind::Float).view([1, 1, h, w])
    }

    fn plane(h: usize, w: usize, rects: &[(usize, usize, usize, usize, f32)]) -> Tensor {
        let mut v = vec![0f32; h * w];
        for &(x0, y0, x1, y1, val) in rects {
            for y in y0..y1 {
                v[y * w + x0..y * w + x1].fill(val);
            }
        }
        Tensor::from_slice(&v).view([1, 1, h as i64, w as i64])
    }

    fn peaks(p: &Tensor, channel: i64) -> Vec<(usize, usize)> {
        let s = p.size();
        let v = cpu_values(&p.narrow(1, channel, 1));
        let w = s[3] as usize;
        v.iter().enumerate().filter(|(_, &x)| x >= 0.9999).map(|(i, _)| (i % w, i / w)).collect()
    }

    #[test]
    fn correction_clicks_the_largest_error_with_its_sign() {
        let (h, w) = (30, 40);
        let truth = plane(h, w, &[(5, 5, 30, 25, 1.0)]);
        // A 10x10 hole (missed foreground) and a 3x3 false blob outside.
        let pred = plane(h, w, &[(5, 5, 30, 25, 0.9), (8, 8, 18, 18, 0.1), (34, 2, 37, 5, 0.8)]);
        let p0 = first_prompts(&truth, 1, false, &mut Rand::keyed("c", 0));
        let p1 = add_correction(&p0, &pred, &truth);
        let new: Vec<_> = peaks(&p1, 0).into_iter().filter(|c| !peaks(&p0, 0).contains(c)).collect();
        assert_eq!(new.len(), 1, "one new positive click");
        let (x, y) = new[0];
        assert!((12..=13).contains(&x) && (12..=13).contains(&y), "at the hole's centre, got {x},{y}");
        assert!(peaks(&p1, 1).is_empty(), "no negative click");
        assert_eq!(f64::try_from((p1.narrow(1, 3, 1) - &pred).abs().max()).unwrap(), 0.0, "previous alpha kept");
        // A large false-positive band left of the target: a negative click
        // there, though a small hole exists too.
        let pred = plane(h, w, &[(5, 5, 30, 25, 1.0), (0, 0, 5, 30, 0.7), (20, 10, 22, 12, 0.0)]);
        let p2 = add_correction(&p0, &pred, &truth);
        let neg = peaks(&p2, 1);
        assert_eq!(neg.len(), 1);
        assert!(neg[0].0 < 5, "negative click in the band, got {:?}", neg[0]);
        assert_eq!(peaks(&p2, 0), peaks(&p0, 0), "no new positive click");
        // No error, no click.
        let p3 = add_correction(&p0, &truth, &truth);
        assert_eq!(f64::try_from((p3.narrow(1, 0, 3) - p0.narrow(1, 0, 3)).abs().max()).unwrap(), 0.0);
    }

    #[test]
    fn first_clicks_lie_inside_and_the_box_holds_the_target() {
        for seed in 0..8u64 {
            let (h, w) = (40i64, 60i64);
            let blob = (disc(h, w, 20.0 + seed as f64, 20.0, 9.0) + plane(40, 60, &[(25, 12, 50, 22, 1.0)])).clamp(0.0, 1.0);
            let mut r = Rand::keyed("first", seed);
            let p = first_prompts(&blob, 3, true, &mut r);
            let fg = cpu_values(&blob);
            let clicks = peaks(&p, 0);
            assert_eq!(clicks.len(), 3, "seed {seed}");
            for (x, y) in clicks {
                assert!(fg[y * w as usize + x] > 0.5, "click {x},{y} outside the foreground");
            }
            assert!(peaks(&p, 1).is_empty());
            let bx = p.narrow(1, 2, 1);
            let outside: Tensor = 1.0 - &bx;
            assert_eq!((&blob * outside).sum(Kind::Float).double_value(&[]), 0.0, "box misses foreground");
            // The jitter grows each side by at most 10 % of the tight box.
            let area = bx.sum(Kind::Float).double_value(&[]);
            let ys = blob.sum_dim_intlist(3, false, Kind::Float).gt(0.0).sum(Kind::Float).double_value(&[]);
            let xs = blob.sum_dim_intlist(2, false, Kind::Float).gt(0.0).sum(Kind::Float).double_value(&[]);
            assert!(area >= xs * ys && area <= 1.45 * xs * ys, "box area {area} vs tight {}", xs * ys);
            assert_eq!(p.narrow(1, 3, 1).abs().sum(Kind::Float).double_value(&[]), 0.0, "no previous alpha");
        }
    }
}
