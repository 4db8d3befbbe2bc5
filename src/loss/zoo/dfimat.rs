//! DFIMat's training loss, both stages in one sum:
//!
//! L = L_ISCN + L_MRN + L_lap(a) + L1(F | a* > 0)
//!
//! - L_ISCN (paper Eq. 6) = BCE(M, M*) + Dice(M, M*) on the coarse mask
//!   (aux "mask", 1/4 resolution) against the truth area-averaged to that
//!   size and thresholded at 0.5; the paper's class cross-entropy (weight
//!   0.1) is dropped, our prompted target is always the one instance.
//! - L_MRN (Eq. 7) = mean |a - a*| over all pixels + lambda x the same mean
//!   over the hardest 30 % of each frame's pixels, lambda = 1 as in the paper.
//! - The Laplacian term of L^M (RVM's Eq. 5) on alpha and the masked
//!   foreground L1 of L^M, which the paper lacks (it predicts no
//!   foreground) but every model of the zoo is scored on. L^M's temporal
//!   terms are left out: the model and its prompts are per frame.

use tch::Tensor;

use super::{shrink, Targets};
use crate::loss::laplacian::laplacian_loss;
use crate::model::Prediction;

/// Share of pixels that Eq. 7 counts as hard.
const HARD: f64 = 0.3;

/// Each term (scalar tensors, graph kept).
pub struct DfimatLoss {
    pub mask_bce: Tensor,
    pub mask_dice: Tensor,
    pub pha_l1: Tensor,
    pub pha_hard: Tensor,
    pub pha_laplacian: Tensor,
    pub fgr_l1: Tensor,
    pub total: Tensor,
}

pub fn terms(pred: &Prediction, t: &Targets) -> DfimatLoss {
    let mask = pred.aux("mask");
    let kind = mask.kind();
    let s = mask.size();
    let target = shrink(t.pha, s[3], s[4], false).gt(0.5).to_kind(kind);
    let m = mask.clamp(1e-6, 1.0 - 1e-6);
    let (not_m, not_t): (Tensor, Tensor) = (1.0 - &m, 1.0 - &target);
    let mask_bce = -(&target * m.log() + not_t * not_m.log()).mean(kind);
    let per = |x: &Tensor| x.reshape([s[0] * s[1], -1]);
    let inter = (per(&m) * per(&target)).sum_dim_intlist(1, false, kind);
    let union = per(&m).sum_dim_intlist(1, false, kind) + per(&target).sum_dim_intlist(1, false, kind);
    let dice: Tensor = (inter * 2.0 + 1.0) / (union + 1.0);
    let mask_dice: Tensor = 1.0 - dice.mean(kind);

    let err = per(&(&pred.pha - t.pha).abs());
    let pha_l1 = err.mean(kind);
    let k = ((err.size()[1] as f64 * HARD).ceil() as i64).max(1);
    let pha_hard = err.topk(k, 1, true, false).0.mean(kind);
    let flat = |x: &Tensor| {
        let z = x.size();
        x.reshape([z[0] * z[1], z[2], z[3], z[4]])
    };
    let pha_laplacian = laplacian_loss(&flat(&pred.pha), &flat(t.pha));
    let fg = t.pha.gt(0.0).to_kind(kind);
    let fgr_l1 = ((&pred.fgr - t.fgr).abs() * fg).mean(kind);
    let total = &mask_bce + &mask_dice + &pha_l1 + &pha_hard + &pha_laplacian + &fgr_l1;
    DfimatLoss { mask_bce, mask_dice, pha_l1, pha_hard, pha_laplacian, fgr_l1, total }
}

pub fn loss(pred: &Prediction, t: &Targets) -> Tensor {
    terms(pred, t).total
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn terms_on_hand_computed_tensors() {
        // One 2x2 frame: alpha error 0.5 on one pixel only.
        let opts = (Kind::Double, Device::Cpu);
        let tp = Tensor::from_slice(&[1.0f64, 1.0, 0.0, 0.0]).view([1, 1, 1, 2, 2]);
        let pp = Tensor::from_slice(&[0.5f64, 1.0, 0.0, 0.0]).view([1, 1, 1, 2, 2]);
        let tf = Tensor::ones([1, 1, 3, 2, 2], opts);
        // A 1x1 coarse mask of 0.5 against the 2x2 truth's mean 0.5 (not > 0.5: 0).
        let mask = Tensor::full([1, 1, 1, 1, 1], 0.5, opts);
        let pred = Prediction { pha: pp, fgr: tf.shallow_clone(), state: vec![], aux: vec![("mask".into(), mask)] };
        let l = terms(&pred, &Targets { pha: &tp, fgr: &tf, labels: None });
        let v = |t: &Tensor| t.double_value(&[]);
        assert!((v(&l.mask_bce) - 2f64.ln()).abs() < 1e-9);
        // Dice: 1 - (0 + 1) / (0.5 + 0 + 1)
        assert!((v(&l.mask_dice) - (1.0 - 1.0 / 1.5)).abs() < 1e-9);
        assert!((v(&l.pha_l1) - 0.125).abs() < 1e-12);
        // Hard set: ceil(0.3 * 4) = 2 pixels, errors 0.5 and 0.
        assert!((v(&l.pha_hard) - 0.25).abs() < 1e-12);
        assert_eq!(v(&l.fgr_l1), 0.0);
    }
}
