//! MODNet's objective, one term per branch:
//!
//! L = 10 * L_s + 10 * L_d + L_alpha
//!
//! - L_s: half the mean squared error between the semantic map (1/16) and
//!   the true alpha downsampled to 1/16 and Gaussian-blurred (the semantic
//!   branch learns a coarse, smooth foreground);
//! - L_d: mean absolute error of the detail map inside the transition
//!   region only (pixels within r of the matte's boundary: dilation minus
//!   erosion of the true alpha), so the detail branch spends itself on edges;
//! - L_alpha: mean absolute error plus the Laplacian loss of the fused alpha
//!   (MODNet adds a compositional term; we use RVM's Laplacian term instead,
//!   as the other models here do, since Targets carries no background).

use tch::{Kind, Tensor};

use super::{shrink, Targets};
use crate::loss::laplacian::laplacian_loss;
use crate::model::Prediction;

/// Transition-region mask of [N, 1, H, W] alpha: within `r` pixels of a
/// pixel whose alpha differs from its neighbours' (dilation > erosion).
pub fn transition_region(alpha: &Tensor, r: i64) -> Tensor {
    let k = 2 * r + 1;
    let dil = alpha.max_pool2d([k, k], [1, 1], [r, r], [1, 1], false);
    let ero = -(-alpha).max_pool2d([k, k], [1, 1], [r, r], [1, 1], false);
    (dil - ero).gt(1e-6).to_kind(alpha.kind())
}

fn blur3(x: &Tensor) -> Tensor {
    let k = Tensor::from_slice(&[1.0f32, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]).to_kind(x.kind()).to_device(x.device()) / 16.0;
    let c = x.size()[1];
    x.pad([1, 1, 1, 1], "replicate", None).conv2d(&k.view([1, 1, 3, 3]).repeat([c, 1, 1, 1]), None::<Tensor>, [1, 1], [0, 0], [1, 1], c)
}

pub fn loss(pred: &Prediction, t: &Targets) -> Tensor {
    let flat = |x: &Tensor| {
        let s = x.size();
        x.reshape([s[0] * s[1], s[2], s[3], s[4]])
    };
    let sem = pred.aux("semantic");
    let ss = sem.size();
    let sem_true = blur3(&flat(&shrink(t.pha, ss[3], ss[4], false)));
    let l_s = (flat(sem) - sem_true).square().mean(Kind::Float) * 0.5;
    let alpha = flat(t.pha);
    let hw = alpha.size();
    let r = (hw[2].min(hw[3]) / 36).max(1);
    let m = transition_region(&alpha, r);
    let l_d = ((flat(pred.aux("detail")) - &alpha).abs() * &m).sum(Kind::Float) / (m.sum(Kind::Float) + 1.0);
    let p = flat(&pred.pha);
    let l_a = (&p - &alpha).abs().mean(Kind::Float) + laplacian_loss(&p, &alpha);
    l_s * 10.0 + l_d * 10.0 + l_a
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn transition_region_is_a_band_around_the_edge() {
        // A 10x10 image, foreground in columns >= 5.
        let a = Tensor::arange(10, (Kind::Float, Device::Cpu)).ge(5).to_kind(Kind::Float).view([1, 1, 1, 10]).repeat([1, 1, 10, 1]);
        let m = transition_region(&a, 1);
        let row: Vec<f32> = Vec::try_from(m.get(0).get(0).get(4)).unwrap();
        assert_eq!(row, vec![0., 0., 0., 0., 1., 1., 0., 0., 0., 0.]);
        let m2 = transition_region(&a, 2);
        assert_eq!(m2.sum(Kind::Float).double_value(&[]), 40.0, "4 columns x 10 rows");
    }

    #[test]
    fn detail_term_ignores_pixels_outside_the_band() {
        let opts = (Kind::Float, Device::Cpu);
        let a = Tensor::arange(16, opts).ge(8).to_kind(Kind::Float).view([1, 1, 1, 1, 16]).repeat([1, 1, 1, 16, 1]);
        let fgr = Tensor::zeros([1, 1, 3, 16, 16], opts);
        let t = Targets { pha: &a, fgr: &fgr, labels: None };
        let mk = |detail: Tensor| Prediction {
            pha: a.shallow_clone(),
            fgr: fgr.shallow_clone(),
            state: vec![],
            aux: vec![("semantic".into(), Tensor::zeros([1, 1, 1, 1, 1], opts)), ("detail".into(), detail)],
        };
        let base = loss(&mk(a.shallow_clone()), &t).double_value(&[]);
        // Wrong detail far from the edge (column 0): no change.
        let far = a.copy();
        let _ = far.narrow(4, 0, 1).fill_(1.0);
        assert!((loss(&mk(far), &t).double_value(&[]) - base).abs() < 1e-9);
        // Wrong detail on the edge (column 8): the loss rises.
        let near = a.copy();
        let _ = near.narrow(4, 8, 1).fill_(0.0);
        assert!(loss(&mk(near), &t).double_value(&[]) > base + 1e-3);
    }
}
