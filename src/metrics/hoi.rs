//! Human-object-interaction metrics: how a matte treats the object held in a
//! hand, free foreground objects nearby, and background objects (interferers)
//! that must stay out.
//!
//! Why: at 128x72 a held object covers about 1% of the frame, so frame mIoU
//! or MAD barely move whether the object is matted or dropped. These metrics
//! isolate it with the person-only render (the same scene without any
//! object): pixels that are foreground in truth but not in the person-only
//! alpha are explained by the object alone.
//!
//! Everything binarises with `alpha >= threshold`, like `super::miou::miou`.
//! Counts are pooled over a clip's frames before dividing (a frame where the
//! object shows two pixels weighs two pixels, not a whole frame); a ratio
//! whose denominator is 0 is `None`.

use super::{same_size, MetricError};
use crate::frame::label::{FREE_OBJECT, HELD_OBJECT, INTERFERER, PERSON};
use crate::frame::{LabelMap, Plane, ShapeError};

/// Region names, in the order of [`HoiCounts::region`]'s index.
pub const REGIONS: [&str; 6] = ["person", "person_edge", "held", "free", "interferer", "background"];

/// Dilation by a (2r+1)x(2r+1) square, clipped at the image borders:
/// a pass along the rows, then one along the columns.
fn dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let mut pre = vec![0usize; w.max(h) + 1];
    let mut rows = vec![false; w * h];
    dilate_lines(mask, &mut rows, h, w, w, 1, r, &mut pre);
    let mut out = vec![false; w * h];
    dilate_lines(&rows, &mut out, w, h, 1, w, r, &mut pre);
    out
}

/// One separable pass over `lines` lines of `len` pixels (pixel k of line l
/// at `l * line_step + k * step`): a pixel is set when any pixel within `r`
/// along its line is, by a sliding-window count over prefix sums, O(n).
#[allow(clippy::too_many_arguments)]
fn dilate_lines(src: &[bool], dst: &mut [bool], lines: usize, len: usize, line_step: usize, step: usize, r: usize, pre: &mut [usize]) {
    for l in 0..lines {
        let at = |k: usize| l * line_step + k * step;
        for k in 0..len {
            pre[k + 1] = pre[k] + src[at(k)] as usize;
        }
        for k in 0..len {
            dst[at(k)] = pre[(k + r + 1).min(len)] > pre[k.saturating_sub(r)];
        }
    }
}

/// Pixels of a `w`x`h` row-major mask that have a pixel of the other class
/// within Chebyshev distance `r` (only pixels inside the image count).
/// `r = 1` is the ±1 px band around the boundary; `r = 0` is empty.
/// Panics when `mask.len() != w * h` (masks are built by the caller).
pub fn band(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    assert_eq!(mask.len(), w * h, "band: mask length does not match {w}x{h}");
    if r == 0 {
        return vec![false; mask.len()];
    }
    let r = r.min(w.max(h)); // a larger window changes nothing; avoids overflow
    let near_fg = dilate(mask, w, h, r);
    let inverse: Vec<bool> = mask.iter().map(|m| !m).collect();
    let near_bg = dilate(&inverse, w, h, r);
    mask.iter().zip(near_fg.iter().zip(&near_bg)).map(|(&m, (&f, &b))| if m { b } else { f }).collect()
}

fn check_len(w: usize, h: usize, got: usize) -> Result<(), MetricError> {
    match w.checked_mul(h) {
        Some(n) if n == got => Ok(()),
        Some(expected) => Err(ShapeError::BadLength { w, h, channels: 1, expected, got }.into()),
        None => Err(ShapeError::Overflow { w, h, channels: 1 }.into()),
    }
}

fn fg(p: &Plane, threshold: f32) -> Vec<bool> {
    p.data.iter().map(|&a| a >= threshold).collect()
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// mIoU (mean of foreground and background IoU, an empty union counting 1)
/// over the pixels outside the ±1 px band of the truth's boundary: a
/// 1-px-off edge is annotation noise at this resolution, not a wrong object.
fn tolerant(q: &[bool], t: &[bool], w: usize, h: usize) -> f64 {
    let edge = band(t, w, h, 1);
    let (mut n, mut inter, mut union) = (0usize, 0usize, 0usize);
    for ((&a, &b), &e) in q.iter().zip(t).zip(&edge) {
        if !e {
            n += 1;
            inter += (a && b) as usize;
            union += (a || b) as usize;
        }
    }
    let iou = |i: usize, u: usize| if u == 0 { 1.0 } else { i as f64 / u as f64 };
    // Background: intersection = kept pixels in neither fg, union = kept - both fg.
    (iou(inter, union) + iou(n - union, n - inter)) / 2.0
}

/// One frame's boundary-tolerant mIoU (see the module notes).
pub fn miou_tolerant(pred: &Plane, truth: &Plane, threshold: f32) -> Result<f64, MetricError> {
    let (w, h) = pred.dims();
    same_size((w, h), truth.dims())?;
    check_len(w, h, pred.data.len())?;
    check_len(w, h, truth.data.len())?;
    Ok(tolerant(&fg(pred, threshold), &fg(truth, threshold), w, h))
}

/// Counts pooled over a clip's frames. With P = person-only fg, T = truth
/// fg, Q = predicted fg:
/// the object pixels O = T ∧ ¬P (what only an object explains) split into
/// F = O ∧ free label (or any O pixel when the frame shows only a free
/// object: a soft edge may carry another layer's label) and H = O ∧ ¬F;
/// I = interferer label ∧ ¬T; and
/// E = (Q ∧ ¬P ∧ ¬F ∧ ¬band₁(P)) ∨ (Q ∧ H): what the prediction adds beyond
/// the person (a ±1 px person edge forgiven) that is not a free object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HoiCounts {
    /// |H|, |Q∧H|, |E|.
    pub held: u64,
    pub held_hit: u64,
    pub extra: u64,
    /// |F|, |Q∧F|.
    pub free: u64,
    pub free_hit: u64,
    /// |I|, |Q∧I|.
    pub interferer: u64,
    pub interferer_hit: u64,
    /// Per region (in [`REGIONS`] order): pixels, sum of |pred - truth|,
    /// false-positive and false-negative pixels.
    pub pixels: [u64; 6],
    pub abs_err: [f64; 6],
    pub fp: [u64; 6],
    pub fn_px: [u64; 6],
    /// Sum of per-frame tolerant mIoU, and the number of frames added.
    pub miou_sum: f64,
    pub frames: u64,
}

impl HoiCounts {
    /// Adds one frame. Errors (`SizeMismatch`) when the four sizes differ,
    /// (`Shape`) when a buffer does not fit its size; nothing is counted then.
    pub fn add(&mut self, pred: &Plane, truth: &Plane, person: &Plane, label: &LabelMap, threshold: f32) -> Result<(), MetricError> {
        let (w, h) = pred.dims();
        same_size((w, h), truth.dims())?;
        same_size((w, h), person.dims())?;
        same_size((w, h), (label.w, label.h))?;
        for len in [pred.data.len(), truth.data.len(), person.data.len(), label.data.len()] {
            check_len(w, h, len)?;
        }
        let (qm, tm, pm) = (fg(pred, threshold), fg(truth, threshold), fg(person, threshold));
        // band₁(P) forgives a 1-px-wider person in E; band₂(P) is the person-edge region.
        let (edge1, edge2) = (band(&pm, w, h, 1), band(&pm, w, h, 2));
        // An object pixel (foreground in truth, not in the person-only alpha)
        // whose label is another layer's (a soft edge seen mostly through to
        // the background) belongs to the frame's object: free when the frame
        // shows only a free object, held otherwise.
        let only_free = label.data.contains(&FREE_OBJECT) && !label.data.contains(&HELD_OBJECT);
        for i in 0..w * h {
            let (q, t, p, l) = (qm[i], tm[i], pm[i], label.data[i]);
            let object = t && !p;
            let free = object && (l == FREE_OBJECT || (only_free && l != HELD_OBJECT));
            let held = object && !free;
            let interferer = l == INTERFERER && !t;
            let extra = (q && !p && !free && !edge1[i]) || (q && held);
            self.held += held as u64;
            self.held_hit += (q && held) as u64;
            self.extra += extra as u64;
            self.free += free as u64;
            self.free_hit += (q && free) as u64;
            self.interferer += interferer as u64;
            self.interferer_hit += (q && interferer) as u64;
            let k = match l {
                HELD_OBJECT => 2,
                FREE_OBJECT => 3,
                INTERFERER => 4,
                _ if edge2[i] => 1,
                PERSON => 0,
                _ => 5,
            };
            self.pixels[k] += 1;
            self.abs_err[k] += (pred.data[i] - truth.data[i]).abs() as f64;
            self.fp[k] += (q && !t) as u64;
            self.fn_px[k] += (!q && t) as u64;
        }
        self.miou_sum += tolerant(&qm, &tm, w, h);
        self.frames += 1;
        Ok(())
    }

    /// |Q∧H| / |H|: how much of the held object is kept.
    pub fn held_recall(&self) -> Option<f64> {
        ratio(self.held_hit, self.held)
    }
    /// |Q∧H| / |E|: how much of what is added beyond the person is the object.
    /// None where no held-object pixel shows (a free-object clip, or an
    /// object wholly over the torso): there is no object to be precise about.
    pub fn held_precision(&self) -> Option<f64> {
        if self.held == 0 {
            return None;
        }
        ratio(self.held_hit, self.extra)
    }
    /// |Q∧H| / (|E| + |H| - |Q∧H|); None where no held-object pixel shows.
    pub fn held_iou(&self) -> Option<f64> {
        if self.held == 0 {
            return None;
        }
        ratio(self.held_hit, self.extra + self.held - self.held_hit)
    }
    /// |Q∧I| / |I|: how much of the background objects leaks into the matte.
    pub fn interferer_fp(&self) -> Option<f64> {
        ratio(self.interferer_hit, self.interferer)
    }
    /// |Q∧F| / |F|.
    pub fn free_recall(&self) -> Option<f64> {
        ratio(self.free_hit, self.free)
    }
    /// Mean over frames of the boundary-tolerant mIoU.
    pub fn miou_tolerant(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.miou_sum / self.frames as f64)
    }
    /// (MAD x1e3, FP share, FN share) of region `k` (in [`REGIONS`] order);
    /// `None` when the region has no pixel or `k` is out of range.
    pub fn region(&self, k: usize) -> Option<(f64, f64, f64)> {
        let n = *self.pixels.get(k)?;
        if n == 0 {
            return None;
        }
        let n = n as f64;
        Some((self.abs_err[k] / n * 1e3, self.fp[k] as f64 / n, self.fn_px[k] as f64 / n))
    }
    /// Pixel count of region `k` (0 when out of range).
    pub fn region_pixels(&self, k: usize) -> u64 {
        self.pixels.get(k).copied().unwrap_or(0)
    }

    /// Pools another set of counts into these (clips into a tree).
    pub fn merge(&mut self, o: &HoiCounts) {
        self.held += o.held;
        self.held_hit += o.held_hit;
        self.extra += o.extra;
        self.free += o.free;
        self.free_hit += o.free_hit;
        self.interferer += o.interferer;
        self.interferer_hit += o.interferer_hit;
        for k in 0..REGIONS.len() {
            self.pixels[k] += o.pixels[k];
            self.abs_err[k] += o.abs_err[k];
            self.fp[k] += o.fp[k];
            self.fn_px[k] += o.fn_px[k];
        }
        self.miou_sum += o.miou_sum;
        self.frames += o.frames;
    }

    /// The ratios, for reports and JSON.
    pub fn summary(&self) -> HoiSummary {
        HoiSummary {
            miou_tolerant: self.miou_tolerant(),
            held_iou: self.held_iou(),
            held_recall: self.held_recall(),
            held_precision: self.held_precision(),
            free_recall: self.free_recall(),
            interferer_fp: self.interferer_fp(),
            regions: (0..REGIONS.len()).filter_map(|k| self.region(k).map(|(m, fp, fneg)| (REGIONS[k].to_string(), RegionError { mad: m, fp, fn_share: fneg }))).collect(),
        }
    }
}

/// MAD x1e3 and false-positive / false-negative shares of a region's pixels.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RegionError {
    pub mad: f64,
    pub fp: f64,
    #[serde(rename = "fn")]
    pub fn_share: f64,
}

/// [`HoiCounts`] as ratios (None where a denominator is empty).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HoiSummary {
    pub miou_tolerant: Option<f64>,
    pub held_iou: Option<f64>,
    pub held_recall: Option<f64>,
    pub held_precision: Option<f64>,
    pub free_recall: Option<f64>,
    pub interferer_fp: Option<f64>,
    /// Region name -> errors, in `REGIONS` order (regions without pixels left out).
    pub regions: Vec<(String, RegionError)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::label::BACKGROUND;

    fn bits(s: &str) -> Vec<bool> {
        s.chars().filter(|c| !c.is_whitespace()).map(|c| c == '1').collect()
    }
    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn band_hand_values() {
        let m = bits("0001110");
        assert_eq!(band(&m, 7, 1, 0), vec![false; 7]);
        // r=1: idx2 (fg at 3), 3 (bg at 2), 5 (bg at 6), 6 (fg at 5); idx4 sees only fg.
        assert_eq!(band(&m, 7, 1, 1), bits("0011011"));
        // r=2: idx0 sees 0..=2 (all bg); everything else reaches the other class.
        assert_eq!(band(&m, 7, 1, 2), bits("0111111"));
        // 4x4, one fg pixel at (1,1): r=1 is its 3x3 window (diagonals included).
        let m = bits("0000 0100 0000 0000");
        assert_eq!(band(&m, 4, 4, 1), bits("1110 1110 1110 0000"));
        assert_eq!(band(&m, 4, 4, 2), vec![true; 16]); // (3,3) is at distance 2
        assert_eq!(band(&[true; 6], 3, 2, 1), vec![false; 6]); // one class only
    }

    // 8x4 scene. Person block = columns 0..=2. Held object at (2,1) (over the
    // person), (3,1), (4,1); free object (7,0),(7,1); interferer (5,3),(6,3).
    const W: usize = 8;
    const LABELS: &str = "PPP....F PPHHH..F PPP..... PPP..II.";
    const TRUTH: &str = "11100001 11111001 11100000 11100000";
    const PERSON_ONLY: &str = "11100000 11100000 11100000 11100000";

    fn plane(s: &str) -> Plane {
        let d: Vec<f32> = bits(s).into_iter().map(|b| if b { 1.0 } else { 0.0 }).collect();
        Plane::new(W, d.len() / W, d)
    }
    fn labels() -> LabelMap {
        let data: Vec<u8> = LABELS
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                'P' => PERSON,
                'H' => HELD_OBJECT,
                'F' => FREE_OBJECT,
                'I' => INTERFERER,
                _ => BACKGROUND,
            })
            .collect();
        LabelMap { w: W, h: data.len() / W, data }
    }
    fn counts(pred: &Plane) -> HoiCounts {
        let mut c = HoiCounts::default();
        c.add(pred, &plane(TRUTH), &plane(PERSON_ONLY), &labels(), 0.5).unwrap();
        c
    }

    #[test]
    fn oracle_truth() {
        let c = counts(&plane(TRUTH));
        // H = {(3,1),(4,1)}: (2,1) is person in the person-only render.
        assert_eq!((c.held, c.held_hit, c.extra, c.free, c.interferer), (2, 2, 2, 2, 2));
        assert_eq!(c.held_recall(), Some(1.0));
        assert_eq!(c.held_precision(), Some(1.0));
        assert_eq!(c.held_iou(), Some(1.0));
        assert_eq!(c.interferer_fp(), Some(0.0));
        assert_eq!(c.free_recall(), Some(1.0));
        assert_eq!(c.miou_tolerant(), Some(1.0));
        // band₂(P) = columns 1..=4 (16 px) less the 3 held = 13 person_edge;
        // person = column 0; background = columns 5..=7 (12) less 2 free, 2 interferer.
        let px: Vec<u64> = (0..6).map(|k| c.region_pixels(k)).collect();
        assert_eq!(px, vec![4, 13, 3, 2, 2, 8]);
        for k in 0..6 {
            assert_eq!(c.region(k), Some((0.0, 0.0, 0.0)), "region {}", REGIONS[k]);
        }
        assert_eq!(c.region(6), None);
        assert_eq!(c.region_pixels(6), 0);
    }

    #[test]
    fn oracle_person_only_and_interferer() {
        let c = counts(&plane(PERSON_ONLY));
        assert_eq!(c.held_recall(), Some(0.0));
        assert_eq!(c.held_iou(), Some(0.0)); // 0 / (0 + 2 - 0)
        assert_eq!(c.held_precision(), None); // E is empty
        // No held-object pixel at all: nothing to be precise about, whatever E is.
        let none = HoiCounts { extra: 3, ..Default::default() };
        assert_eq!((none.held_iou(), none.held_precision(), none.held_recall()), (None, None, None));
        assert_eq!(c.free_recall(), Some(0.0));
        assert_eq!(c.interferer_fp(), Some(0.0));
        // Free region: both pixels missed by a full alpha step: MAD 1000, FN 1.
        assert_eq!(c.region(3), Some((1000.0, 0.0, 1.0)));

        let mut pred = plane(TRUTH);
        pred.data[3 * W + 5] = 1.0;
        pred.data[3 * W + 6] = 1.0;
        let c = counts(&pred);
        assert_eq!(c.interferer_fp(), Some(1.0));
        assert_eq!(c.region(4), Some((1000.0, 1.0, 0.0)));
        // The interferer pixels are outside band₁(P) (columns 2, 3), so they
        // join E: precision 2 / 4.
        assert_eq!(c.held_recall(), Some(1.0));
        assert_eq!(c.held_precision(), Some(0.5));
    }

    #[test]
    fn hand_values_and_pooling() {
        let mut pred = plane(TRUTH);
        pred.data[W + 4] = 0.3; // held (4,1) missed
        pred.data[W + 5] = 0.8; // background (5,1) added next to the object
        pred.data[3] = 0.9; // (3,0): 1 px beside the person, inside band₁(P)
        pred.data[W + 2] = 0.6; // held-over-person (2,1): still fg, error 0.4
        let mut c = counts(&pred);
        // Q∧H = {(3,1)} = 1 of |H| = 2. E: Q∧¬P∧¬F = {(3,0),(3,1),(5,1)}, less
        // band₁(P) (columns 2, 3) -> {(5,1)}; plus Q∧H {(3,1)} -> |E| = 2.
        assert!(close(c.held_recall(), 0.5));
        assert!(close(c.held_precision(), 0.5));
        assert!(close(c.held_iou(), 1.0 / 3.0)); // 1 / (2 + 2 - 1)
        assert_eq!(c.free_recall(), Some(1.0));
        assert_eq!(c.interferer_fp(), Some(0.0));
        // Every error lies in band₁(T): (4,1)/(5,1) touch each other, (3,0) touches (2,0).
        assert_eq!(c.miou_tolerant(), Some(1.0));
        // Held region (2,1),(3,1),(4,1): |0.6-1| + 0 + |0.3-1| = 1.1; 1.1/3 x1e3 = 366.67; FN 1/3.
        let (mad, fp, fnr) = c.region(2).unwrap();
        assert!((mad - 1100.0 / 3.0).abs() < 1e-3 && fp == 0.0 && (fnr - 1.0 / 3.0).abs() < 1e-12);
        // Background (8 px): 0.8 at (5,1) -> MAD 0.8/8 x1e3 = 100, FP 1/8.
        let (mad, fp, fnr) = c.region(5).unwrap();
        assert!((mad - 100.0).abs() < 1e-3 && fp == 0.125 && fnr == 0.0);
        // Person edge (13 px): 0.9 at (3,0) -> MAD 900/13, FP 1/13.
        let (mad, fp, _) = c.region(1).unwrap();
        assert!((mad - 900.0 / 13.0).abs() < 1e-3 && (fp - 1.0 / 13.0).abs() < 1e-12);

        // Pooled with the perfect frame: counts add before dividing.
        c.add(&plane(TRUTH), &plane(TRUTH), &plane(PERSON_ONLY), &labels(), 0.5).unwrap();
        assert!(close(c.held_recall(), 0.75)); // (1 + 2) / (2 + 2)
        assert!(close(c.held_precision(), 0.75)); // (1 + 2) / (2 + 2)
        assert!(close(c.held_iou(), 0.6)); // 3 / (4 + 4 - 3)
        assert_eq!(c.region_pixels(2), 6);
        assert!((c.region(2).unwrap().0 - 1100.0 / 6.0).abs() < 1e-3);
        assert_eq!(c.frames, 2);
    }

    #[test]
    fn miou_tolerant_hand_values() {
        // Truth 110000: band₁ = {1, 2}; kept {0, 3, 4, 5}.
        // Pred 101001 on kept: idx0 q1 t1, idx3/4 q0 t0, idx5 q1 t0.
        // fg: 1 / 2; bg: 2 / 3 -> (1/2 + 2/3) / 2 = 7/12.
        let t = Plane::new(6, 1, vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        let p = Plane::new(6, 1, vec![0.9, 0.2, 0.7, 0.1, 0.0, 0.6]);
        assert!((miou_tolerant(&p, &t, 0.5).unwrap() - 7.0 / 12.0).abs() < 1e-12);

        // 6x6: truth square (2..=3)^2, pred dilated by 1 px: (1..=4)^2.
        // band₁(T) = (1..=4)^2, which holds every difference; the 20 kept
        // pixels are bg in both -> fg union empty (1), bg 20/20 (1).
        let sq = |lo: usize, hi: usize| {
            let d = (0..36).map(|i| if (lo..=hi).contains(&(i % 6)) && (lo..=hi).contains(&(i / 6)) { 1.0 } else { 0.0 });
            Plane::new(6, 6, d.collect())
        };
        let (t, p) = (sq(2, 3), sq(1, 4));
        assert_eq!(miou_tolerant(&p, &t, 0.5).unwrap(), 1.0);
        // Ordinary mIoU: fg 4/16, bg 20/32 -> (0.25 + 0.625) / 2 = 0.4375.
        assert!((crate::metrics::miou::miou(&p, &t, 0.5).unwrap() - 0.4375).abs() < 1e-12);

        // Every pixel in the band: both unions empty -> 1.
        let t = Plane::new(2, 1, vec![1.0, 0.0]);
        let p = Plane::new(2, 1, vec![0.0, 1.0]);
        assert_eq!(miou_tolerant(&p, &t, 0.5).unwrap(), 1.0);
    }

    #[test]
    fn size_mismatch_and_empty() {
        let a = Plane::filled(2, 2, 0.0);
        let b = Plane::filled(4, 1, 0.0);
        let lab = LabelMap { w: 2, h: 2, data: vec![0; 4] };
        let mut c = HoiCounts::default();
        assert!(matches!(c.add(&a, &b, &a, &lab, 0.5), Err(MetricError::SizeMismatch { .. })));
        assert!(matches!(c.add(&a, &a, &b, &lab, 0.5), Err(MetricError::SizeMismatch { .. })));
        let wide = LabelMap { w: 4, h: 1, data: vec![0; 4] };
        assert!(matches!(c.add(&a, &a, &a, &wide, 0.5), Err(MetricError::SizeMismatch { .. })));
        let short = LabelMap { w: 2, h: 2, data: vec![0; 3] };
        assert!(matches!(c.add(&a, &a, &a, &short, 0.5), Err(MetricError::Shape(_))));
        assert!(miou_tolerant(&a, &b, 0.5).is_err());
        assert_eq!(c, HoiCounts::default());
        assert_eq!((c.held_recall(), c.held_iou(), c.miou_tolerant(), c.region(0)), (None, None, None, None));
    }
}
