//! The matting loss L^M (paper Eq. 4-9, RVM's loss):
//!
//! L^M = L1(a) + L_lap(a) + 5 * L_tc(a) + L1(F | a* > 0) + 5 * L_tc(F | a* > 0)
//!
//! with L1 a mean absolute error, L_lap the 5-level Laplacian loss (Eq. 5),
//! L_tc the mean squared error of the time derivatives (frame differences,
//! Eq. 6 and 8), and the foreground terms masked to pixels whose true alpha is
//! above zero (Eq. 7-8).

use tch::Tensor;

use super::laplacian::laplacian_loss;

/// Each term of L^M, as scalar tensors (graph kept).
pub struct MattingLoss {
    pub pha_l1: Tensor,
    pub pha_laplacian: Tensor,
    pub pha_coherence: Tensor,
    pub fgr_l1: Tensor,
    pub fgr_coherence: Tensor,
    /// The weighted sum, Eq. 9.
    pub total: Tensor,
}

fn dt(x: &Tensor) -> Tensor {
    let t = x.size()[1];
    x.narrow(1, 1, t - 1) - x.narrow(1, 0, t - 1)
}

/// Inputs are [B, T, C, H, W]; alpha C = 1, foreground C = 3. With T = 1 the
/// temporal terms are zero.
pub fn matting_loss(pred_pha: &Tensor, pred_fgr: &Tensor, true_pha: &Tensor, true_fgr: &Tensor) -> MattingLoss {
    let kind = pred_pha.kind();
    let s = pred_pha.size();
    let flat = |x: &Tensor| {
        let z = x.size();
        x.reshape([z[0] * z[1], z[2], z[3], z[4]])
    };
    let pha_l1 = (pred_pha - true_pha).abs().mean(kind);
    let pha_laplacian = laplacian_loss(&flat(pred_pha), &flat(true_pha));
    let zero = || Tensor::zeros([], (kind, pred_pha.device()));
    let pha_coherence = if s[1] > 1 { (dt(pred_pha) - dt(true_pha)).square().mean(kind) } else { zero() };
    let mask = true_pha.gt(0.0).to_kind(kind);
    let (pf, tf) = (pred_fgr * &mask, true_fgr * &mask);
    let fgr_l1 = (&pf - &tf).abs().mean(kind);
    let fgr_coherence = if s[1] > 1 { (dt(&pf) - dt(&tf)).square().mean(kind) } else { zero() };
    let total = &pha_l1 + &pha_laplacian + &pha_coherence * 5.0 + &fgr_l1 + &fgr_coherence * 5.0;
    MattingLoss { pha_l1, pha_laplacian, pha_coherence, fgr_l1, fgr_coherence, total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn t(v: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).to_kind(Kind::Double).reshape(shape)
    }

    #[test]
    fn terms_on_hand_computed_tensors() {
        // B=1, T=2, 1x1x2 alpha; foreground 3 channels.
        let pp = t(&[0.5, 1.0, 0.0, 1.0], &[1, 2, 1, 1, 2]);
        let tp = t(&[1.0, 1.0, 0.0, 0.0], &[1, 2, 1, 1, 2]);
        let l = matting_loss(&pp, &pp.repeat([1, 1, 3, 1, 1]), &tp, &tp.repeat([1, 1, 3, 1, 1]));
        // L1: |0.5-1| + 0 + 0 + |1-0| over 4 = 0.375
        assert!((l.pha_l1.double_value(&[]) - 0.375).abs() < 1e-12);
        // dt pred: [-0.5, 0], dt true: [-1, -1]; diff [0.5, 1]; mse 0.625
        assert!((l.pha_coherence.double_value(&[]) - 0.625).abs() < 1e-12);
        // mask (a* > 0): frame 0 both pixels, frame 1 none.
        // masked fgr L1: frame 0 |0.5-1| + |1-1| = 0.5 per channel over 12 values -> 0.5*3/12
        assert!((l.fgr_l1.double_value(&[]) - 0.125).abs() < 1e-12);
        // masked dt: pred [(0-0.5), (0-1)], true [(0-1), (0-1)] -> diff [0.5, 0] per channel; mse over 6 = 0.25*3/6
        assert!((l.fgr_coherence.double_value(&[]) - 0.125).abs() < 1e-12);
        let total = l.pha_l1.double_value(&[]) + l.pha_laplacian.double_value(&[]) + 5.0 * 0.625 + 0.125 + 5.0 * 0.125;
        assert!((l.total.double_value(&[]) - total).abs() < 1e-12);
    }

    #[test]
    fn a_constant_alpha_offset_costs_l1_but_no_laplacian_term() {
        // Eq. 5 has band-pass levels only: pred = truth + 0.1 everywhere
        // moves L1 by exactly 0.1 and the Laplacian term not at all.
        tch::manual_seed(5);
        let tp = Tensor::rand([1, 2, 1, 64, 64], (Kind::Double, Device::Cpu)) * 0.8;
        let pp = &tp + 0.1;
        let tf = Tensor::rand([1, 2, 3, 64, 64], (Kind::Double, Device::Cpu));
        let l = matting_loss(&pp, &tf, &tp, &tf);
        assert!((l.pha_l1.double_value(&[]) - 0.1).abs() < 1e-12);
        assert!(l.pha_laplacian.double_value(&[]).abs() < 1e-12);
        assert!(l.pha_coherence.double_value(&[]).abs() < 1e-12);
        // a 1x2 image has no band-pass level at all
        let one = t(&[0.5, 1.0], &[1, 1, 1, 1, 2]);
        assert_eq!(matting_loss(&one, &one.repeat([1, 1, 3, 1, 1]), &(&one * 0.0), &one.repeat([1, 1, 3, 1, 1])).pha_laplacian.double_value(&[]), 0.0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        tch::manual_seed(7);
        let opts = (Kind::Double, Device::Cpu);
        let tp = Tensor::rand([1, 3, 1, 6, 7], opts).gt(0.4).to_kind(Kind::Double) * 0.9;
        let tf = Tensor::rand([1, 3, 3, 6, 7], opts);
        let p0 = Tensor::rand([1, 3, 1, 6, 7], opts) * 0.8 + 0.1;
        let f0 = Tensor::rand([1, 3, 3, 6, 7], opts);
        let p = p0.copy().set_requires_grad(true);
        let f = f0.copy().set_requires_grad(true);
        let l = matting_loss(&p, &f, &tp, &tf).total;
        let g = Tensor::run_backward(&[&l], &[&p, &f], false, false);
        let eval = |pp: &Tensor, ff: &Tensor| matting_loss(pp, ff, &tp, &tf).total.double_value(&[]);
        let eps = 1e-6;
        let mut checked = 0;
        for (which, (x0, grad)) in [(&p0, &g[0]), (&f0, &g[1])].into_iter().enumerate() {
            let n = x0.numel() as i64;
            for idx in (0..n).step_by(17) {
                let e = Tensor::zeros_like(x0).reshape([-1]).index_fill(0, &Tensor::from_slice(&[idx]), eps).reshape(x0.size());
                let (plus, minus) = if which == 0 {
                    (eval(&(x0 + &e), &f0), eval(&(x0 - &e), &f0))
                } else {
                    (eval(&p0, &(x0 + &e)), eval(&p0, &(x0 - &e)))
                };
                let fd = (plus - minus) / (2.0 * eps);
                let ad = grad.reshape([-1]).double_value(&[idx]);
                assert!((fd - ad).abs() < 1e-6 * (1.0 + fd.abs()), "d/d{}[{idx}]: autograd {ad} vs finite difference {fd}", ["pha", "fgr"][which]);
                checked += 1;
            }
        }
        assert!(checked > 20);
    }
}
