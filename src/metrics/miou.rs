//! Binary segmentation quality of a matte: mIoU and object-pixel recall.
//!
//! Both binarise with `alpha >= threshold` (f32 compare). Results are plain
//! fractions in [0, 1] (no scaling).

use super::{same_size, Plane, MetricError};

/// Threshold used when none is given: a pixel is foreground from alpha 0.5 up.
pub const DEFAULT_MIOU_THRESHOLD: f32 = 0.5;

/// Mean of the foreground IoU and the background IoU of one frame.
/// A class absent from both prediction and truth (empty union) counts as
/// IoU 1: predicting "nothing" where there is nothing is perfect.
pub fn miou(p: &Plane, t: &Plane, threshold: f32) -> Result<f64, MetricError> {
    same_size(p.dims(), t.dims())?;
    // Counts for the foreground class; background counts follow from n.
    let (mut inter_fg, mut union_fg) = (0usize, 0usize);
    for (&a, &b) in p.data.iter().zip(&t.data) {
        let (pf, tf) = (a >= threshold, b >= threshold);
        inter_fg += (pf && tf) as usize;
        union_fg += (pf || tf) as usize;
    }
    let n = p.data.len();
    // Background intersection = pixels in neither fg; background union = n - both fg.
    let (inter_bg, union_bg) = (n - union_fg, n - inter_fg);
    let iou = |i: usize, u: usize| if u == 0 { 1.0 } else { i as f64 / u as f64 };
    Ok((iou(inter_fg, union_fg) + iou(inter_bg, union_bg)) / 2.0)
}

/// Fraction of the pixels selected by `mask` (row-major, one bool per pixel)
/// where `p >= threshold`; used for object-pixel recall from a label map.
/// `Ok(None)` when the mask selects no pixel (recall is undefined there);
/// an error when the mask length differs from the matte's pixel count.
pub fn object_recall(p: &Plane, mask: &[bool], threshold: f32) -> Result<Option<f64>, MetricError> {
    if mask.len() != p.data.len() {
        return Err(MetricError::Shape(crate::frame::ShapeError::BadLength {
            w: p.w,
            h: p.h,
            channels: 1,
            expected: p.data.len(),
            got: mask.len(),
        }));
    }
    let (mut hit, mut total) = (0usize, 0usize);
    for (&a, &m) in p.data.iter().zip(mask) {
        if m {
            total += 1;
            hit += (a >= threshold) as usize;
        }
    }
    Ok(if total == 0 { None } else { Some(hit as f64 / total as f64) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(w: usize, v: &[f32]) -> Plane {
        Plane::try_new(w, v.len() / w, v.to_vec()).unwrap()
    }

    #[test]
    fn miou_hand_value() {
        // p fg = {0,1}, t fg = {1,2} over 4 pixels.
        // fg: inter 1, union 3 -> 1/3; bg: p bg {2,3}, t bg {0,3}: inter 1, union 3 -> 1/3.
        let p = a(2, &[0.9, 0.5, 0.49, 0.0]);
        let t = a(2, &[0.1, 1.0, 0.6, 0.0]);
        assert!((miou(&p, &t, 0.5).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(miou(&t, &t, 0.5).unwrap(), 1.0);
    }

    #[test]
    fn miou_absent_class_counts_as_one() {
        // No foreground anywhere: fg IoU = 1 (absent class), bg IoU = 4/4.
        let p = a(2, &[0.1, 0.2, 0.3, 0.4]);
        let t = a(2, &[0.0; 4]);
        assert_eq!(miou(&p, &t, 0.5).unwrap(), 1.0);
        // Foreground everywhere in truth, 3/4 in prediction:
        // fg IoU 3/4, bg: p has one bg pixel, t none -> inter 0, union 1 -> 0.
        let p = a(2, &[1.0, 1.0, 1.0, 0.0]);
        let t = a(2, &[1.0; 4]);
        assert!((miou(&p, &t, 0.5).unwrap() - 0.375).abs() < 1e-12);
        // Threshold is configurable.
        assert_eq!(miou(&p, &t, 0.0).unwrap(), 1.0);
    }

    #[test]
    fn miou_size_mismatch() {
        assert!(miou(&a(1, &[0.0, 0.0]), &a(2, &[0.0, 0.0]), 0.5).is_err());
    }

    #[test]
    fn recall_over_mask() {
        let p = a(3, &[0.9, 0.2, 0.5, 0.0, 1.0, 0.7]);
        let mask = [true, true, true, false, false, true];
        // masked values 0.9, 0.2, 0.5, 0.7 -> 3 of 4 at >= 0.5.
        assert_eq!(object_recall(&p, &mask, 0.5).unwrap(), Some(0.75));
        assert_eq!(object_recall(&p, &[false; 6], 0.5).unwrap(), None);
        assert!(object_recall(&p, &[true; 5], 0.5).is_err());
    }
}
