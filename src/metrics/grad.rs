//! Gradient error (Grad) as defined by RVM's `evaluate_lr.py` (`MetricGRAD`).
//!
//! Both mattes are min-max normalised to [0, 1], filtered with a
//! first-derivative-of-Gaussian pair (OpenCV `filter2D` semantics: correlation,
//! `BORDER_REPLICATE`), and the squared difference of the gradient magnitudes
//! is summed. Scaling: the sum is divided by 1000.
//!
//! The 2-D filter is `filter_x[i][j] = g(i - r) * dg(j - r)`, an outer product,
//! so we run two 1-D passes (O(9) instead of O(81) per pixel), rows in parallel.

use rayon::prelude::*;

use super::{same_size, Plane, MetricError};

/// Gaussian width used by RVM.
pub const GRAD_SIGMA: f64 = 1.4;
/// Tail cut-off used by RVM to size the filter; gives a 9x9 filter at sigma 1.4.
const GRAD_EPSILON: f64 = 1e-2;

fn gaussian(x: f64, sigma: f64) -> f64 {
    (-x * x / (2.0 * sigma * sigma)).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
}

fn dgaussian(x: f64, sigma: f64) -> f64 {
    -x * gaussian(x, sigma) / (sigma * sigma)
}

/// Filter half size, RVM's formula: `ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma eps)))`.
pub fn half_size(sigma: f64) -> usize {
    let v = sigma * (-2.0 * ((2.0 * std::f64::consts::PI).sqrt() * sigma * GRAD_EPSILON).ln()).sqrt();
    v.ceil().max(0.0) as usize
}

/// The 1-D factors `(g, dg)` of `filter_x = g ⊗ dg` (g along rows, dg along
/// columns). Unit L2 norm of the 2-D filter equals `|g| * |dg| = 1`, so each
/// factor is normalised on its own. Computed in f64, stored in f32 because
/// OpenCV converts the kernel to the image depth (float32) as well.
pub fn gauss_factors(sigma: f64) -> (Vec<f32>, Vec<f32>) {
    let r = half_size(sigma) as isize;
    let g: Vec<f64> = (-r..=r).map(|k| gaussian(k as f64, sigma)).collect();
    let dg: Vec<f64> = (-r..=r).map(|k| dgaussian(k as f64, sigma)).collect();
    let ng = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let ndg = dg.iter().map(|v| v * v).sum::<f64>().sqrt();
    (g.iter().map(|v| (v / ng) as f32).collect(), dg.iter().map(|v| (v / ndg) as f32).collect())
}

/// Min-max normalisation like `cv2.normalize(a, None, 1, 0, NORM_MINMAX)`:
/// a constant image has no range and becomes all zeros.
pub fn minmax_normalise(a: &Plane) -> Plane {
    let (mn, mx) = a
        .data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let data = if mx > mn {
        let scale = 1.0 / (mx as f64 - mn as f64);
        a.data.iter().map(|&v| ((v as f64 - mn as f64) * scale) as f32).collect()
    } else {
        vec![0.0; a.data.len()]
    };
    Plane { w: a.w, h: a.h, data }
}

/// Gradient magnitude `sqrt(gx^2 + gy^2)` where `gx = a ⋆ filter_x` and
/// `gy = a ⋆ filter_y` (filter_y = transpose of filter_x), replicate border.
/// Input is used as is (no normalisation).
pub fn gradient_magnitude(a: &Plane, sigma: f64) -> Vec<f32> {
    let (w, h) = a.dims();
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let (g, dg) = gauss_factors(sigma);
    let r = g.len() / 2;
    let taps = g.len();

    // Horizontal pass. filter_x varies along columns as dg; its transpose
    // filter_y varies along columns as g. A padded copy of the row implements
    // BORDER_REPLICATE without per-tap clamping.
    let mut hx = vec![0f32; w * h];
    let mut hy = vec![0f32; w * h];
    hx.par_chunks_mut(w)
        .zip(hy.par_chunks_mut(w))
        .enumerate()
        .with_min_len(8)
        .for_each_init(
            || Vec::with_capacity(w + 2 * r),
            |pad: &mut Vec<f32>, (y, (ox, oy))| {
                let row = &a.data[y * w..(y + 1) * w];
                pad.clear();
                pad.extend(std::iter::repeat_n(row[0], r));
                pad.extend_from_slice(row);
                pad.extend(std::iter::repeat_n(row[w - 1], r));
                correlate(|k| &pad[k..], &dg, &g, ox, oy);
            },
        );

    // Vertical pass: filter_x varies along rows as g, filter_y as dg.
    let mut mag = vec![0f32; w * h];
    mag.par_chunks_mut(w).enumerate().with_min_len(8).for_each(|(y, out)| {
        let rows: Vec<usize> = (0..taps).map(|k| (y + k).saturating_sub(r).min(h - 1) * w).collect();
        magnitude_rows(&hx, &hy, &rows, &g, &dg, out);
    });
    mag
}

/// Pixels per block: the per-pixel sums run over the taps in ascending
/// order, exactly as a plain loop would, but eight pixels at a time so the
/// compiler keeps the sums in vector registers.
const LANES: usize = 8;

/// `oa[x] = sum_k a[k] * src(k)[x]` and `ob[x] = sum_k b[k] * src(k)[x]`,
/// where `src(k)` is the k-th tap's view of the input row.
fn correlate<'s>(src: impl Fn(usize) -> &'s [f32], a: &[f32], b: &[f32], oa: &mut [f32], ob: &mut [f32]) {
    let (w, taps) = (oa.len(), a.len());
    let mut x = 0;
    while x + LANES <= w {
        let (mut sa, mut sb) = ([0f32; LANES], [0f32; LANES]);
        for k in 0..taps {
            let v = &src(k)[x..x + LANES];
            for l in 0..LANES {
                sa[l] += a[k] * v[l];
                sb[l] += b[k] * v[l];
            }
        }
        oa[x..x + LANES].copy_from_slice(&sa);
        ob[x..x + LANES].copy_from_slice(&sb);
        x += LANES;
    }
    for x in x..w {
        let (mut sa, mut sb) = (0f32, 0f32);
        for k in 0..taps {
            let v = src(k)[x];
            sa += a[k] * v;
            sb += b[k] * v;
        }
        (oa[x], ob[x]) = (sa, sb);
    }
}

/// The vertical pass for one output row: `gx` from `hx` with `g` and `gy`
/// from `hy` with `dg`, tap k reading the row that starts at `rows[k]`;
/// writes `sqrt(gx^2 + gy^2)` into `out` (same block order as `correlate`).
fn magnitude_rows(hx: &[f32], hy: &[f32], rows: &[usize], g: &[f32], dg: &[f32], out: &mut [f32]) {
    let (w, taps) = (out.len(), g.len());
    let mut x = 0;
    while x + LANES <= w {
        let (mut sx, mut sy) = ([0f32; LANES], [0f32; LANES]);
        for k in 0..taps {
            let (vx, vy) = (&hx[rows[k] + x..rows[k] + x + LANES], &hy[rows[k] + x..rows[k] + x + LANES]);
            for l in 0..LANES {
                sx[l] += g[k] * vx[l];
                sy[l] += dg[k] * vy[l];
            }
        }
        for l in 0..LANES {
            out[x + l] = (sx[l] * sx[l] + sy[l] * sy[l]).sqrt();
        }
        x += LANES;
    }
    for x in x..w {
        let (mut sx, mut sy) = (0f32, 0f32);
        for k in 0..taps {
            sx += g[k] * hx[rows[k] + x];
            sy += dg[k] * hy[rows[k] + x];
        }
        out[x] = (sx * sx + sy * sy).sqrt();
    }
}

/// Grad with RVM's sigma (1.4): `sum (|∇t| - |∇p|)^2 / 1000` over all pixels,
/// after min-max normalising both mattes.
pub fn grad(p: &Plane, t: &Plane) -> Result<f64, MetricError> {
    grad_with_sigma(p, t, GRAD_SIGMA)
}

/// Grad for an arbitrary Gaussian width (filter size follows RVM's formula).
/// Result is divided by 1000.
pub fn grad_with_sigma(p: &Plane, t: &Plane, sigma: f64) -> Result<f64, MetricError> {
    same_size(p.dims(), t.dims())?;
    let mp = gradient_magnitude(&minmax_normalise(p), sigma);
    let mt = gradient_magnitude(&minmax_normalise(t), sigma);
    let sum: f64 = mt
        .iter()
        .zip(&mp)
        .map(|(&a, &b)| {
            let d = a - b;
            (d * d) as f64
        })
        .sum();
    Ok(sum / 1000.0)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // the naive reference mirrors the formula's indices
mod tests {
    use super::*;

    /// Independent reference: builds the full 2-D filter from the definition
    /// and correlates directly in f64 with clamped (replicated) coordinates.
    fn naive_grad(p: &Plane, t: &Plane) -> f64 {
        let sigma = 1.4f64;
        let r = 4isize;
        let gs = |x: f64| (-x * x / (2.0 * sigma * sigma)).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        let mut fx = [[0f64; 9]; 9];
        for i in 0..9 {
            for j in 0..9 {
                let (xi, xj) = ((i as isize - r) as f64, (j as isize - r) as f64);
                fx[i][j] = gs(xi) * (-xj * gs(xj) / (sigma * sigma));
            }
        }
        let norm = fx.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
        let mut fy = [[0f64; 9]; 9];
        for i in 0..9 {
            for j in 0..9 {
                fx[i][j] /= norm;
            }
        }
        for i in 0..9 {
            for j in 0..9 {
                fy[i][j] = fx[j][i];
            }
        }
        let normalise = |a: &Plane| -> Vec<f64> {
            let mn = a.data.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
            let mx = a.data.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            a.data.iter().map(|&v| if mx > mn { (v as f64 - mn) / (mx - mn) } else { 0.0 }).collect()
        };
        let magnitude = |img: &[f64], w: usize, h: usize| -> Vec<f64> {
            let mut out = vec![0.0; w * h];
            for y in 0..h {
                for x in 0..w {
                    let (mut gx, mut gy) = (0.0, 0.0);
                    for i in 0..9 {
                        for j in 0..9 {
                            let yy = (y as isize + i as isize - r).clamp(0, h as isize - 1) as usize;
                            let xx = (x as isize + j as isize - r).clamp(0, w as isize - 1) as usize;
                            gx += fx[i][j] * img[yy * w + xx];
                            gy += fy[i][j] * img[yy * w + xx];
                        }
                    }
                    out[y * w + x] = (gx * gx + gy * gy).sqrt();
                }
            }
            out
        };
        let mp = magnitude(&normalise(p), p.w, p.h);
        let mt = magnitude(&normalise(t), t.w, t.h);
        mt.iter().zip(&mp).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / 1000.0
    }

    fn rel_close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-12)
    }

    #[test]
    fn filter_is_9x9_with_unit_norm() {
        assert_eq!(half_size(GRAD_SIGMA), 4);
        let (g, dg) = gauss_factors(GRAD_SIGMA);
        assert_eq!((g.len(), dg.len()), (9, 9));
        let n2: f64 = g.iter().flat_map(|a| dg.iter().map(move |b| ((a * b) as f64).powi(2))).sum();
        assert!((n2 - 1.0).abs() < 1e-6);
        // dg is odd: negative for positive offsets, so a rising edge gives gx < 0.
        assert!(dg[5] < 0.0 && (dg[3] + dg[5]).abs() < 1e-7 && dg[4] == 0.0);
    }

    #[test]
    fn two_constants_give_zero() {
        let p = Plane::try_new(4, 4, vec![0.3; 16]).unwrap();
        let t = Plane::try_new(4, 4, vec![0.9; 16]).unwrap();
        assert_eq!(grad(&p, &t).unwrap(), 0.0);
        // Normalisation makes the constants all-zero.
        assert!(minmax_normalise(&t).data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn step_edge_vs_constant_matches_direct_correlation() {
        // 8x6, left half 0.2, right half 0.7 -> normalised to a 0/1 step.
        let (w, h) = (8, 6);
        let t = Plane::try_new(w, h, (0..w * h).map(|i| if i % w >= 4 { 0.7 } else { 0.2 }).collect()).unwrap();
        let p = Plane::try_new(w, h, vec![0.5; w * h]).unwrap();
        let got = grad(&p, &t).unwrap();
        let want = naive_grad(&p, &t);
        assert!(want > 0.0);
        assert!(rel_close(got, want, 1e-5), "got {got}, want {want}");

        // Hand check of the structure: the step is constant along columns, so
        // gy = 0 and |∇t| at column x = sum(g) * |sum_{j: x+j-4 >= 4} dg[j]|
        // (replicate border keeps every column on its side of the step).
        let (g, dg) = gauss_factors(GRAD_SIGMA);
        let sg: f64 = g.iter().map(|&v| v as f64).sum();
        let mut hand = 0.0;
        for x in 0..w as isize {
            let s: f64 = (0..9).filter(|&j| (x + j - 4).clamp(0, w as isize - 1) >= 4).map(|j| dg[j as usize] as f64).sum();
            hand += h as f64 * (sg * s).powi(2);
        }
        assert!(rel_close(got, hand / 1000.0, 1e-5), "got {got}, hand {}", hand / 1000.0);
    }

    #[test]
    fn separable_matches_direct_on_irregular_images() {
        let mut seed = 12345u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for &(w, h) in &[(7usize, 5usize), (1, 3), (12, 11)] {
            let p = Plane::try_new(w, h, (0..w * h).map(|_| rnd()).collect()).unwrap();
            let t = Plane::try_new(w, h, (0..w * h).map(|_| rnd()).collect()).unwrap();
            let got = grad(&p, &t).unwrap();
            let want = naive_grad(&p, &t);
            assert!(rel_close(got, want, 1e-4), "{w}x{h}: got {got}, want {want}");
        }
    }

    /// The two passes as plain per-pixel loops in f32 (clamped indices, taps
    /// in ascending order): the blocked passes must give the same bits.
    #[test]
    fn blocked_passes_equal_plain_loops_bit_for_bit() {
        let mut seed = 777u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        let (g, dg) = gauss_factors(GRAD_SIGMA);
        for &(w, h) in &[(8usize, 3usize), (37, 9), (64, 20), (3, 17)] {
            let a = Plane::try_new(w, h, (0..w * h).map(|_| rnd()).collect()).unwrap();
            let at = |x: isize, y: isize| a.data[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize];
            let (mut hx, mut hy) = (vec![0f32; w * h], vec![0f32; w * h]);
            for y in 0..h as isize {
                for x in 0..w as isize {
                    let (mut sx, mut sy) = (0f32, 0f32);
                    for k in 0..9 {
                        sx += dg[k] * at(x + k as isize - 4, y);
                        sy += g[k] * at(x + k as isize - 4, y);
                    }
                    (hx[y as usize * w + x as usize], hy[y as usize * w + x as usize]) = (sx, sy);
                }
            }
            let mut want = vec![0f32; w * h];
            for y in 0..h as isize {
                for x in 0..w {
                    let (mut gx, mut gy) = (0f32, 0f32);
                    for k in 0..9 {
                        let yy = (y + k as isize - 4).clamp(0, h as isize - 1) as usize;
                        gx += g[k] * hx[yy * w + x];
                        gy += dg[k] * hy[yy * w + x];
                    }
                    want[y as usize * w + x] = (gx * gx + gy * gy).sqrt();
                }
            }
            let got = gradient_magnitude(&a, GRAD_SIGMA);
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{w}x{h}");
        }
    }

    #[test]
    fn grad_size_mismatch_is_error() {
        let p = Plane::try_new(2, 3, vec![0.0; 6]).unwrap();
        let t = Plane::try_new(3, 2, vec![0.0; 6]).unwrap();
        assert!(grad(&p, &t).is_err());
    }
}
