//! The Laplacian loss of paper Eq. 5, which is RVM's: five band-pass levels
//! of a Laplacian pyramid, sum over s = 1..5 of 2^(s-1)/5 * mean |L^s(p) -
//! L^s(t)|, and no low-pass residual. Each level first crops its input to
//! an even size (dropping the last row / column of an odd size), blurs it
//! with the 5x5 binomial kernel [1 4 6 4 1]^T [1 4 6 4 1] / 256 under
//! reflect padding, keeps every second pixel, and subtracts from the
//! cropped input its reconstruction: zeros inserted between the kept
//! pixels, times 4, blurred the same way. The next level starts from the
//! decimated image.
//!
//! Reflect padding needs a side longer than the pad (2); a level narrower
//! than that (inputs under 64 px at five levels, e.g. the smoke profile's)
//! uses replicate padding instead, where RVM's code would fail.

use tch::{Kind, Tensor};

/// Band-pass levels of Eq. 5.
pub const LEVELS: usize = 5;

fn gauss_kernel(device: tch::Device, kind: Kind) -> Tensor {
    let k1 = Tensor::from_slice(&[1.0f64, 4.0, 6.0, 4.0, 1.0]).to_kind(kind).to_device(device);
    let k = k1.outer(&k1) / 256.0;
    k.view([1, 1, 5, 5])
}

/// Blur each channel of x: [N, C, H, W] with the 5x5 kernel.
fn blur(x: &Tensor, k: &Tensor) -> Tensor {
    let s = x.size();
    let flat = x.reshape([s[0] * s[1], 1, s[2], s[3]]);
    let padded = if s[2] > 2 && s[3] > 2 { flat.reflection_pad2d([2, 2, 2, 2]) } else { flat.replication_pad2d([2, 2, 2, 2]) };
    padded.conv2d(k, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1).reshape([s[0], s[1], s[2], s[3]])
}

fn crop_even(x: &Tensor) -> Tensor {
    let s = x.size();
    x.narrow(2, 0, s[2] - s[2] % 2).narrow(3, 0, s[3] - s[3] % 2)
}

fn upsample(x: &Tensor, k: &Tensor) -> Tensor {
    let s = x.size();
    let opts = (x.kind(), x.device());
    let rows = Tensor::zeros([s[0], s[1], s[2] * 2, s[3]], opts).slice_scatter(x, 2, 0, None, 2);
    let up = Tensor::zeros([s[0], s[1], s[2] * 2, s[3] * 2], opts).slice_scatter(&rows, 3, 0, None, 2);
    blur(&(up * 4.0), k)
}

/// The band-pass levels of x: [N, C, H, W] (no residual): `levels` of them,
/// fewer when the image halves below 2 px first.
pub fn pyramid(x: &Tensor, levels: usize) -> Vec<Tensor> {
    let k = gauss_kernel(x.device(), x.kind());
    let mut cur = x.shallow_clone();
    let mut out = Vec::with_capacity(levels);
    for _ in 0..levels {
        let even = crop_even(&cur);
        if even.numel() == 0 {
            // Under 2 px on a side there is no band left (RVM's code fails
            // here); the remaining levels contribute nothing.
            break;
        }
        let down = blur(&even, &k).slice(2, 0, None, 2).slice(3, 0, None, 2);
        out.push(&even - upsample(&down, &k));
        cur = down;
    }
    out
}

/// Eq. 5 with `levels` levels (5 in the paper): sum_s 2^(s-1) / levels *
/// mean |L^s(pred) - L^s(truth)|, inputs [N, C, H, W].
pub fn laplacian_loss_levels(pred: &Tensor, truth: &Tensor, levels: usize) -> Tensor {
    let (pp, tp) = (pyramid(pred, levels), pyramid(truth, levels));
    pp.iter()
        .zip(&tp)
        .enumerate()
        .map(|(i, (a, b))| (a - b).abs().mean(a.kind()) * (2f64.powi(i as i32) / levels as f64))
        .fold(Tensor::zeros([], (pred.kind(), pred.device())), |a, b| a + b)
}

/// Paper Eq. 5 (RVM's `laplacian_loss`, five levels).
pub fn laplacian_loss(pred: &Tensor, truth: &Tensor) -> Tensor {
    laplacian_loss_levels(pred, truth, LEVELS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(v: &[f64], h: i64, w: i64) -> Tensor {
        Tensor::from_slice(v).reshape([1, 1, h, w])
    }

    /// Eq. 5 written out with plain loops over f64 arrays, from the
    /// definition in the module doc (no tensor op shared with the code).
    fn reference(p: &[f64], t: &[f64], h: usize, w: usize, levels: usize) -> f64 {
        type Im = (Vec<f64>, usize, usize);
        const K: [f64; 5] = [1.0, 4.0, 6.0, 4.0, 1.0];
        fn blur(x: &Im) -> Im {
            let (v, h, w) = x;
            let (h, w) = (*h as i64, *w as i64);
            let reflect = |i: i64, n: i64| if i < 0 { -i } else if i >= n { 2 * (n - 1) - i } else { i };
            let mut out = vec![0.0; (h * w) as usize];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0;
                    for (dy, ky) in K.iter().enumerate() {
                        for (dx, kx) in K.iter().enumerate() {
                            let (yy, xx) = (reflect(y + dy as i64 - 2, h), reflect(x + dx as i64 - 2, w));
                            acc += ky * kx / 256.0 * v[(yy * w + xx) as usize];
                        }
                    }
                    out[(y * w + x) as usize] = acc;
                }
            }
            (out, h as usize, w as usize)
        }
        fn levels_of(mut cur: Im, n: usize) -> Vec<Im> {
            let mut out = vec![];
            for _ in 0..n {
                let (h, w) = (cur.1 - cur.1 % 2, cur.2 - cur.2 % 2);
                let even: Vec<f64> = (0..h).flat_map(|y| (0..w).map(move |x| (y, x))).map(|(y, x)| cur.0[y * cur.2 + x]).collect();
                let b = blur(&(even.clone(), h, w));
                let down: Vec<f64> = (0..h / 2).flat_map(|y| (0..w / 2).map(move |x| (y, x))).map(|(y, x)| b.0[2 * y * w + 2 * x]).collect();
                let mut z = vec![0.0; h * w];
                for y in 0..h / 2 {
                    for x in 0..w / 2 {
                        z[2 * y * w + 2 * x] = 4.0 * down[y * (w / 2) + x];
                    }
                }
                let up = blur(&(z, h, w));
                out.push((even.iter().zip(&up.0).map(|(a, b)| a - b).collect(), h, w));
                cur = (down, h / 2, w / 2);
            }
            out
        }
        let (a, b) = (levels_of((p.to_vec(), h, w), levels), levels_of((t.to_vec(), h, w), levels));
        a.iter()
            .zip(&b)
            .enumerate()
            .map(|(s, (x, y))| 2f64.powi(s as i32) / levels as f64 * x.0.iter().zip(&y.0).map(|(u, v)| (u - v).abs()).sum::<f64>() / x.0.len() as f64)
            .sum()
    }

    #[test]
    fn one_level_of_an_impulse_by_hand() {
        // 4x4 with a 1 at (1, 1), one level, against zero. The operators are
        // separable: in 1-D, s = [0 1 0 0] reflect-pads to [0 1 0 1 0 0 0 1],
        // blurs to [8 7 4 2]/16, decimates to [1/2 1/4], zero-inserts x2 to
        // [1 0 1/2 0], and blurs back to U = [7 6 4.5 4]/16. The 2-D level is
        // s s^T - U U^T: at (1, 1) 1 - 36/256, elsewhere -U_i U_j, so the sum
        // of |.| is 220/256 + ((21.5/16)^2 - 36/256) = 646.25/256, over 16.
        let mut v = vec![0.0; 16];
        v[5] = 1.0;
        let l = laplacian_loss_levels(&img(&v, 4, 4), &img(&[0.0; 16], 4, 4), 1).double_value(&[]);
        assert!((l - 646.25 / 256.0 / 16.0).abs() < 1e-12, "{l}");
    }

    #[test]
    fn constants_have_no_band_pass_content_so_no_residual_is_charged() {
        // With a low-pass residual level, two constant images 0.2 and 0.7
        // would differ by 2^4/5 * 0.5; RVM's five band-pass levels see none of it.
        for (h, w) in [(64, 64), (72, 128), (67, 97)] {
            let a = Tensor::full([1, 1, h, w], 0.2, (Kind::Double, tch::Device::Cpu));
            let b = Tensor::full([1, 1, h, w], 0.7, (Kind::Double, tch::Device::Cpu));
            assert!(laplacian_loss(&a, &b).double_value(&[]).abs() < 1e-12, "{h}x{w}");
        }
        assert_eq!(pyramid(&Tensor::zeros([1, 1, 64, 64], (Kind::Double, tch::Device::Cpu)), 5).len(), 5);
    }

    #[test]
    fn odd_sizes_are_cropped_to_even_at_each_level() {
        // A 5x5 image and its 4x4 crop give the same first level: the 5th
        // row and column are dropped before anything else.
        tch::manual_seed(9);
        let x = Tensor::rand([1, 1, 5, 5], (Kind::Double, tch::Device::Cpu));
        let z = Tensor::zeros([1, 1, 5, 5], (Kind::Double, tch::Device::Cpu));
        let crop = |t: &Tensor| t.narrow(2, 0, 4).narrow(3, 0, 4);
        let a = laplacian_loss_levels(&x, &z, 1).double_value(&[]);
        let b = laplacian_loss_levels(&crop(&x), &crop(&z), 1).double_value(&[]);
        assert_eq!(a, b);
        assert_eq!(pyramid(&x, 1)[0].size(), vec![1, 1, 4, 4]);
    }

    #[test]
    fn five_levels_match_a_loop_reference() {
        // 72x100: every level but the last is even after cropping (36x50,
        // 18x25 -> 18x24, 9x12 -> 8x12, 4x6), so the crop path runs too.
        tch::manual_seed(11);
        let (h, w) = (72, 100);
        let p = Tensor::rand([1, 1, h, w], (Kind::Double, tch::Device::Cpu));
        let t = Tensor::rand([1, 1, h, w], (Kind::Double, tch::Device::Cpu)).gt(0.5).to_kind(Kind::Double);
        let (pv, tv) = (Vec::<f64>::try_from(p.reshape([-1])).unwrap(), Vec::<f64>::try_from(t.reshape([-1])).unwrap());
        let want = reference(&pv, &tv, h as usize, w as usize, 5);
        let got = laplacian_loss(&p, &t).double_value(&[]);
        assert!((got - want).abs() < 1e-12 * (1.0 + want), "{got} vs {want}");
        assert!(want > 0.01);
    }
}
