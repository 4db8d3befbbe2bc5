//! The HOI loss of paper Eq. 10: g1 * L^M + g2 * FC + g3 * CC, with the
//! paper's weights (0.7, 0.1, 0.2) by default. Ablations set g2 = 0 (w/o FC)
//! or g3 = 0 (w/o CC); a zero weight skips the term's computation.
//!
//! The factory model's features (FC's reference) are computed in the same
//! BatchNorm mode as the target's pass, never updating the factory's
//! statistics, so FC is exactly 0 at theta = theta_f: with the target on
//! batch statistics and the factory on running ones (as before the engine
//! fix), FC pulled the target away from the factory even at the start.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::constraints::{continual_constraint, feature_constraint, Distance, FcConfig};
use crate::loss::matting_loss;
use crate::model::{BnMode, MattingNet, ParamSet};
use crate::train::batch::Batch;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoiWeights {
    pub g1: f64,
    pub g2: f64,
    pub g3: f64,
    /// How CC's distance ||theta - theta_f|| is taken (squared by default;
    /// see `meta::constraints`). Left out of configurations when default.
    #[serde(default, skip_serializing_if = "Distance::is_default")]
    pub cc_distance: Distance,
}

impl HoiWeights {
    pub fn new(g1: f64, g2: f64, g3: f64) -> Self {
        HoiWeights { g1, g2, g3, cc_distance: Distance::default() }
    }
}

impl Default for HoiWeights {
    fn default() -> Self {
        HoiWeights::new(0.7, 0.1, 0.2)
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
/// theta_f of CC). `bn` is the target pass's BatchNorm mode; the factory's
/// pass runs in the same mode (its own batch statistics, or its running
/// ones) and updates nothing, so at theta = theta_f the two computations
/// are identical and FC is 0.
pub fn hoi_loss(net: &MattingNet, theta: &ParamSet, factory: &MattingNet, batch: &Batch, w: &HoiWeights, fc: &FcConfig, bn: BnMode) -> HoiLoss {
    let out = net.forward_bn(theta, &batch.src, None, bn);
    let matting = matting_loss(&out.pha, &out.fgr, &batch.pha, &batch.fgr).total;
    let zero = || Tensor::zeros([], (matting.kind(), batch.src.device()));
    let fc_term = if w.g2 != 0.0 {
        let mode = if bn == BnMode::Running { BnMode::Running } else { BnMode::Batch };
        let f_feats = tch::no_grad(|| factory.forward_bn(&factory.params, &batch.src, None, mode).feats);
        feature_constraint(&out.feats, &f_feats, fc)
    } else {
        zero()
    };
    let cc = if w.g3 != 0.0 { continual_constraint(theta, &factory.params, w.cc_distance) } else { zero() };
    let total = &matting * w.g1 + &fc_term * w.g2 + &cc * w.g3;
    HoiLoss { matting, fc: fc_term, cc, total }
}
