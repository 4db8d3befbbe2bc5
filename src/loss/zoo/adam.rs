//! AdaM's loss (paper Eq. 10-13) on our data:
//!
//! L = 0.5 * L^m(m_p) + 0.5 * (L1 + L_lap)(a^c_p) + 1 * L^M(a^f_p, F_p)
//!
//! - Eq. 10, L^m: binary cross entropy of the coarse Fg/Bg mask at 1/4
//!   against the pseudo label "true alpha (area-averaged to 1/4) > 0.5" (the
//!   paper's threshold tau; its text garbles the comparison, a foreground
//!   label must be alpha above it).
//! - Eq. 11-12 on the coarse alpha at 1/4: L1 and the 5-level Laplacian
//!   loss against the area-averaged true alpha.
//! - the fine part: the paper's Eq. 11-12 at full size; we take RVM's L^M,
//!   which has those two terms and adds temporal coherence on alpha and the
//!   masked foreground L1 and coherence terms (our model also predicts a
//!   foreground, which the paper's does not).
//!
//! Weights 0.5, 0.5, 1 are the paper's (omega_m, omega^c_alpha, omega^f_alpha).

use tch::{Kind, Tensor};

use super::{shrink, Targets};
use crate::loss::laplacian::laplacian_loss;
use crate::loss::matting::matting_loss;
use crate::model::Prediction;

pub fn loss(pred: &Prediction, t: &Targets) -> Tensor {
    let mask = pred.aux("coarse_mask");
    let coarse = pred.aux("coarse_pha");
    let s = coarse.size();
    let small = shrink(t.pha, s[3], s[4], false);
    let label = small.gt(0.5).to_kind(coarse.kind());
    let m = mask.clamp(1e-6, 1.0 - 1e-6);
    let nll: Tensor = &label * m.log() + (1.0 - &label) * m.neg().log1p();
    let bce = -nll.mean(Kind::Float);
    let flat = |x: &Tensor| x.flatten(0, 1);
    let coarse_terms = (coarse - &small).abs().mean(Kind::Float) + laplacian_loss(&flat(coarse), &flat(&small));
    let fine = matting_loss(&pred.pha, &pred.fgr, t.pha, t.fgr).total;
    bce * 0.5 + coarse_terms * 0.5 + fine
}
