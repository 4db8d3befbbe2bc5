//! Local data capture: which frames of a clip are annotated, and the
//! annotator that labels them (paper Sec. IV-E 1). The paper annotates with
//! MatteAnything driven by clicks; until an interactive annotator is plugged
//! in, [`NoisyAnnotator`] degrades the world's ground truth the way a
//! click-driven tool errs: a jittered boundary, thin parts missed, holes,
//! and spurious blobs, scaled by one noise knob (0 = perfect).

use serde::{Deserialize, Serialize};

use crate::frame::Plane;
use crate::world::rng::Rand;

/// Labels one frame. `truth` is what a perfect annotator would return; an
/// interactive annotator would use the composite and user input instead.
pub trait Annotator {
    fn annotate(&self, com: &crate::frame::Rgb, truth: &Plane, r: &mut Rand) -> Plane;
    fn name(&self) -> String;
}

/// Ground truth with click-tool-like errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyAnnotator {
    /// 0 = perfect; 1 = heavy (boundary moved by up to 2 px, thin parts up
    /// to 2 px wide dropped, several holes and blobs per frame).
    pub noise: f32,
}

/// Which frames are captured for adaptation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FramePolicy {
    /// The first N frames (a short capture before use).
    First,
    /// N frames spread evenly over the clip.
    Spread,
}

/// Indices of the `n` captured frames of an `len`-frame clip (sorted,
/// distinct; at most `len - 1`, so at least one frame is held out).
pub fn pick_frames(len: usize, n: usize, policy: FramePolicy) -> Vec<usize> {
    let n = n.min(len.saturating_sub(1)).max(1).min(len);
    match policy {
        FramePolicy::First => (0..n).collect(),
        FramePolicy::Spread => {
            let mut v: Vec<usize> = (0..n).map(|i| (i * len) / n).collect();
            v.dedup();
            v
        }
    }
}

/// Grey-level erosion (r > 0) or dilation (r < 0) with a square window.
fn morph(p: &Plane, r: i32, erode: bool) -> Plane {
    if r == 0 {
        return p.clone();
    }
    let (w, h) = (p.w as i32, p.h as i32);
    let mut out = p.clone();
    for y in 0..h {
        for x in 0..w {
            let mut v = if erode { f32::MAX } else { f32::MIN };
            for dy in -r..=r {
                for dx in -r..=r {
                    let (xx, yy) = ((x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1));
                    let s = p.data[(yy * w + xx) as usize];
                    v = if erode { v.min(s) } else { v.max(s) };
                }
            }
            out.data[(y * w + x) as usize] = v;
        }
    }
    out
}

fn disc(p: &mut Plane, cx: f32, cy: f32, rad: f32, value: f32) {
    let (x0, x1) = ((cx - rad).floor().max(0.0) as usize, ((cx + rad).ceil() as usize).min(p.w.saturating_sub(1)));
    let (y0, y1) = ((cy - rad).floor().max(0.0) as usize, ((cy + rad).ceil() as usize).min(p.h.saturating_sub(1)));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let cover = (rad - d + 0.5).clamp(0.0, 1.0);
            let i = y * p.w + x;
            p.data[i] = p.data[i] * (1.0 - cover) + value * cover;
        }
    }
}

impl Annotator for NoisyAnnotator {
    fn name(&self) -> String {
        format!("noisy({})", self.noise)
    }

    fn annotate(&self, _com: &crate::frame::Rgb, truth: &Plane, r: &mut Rand) -> Plane {
        let n = self.noise.clamp(0.0, 1.0);
        if n == 0.0 {
            return truth.clone();
        }
        // Boundary jitter: the whole matte grows or shrinks by 0-2 px.
        let shift = (r.range(-2.0, 2.0) * n).round() as i32;
        let mut a = if shift > 0 { morph(truth, shift, false) } else { morph(truth, -shift, true) };
        // Missed thin parts: an opening removes structures thinner than 2k+1 px.
        if r.chance(n) {
            let k = 1 + (n > 0.6) as i32;
            a = morph(&morph(&a, k, true), k, false);
        }
        // Holes inside the foreground and spurious blobs outside it.
        let (w, h) = (a.w as f32, a.h as f32);
        let count = (n * 3.0).round() as usize;
        for _ in 0..count {
            let (x, y) = (r.range(0.0, w), r.range(0.0, h));
            let rad = r.range(1.0, 1.0 + 0.04 * w.min(h) * 2.0 * n);
            let inside = truth.get((x as usize).min(truth.w - 1), (y as usize).min(truth.h - 1)) > 0.5;
            if r.chance(0.5) {
                disc(&mut a, x, y, rad, if inside { 0.0 } else { 1.0 });
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Plane {
        let mut p = Plane::filled(32, 24, 0.0);
        for y in 6..18 {
            for x in 8..24 {
                p.data[y * 32 + x] = 1.0;
            }
        }
        // A one-pixel-wide "strand".
        for x in 24..30 {
            p.data[12 * 32 + x] = 1.0;
        }
        p
    }

    #[test]
    fn zero_noise_is_exact_and_noise_degrades_with_the_knob() {
        let t = square();
        let com = crate::frame::Rgb::filled(32, 24, [0.5; 3]);
        let mut r = Rand::keyed("ann", 0);
        assert_eq!(NoisyAnnotator { noise: 0.0 }.annotate(&com, &t, &mut r), t);
        let err = |noise: f32| {
            let mut total = 0.0;
            for s in 0..20 {
                let mut r = Rand::keyed("ann", s);
                let a = NoisyAnnotator { noise }.annotate(&com, &t, &mut r);
                total += crate::metrics::mad(&a, &t).unwrap();
            }
            total / 20.0
        };
        let (lo, hi) = (err(0.2), err(1.0));
        assert!(lo < hi && hi > 0.0, "MAD x1e3 at noise 0.2: {lo}, at 1.0: {hi}");
        // Same stream, same annotation.
        let a = NoisyAnnotator { noise: 0.7 }.annotate(&com, &t, &mut Rand::keyed("x", 3));
        assert_eq!(a, NoisyAnnotator { noise: 0.7 }.annotate(&com, &t, &mut Rand::keyed("x", 3)));
    }

    #[test]
    fn opening_drops_the_thin_strand_but_keeps_the_body() {
        let t = square();
        let o = morph(&morph(&t, 1, true), 1, false);
        assert_eq!(o.get(27, 12), 0.0, "1-px strand removed");
        assert_eq!(o.get(15, 12), 1.0, "body kept");
    }

    #[test]
    fn frame_policies() {
        assert_eq!(pick_frames(24, 4, FramePolicy::First), vec![0, 1, 2, 3]);
        assert_eq!(pick_frames(24, 4, FramePolicy::Spread), vec![0, 6, 12, 18]);
        assert_eq!(pick_frames(3, 10, FramePolicy::First), vec![0, 1], "one frame is always held out");
    }
}
