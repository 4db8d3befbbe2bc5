//! Temporal coherence error dtSSD (RVM's `MetricDTSSD`).
//!
//! For frame t >= 1: `sqrt( sum ((p_t - p_{t-1}) - (t_t - t_{t-1}))^2 / N ) * 1e2`
//! where N is the pixel count. Scaling: multiplied by 1e2. Frame 0 has no
//! predecessor and scores 0 (RVM records 0 there and keeps it in the means).

use super::{same_size, Plane, MetricError};

/// dtSSD between consecutive frames, x 1e2. All four mattes must share a size.
/// Differences are f32 (numpy float32), the sum is f64. Empty frames give 0.
pub fn dtssd(p_prev: &Plane, p: &Plane, t_prev: &Plane, t: &Plane) -> Result<f64, MetricError> {
    same_size(p.dims(), t.dims())?;
    same_size(p_prev.dims(), p.dims())?;
    same_size(t_prev.dims(), t.dims())?;
    let n = p.data.len();
    if n == 0 {
        return Ok(0.0);
    }
    let mut sum = 0.0f64;
    for j in 0..n {
        let d = (p.data[j] - p_prev.data[j]) - (t.data[j] - t_prev.data[j]);
        sum += (d * d) as f64;
    }
    Ok((sum / n as f64).sqrt() * 1e2)
}

/// Per-frame dtSSD of a whole clip: element 0 is 0.0, element i compares
/// frames i-1 and i. Fails if the clip lengths differ or any size differs.
pub fn dtssd_clip(preds: &[Plane], truths: &[Plane]) -> Result<Vec<f64>, MetricError> {
    if preds.len() != truths.len() {
        // Reuse the size error: a length mismatch is a shape mismatch in time.
        return Err(MetricError::SizeMismatch { left: (preds.len(), 0), right: (truths.len(), 0) });
    }
    let mut out = Vec::with_capacity(preds.len());
    for i in 0..preds.len() {
        if i == 0 {
            same_size(preds[0].dims(), truths[0].dims())?;
            out.push(0.0);
        } else {
            out.push(dtssd(&preds[i - 1], &preds[i], &truths[i - 1], &truths[i])?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[f32]) -> Plane {
        Plane::try_new(2, 2, v.to_vec()).unwrap()
    }

    #[test]
    fn dtssd_hand_value() {
        // Pred changes by [0.5, 0, 0, 0.25], truth by [0, 0, 0, 0.25]:
        // residuals [0.5, 0, 0, 0] -> sqrt(0.25 / 4) * 100 = 25.
        let pp = a(&[0.0, 0.5, 1.0, 0.5]);
        let p = a(&[0.5, 0.5, 1.0, 0.75]);
        let tp = a(&[0.0, 0.0, 1.0, 0.0]);
        let t = a(&[0.0, 0.0, 1.0, 0.25]);
        assert!((dtssd(&pp, &p, &tp, &t).unwrap() - 25.0).abs() < 1e-9);
        // A prediction that moves exactly like the truth is perfectly coherent.
        assert_eq!(dtssd(&tp, &t, &tp, &t).unwrap(), 0.0);
    }

    #[test]
    fn clip_frame_zero_scores_zero() {
        let preds = vec![a(&[0.0; 4]), a(&[1.0, 0.0, 0.0, 0.0])];
        let truths = vec![a(&[0.3; 4]), a(&[0.3; 4])];
        let v = dtssd_clip(&preds, &truths).unwrap();
        assert_eq!(v[0], 0.0);
        // residual 1 in one pixel of 4 -> sqrt(1/4) * 100 = 50.
        assert!((v[1] - 50.0).abs() < 1e-9);
        assert!(dtssd_clip(&preds, &truths[..1]).is_err());
    }

    #[test]
    fn size_mismatch_is_error() {
        let small = Plane::try_new(1, 1, vec![0.0]).unwrap();
        let big = a(&[0.0; 4]);
        assert!(dtssd(&small, &big, &big, &big).is_err());
    }
}
