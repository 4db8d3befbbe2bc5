//! The HOI loss of paper Eq. 10: g1 * L^M + g2 * FC + g3 * CC, with the
//! paper's weights (0.7, 0.1, 0.2) by default. Ablations set g2 = 0 (w/o FC)
//! or g3 = 0 (w/o CC); a zero weight skips the term's computation.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::constraints::{continual_constraint, feature_constraint, FcConfig};
use crate::loss::matting_loss;
use crate::model::{MattingNet, ParamSet};
use crate::train::batch::Batch;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoiWeights {
    pub g1: f64,
    pub g2: f64,
    pub g3: f64,
}

impl Default for HoiWeights {
    fn default() -> Self {
        HoiWeights { g1: 0.7, g2: 0.1, g3: 0.2 }
    }
}

pub struct HoiLoss {
    pub matting: Tensor,
    pub fc: Tensor,
    pub cc: Tensor,
    pub total: Tensor,
}

/// Eq. 10 for `net` at `theta` on `batch`; `factory` is the frozen factory
/// model (its features on the same input feed FC; its parameters are
/// theta_f of CC).
pub fn hoi_loss(net: &MattingNet, theta: &ParamSet, factory: &MattingNet, batch: &Batch, w: &HoiWeights, fc: &FcConfig) -> HoiLoss {
    hoi_loss_bn(net, theta, factory, batch, w, fc, true)
}

/// [`hoi_loss`] with the BatchNorm mode chosen: `batch_stats = false` runs
/// BatchNorm on the running statistics (as at inference) and leaves them
/// unchanged.
pub fn hoi_loss_bn(net: &MattingNet, theta: &ParamSet, factory: &MattingNet, batch: &Batch, w: &HoiWeights, fc: &FcConfig, batch_stats: bool) -> HoiLoss {
    let out = net.forward_with(theta, &batch.src, None, batch_stats);
    let matting = matting_loss(&out.pha, &out.fgr, &batch.pha, &batch.fgr).total;
    let zero = || Tensor::zeros([], (Kind::Float, batch.src.device()));
    let fc_term = if w.g2 != 0.0 {
        let f_feats = tch::no_grad(|| factory.forward(&batch.src, None, false).feats);
        feature_constraint(&out.feats, &f_feats, fc)
    } else {
        zero()
    };
    let cc = if w.g3 != 0.0 { continual_constraint(theta, &factory.params) } else { zero() };
    let total = &matting * w.g1 + &fc_term * w.g2 + &cc * w.g3;
    HoiLoss { matting, fc: fc_term, cc, total }
}
