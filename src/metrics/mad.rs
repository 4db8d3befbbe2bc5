//! Mean absolute / squared error, for alphas and for the foreground.
//!
//! Scaling: every function here returns the mean multiplied by 1e3 (RVM's
//! convention), so a MAD of 5.0 means an average error of 0.005.

use super::{same_size, Plane, MetricError, Rgb};

/// Mean of `f(p - t)` over two equally long slices, times 1e3. The difference
/// is taken in `f32` (as numpy does on `float32` frames), the sum in `f64`.
/// An empty input gives 0.0 instead of numpy's NaN.
fn scaled_mean(p: &[f32], t: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    let sum: f64 = p.iter().zip(t).map(|(&a, &b)| f(a - b)).sum();
    sum / p.len() as f64 * 1e3
}

/// MAD = mean |p - t| x 1e3.
pub fn mad(p: &Plane, t: &Plane) -> Result<f64, MetricError> {
    same_size(p.dims(), t.dims())?;
    Ok(scaled_mean(&p.data, &t.data, |d| d.abs() as f64))
}

/// MSE = mean (p - t)^2 x 1e3.
pub fn mse(p: &Plane, t: &Plane) -> Result<f64, MetricError> {
    same_size(p.dims(), t.dims())?;
    Ok(scaled_mean(&p.data, &t.data, |d| (d * d) as f64))
}

/// Shared masked reduction: over pixels with true alpha > 0, mean over the
/// pixels and their 3 channels of `f(pf - tf)`, times 1e3.
fn fgr_reduce(pf: &Rgb, tf: &Rgb, talpha: &Plane, f: impl Fn(f32) -> f64) -> Result<f64, MetricError> {
    same_size(pf.dims(), tf.dims())?;
    same_size(tf.dims(), talpha.dims())?;
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for (i, &a) in talpha.data.iter().enumerate() {
        if a > 0.0 {
            for c in 0..3 {
                sum += f(pf.data[3 * i + c] - tf.data[3 * i + c]);
            }
            n += 3;
        }
    }
    // No foreground pixel: RVM would produce NaN (mean of an empty array);
    // 0.0 keeps clip averages finite and says "no foreground error possible".
    Ok(if n == 0 { 0.0 } else { sum / n as f64 * 1e3 })
}

/// Foreground MAD: mean |pf - tf| over pixels where the *true* alpha > 0 and
/// over the 3 channels, x 1e3 (the foreground is undefined where alpha = 0).
/// Returns 0.0 when the true alpha has no pixel > 0.
pub fn fgr_mad(pf: &Rgb, tf: &Rgb, talpha: &Plane) -> Result<f64, MetricError> {
    fgr_reduce(pf, tf, talpha, |d| d.abs() as f64)
}

/// Foreground MSE: mean (pf - tf)^2 over pixels where the true alpha > 0 and
/// over the 3 channels, x 1e3. Returns 0.0 when no true alpha is > 0.
pub fn fgr_mse(pf: &Rgb, tf: &Rgb, talpha: &Plane) -> Result<f64, MetricError> {
    fgr_reduce(pf, tf, talpha, |d| (d * d) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + b.abs())
    }

    #[test]
    fn mad_mse_hand_values() {
        // diffs (f32): 0.5, 0.25, 0, 0 -> MAD = 0.75/4*1e3 = 187.5; MSE = (0.25+0.0625)/4*1e3 = 78.125
        let p = Plane::try_new(2, 2, vec![1.0, 0.25, 0.5, 0.0]).unwrap();
        let t = Plane::try_new(2, 2, vec![0.5, 0.5, 0.5, 0.0]).unwrap();
        assert!(close(mad(&p, &t).unwrap(), 187.5));
        assert!(close(mse(&p, &t).unwrap(), 78.125));
        assert_eq!(mad(&t, &t).unwrap(), 0.0);
    }

    #[test]
    fn size_mismatch_is_an_error() {
        let p = Plane::try_new(2, 2, vec![0.0; 4]).unwrap();
        let t = Plane::try_new(4, 1, vec![0.0; 4]).unwrap();
        assert_eq!(mad(&p, &t), Err(MetricError::SizeMismatch { left: (2, 2), right: (4, 1) }));
        assert!(mse(&p, &t).is_err());
        let f = Rgb::try_new(2, 2, vec![0.0; 12]).unwrap();
        assert!(fgr_mad(&f, &f, &t).is_err());
    }

    #[test]
    fn fgr_metrics_use_only_true_foreground() {
        // 3x1: pixel 0 has alpha 0 (ignored despite a huge error), pixels 1, 2 count.
        let ta = Plane::try_new(3, 1, vec![0.0, 0.5, 1.0]).unwrap();
        let tf = Rgb::try_new(3, 1, vec![0.0; 9]).unwrap();
        let pf = Rgb::try_new(3, 1, vec![1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.25, 0.25, 0.0]).unwrap();
        // abs diffs counted: 0.5,0,0,0.25,0.25,0 -> sum 1.0 over 6 -> 166.666..
        assert!(close(fgr_mad(&pf, &tf, &ta).unwrap(), 1.0 / 6.0 * 1e3));
        // squares: 0.25 + 0.0625*2 = 0.375 over 6 -> 62.5
        assert!(close(fgr_mse(&pf, &tf, &ta).unwrap(), 62.5));
    }

    #[test]
    fn fgr_without_foreground_is_zero() {
        let ta = Plane::try_new(2, 1, vec![0.0, 0.0]).unwrap();
        let tf = Rgb::try_new(2, 1, vec![0.0; 6]).unwrap();
        let pf = Rgb::try_new(2, 1, vec![1.0; 6]).unwrap();
        assert_eq!(fgr_mad(&pf, &tf, &ta).unwrap(), 0.0);
        assert_eq!(fgr_mse(&pf, &tf, &ta).unwrap(), 0.0);
    }
}
