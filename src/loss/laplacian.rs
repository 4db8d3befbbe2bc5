//! The Laplacian pyramid of paper Eq. 5 (as in RVM's loss): a 5x5 binomial
//! Gaussian with reflect padding, 2x decimation, and upsampling by zero
//! insertion filtered with 4x the same kernel. Five levels; the last is the
//! low-pass residual.

use tch::{Kind, Tensor};

fn gauss_kernel(device: tch::Device, kind: Kind) -> Tensor {
    let k1 = Tensor::from_slice(&[1.0f64, 4.0, 6.0, 4.0, 1.0]).to_kind(kind).to_device(device);
    let k = k1.outer(&k1) / 256.0;
    k.view([1, 1, 5, 5])
}

/// Blur each channel of x: [N, C, H, W] with the 5x5 kernel, reflect padding.
fn blur(x: &Tensor, k: &Tensor) -> Tensor {
    let s = x.size();
    let flat = x.reshape([s[0] * s[1], 1, s[2], s[3]]);
    // Reflect padding needs the size to exceed the pad; replicate otherwise.
    let padded = if s[2] > 2 && s[3] > 2 { flat.reflection_pad2d([2, 2, 2, 2]) } else { flat.replication_pad2d([2, 2, 2, 2]) };
    padded.conv2d(k, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1).reshape([s[0], s[1], s[2], s[3]])
}

fn downsample(x: &Tensor) -> Tensor {
    x.slice(2, 0, None, 2).slice(3, 0, None, 2)
}

fn upsample(x: &Tensor, h: i64, w: i64, k: &Tensor) -> Tensor {
    let s = x.size();
    let opts = (x.kind(), x.device());
    // place x at even rows and even columns, zeros elsewhere
    let rows = Tensor::zeros([s[0], s[1], s[2] * 2, s[3]], opts).slice_scatter(x, 2, 0, None, 2);
    let up = Tensor::zeros([s[0], s[1], s[2] * 2, s[3] * 2], opts).slice_scatter(&rows, 3, 0, None, 2);
    blur(&(up * 4.0), k).narrow(2, 0, h).narrow(3, 0, w)
}

/// Levels of the Laplacian pyramid of x: [N, C, H, W].
pub fn pyramid(x: &Tensor, levels: usize) -> Vec<Tensor> {
    let k = gauss_kernel(x.device(), x.kind());
    let mut cur = x.shallow_clone();
    let mut out = Vec::with_capacity(levels);
    for _ in 0..levels.saturating_sub(1) {
        let s = cur.size();
        let down = downsample(&blur(&cur, &k));
        let up = upsample(&down, s[2], s[3], &k);
        out.push(&cur - up);
        cur = down;
    }
    out.push(cur);
    out
}

/// Paper Eq. 5: sum over levels s = 1..5 of 2^(s-1)/5 * mean |L^s(p) - L^s(t)|.
pub fn laplacian_loss(pred: &Tensor, truth: &Tensor) -> Tensor {
    let (pp, tp) = (pyramid(pred, 5), pyramid(truth, 5));
    let n = pp.len() as f64;
    pp.iter()
        .zip(&tp)
        .enumerate()
        .map(|(i, (a, b))| (a - b).abs().mean(a.kind()) * (2f64.powi(i as i32) / n))
        .reduce(|a, b| a + b)
        .expect("five levels")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_reconstructs_its_input() {
        tch::manual_seed(3);
        let x = Tensor::rand([1, 1, 20, 28], (Kind::Double, tch::Device::Cpu));
        let p = pyramid(&x, 5);
        assert_eq!(p.len(), 5);
        let k = gauss_kernel(x.device(), Kind::Double);
        let mut cur = p[4].shallow_clone();
        for lvl in (0..4).rev() {
            let s = p[lvl].size();
            cur = upsample(&cur, s[2], s[3], &k) + &p[lvl];
        }
        assert!((cur - &x).abs().max().double_value(&[]) < 1e-12);
    }

    #[test]
    fn constant_images_have_empty_detail_levels() {
        let x = Tensor::full([1, 1, 16, 16], 0.3, (Kind::Double, tch::Device::Cpu));
        let p = pyramid(&x, 3);
        // interior detail vanishes for a constant image (borders see the
        // zero-insertion edge, as in the reference implementation)
        let inner = p[0].narrow(2, 4, 8).narrow(3, 4, 8);
        assert!(inner.abs().max().double_value(&[]) < 1e-12);
        assert!(laplacian_loss(&x, &x).double_value(&[]).abs() < 1e-15);
    }
}
