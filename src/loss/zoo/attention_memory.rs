//! The attention-memory paper's video loss (its Eq. 4-11):
//!
//! L_vid = L_im + L_t
//! L_im  = L_alpha (Eq. 4, L1) + L_lap (Eq. 5) + L_com (Eq. 6: L1 of alpha x F)
//! L_t   = L_tem-agg (Eq. 8: L1 of the 1/16 alpha and foreground against the
//!         downsampled truth, direct supervision of the memory block)
//!       + L_tem (Eq. 9: temporal coherence of alpha and foreground; mean
//!         squared frame differences, as RVM's L_tc)

use tch::{Kind, Tensor};

use super::{shrink, Targets};
use crate::loss::laplacian::laplacian_loss;
use crate::model::Prediction;

fn dt(x: &Tensor) -> Tensor {
    let t = x.size()[1];
    x.narrow(1, 1, t - 1) - x.narrow(1, 0, t - 1)
}

pub fn loss(pred: &Prediction, t: &Targets) -> Tensor {
    let flat = |x: &Tensor| {
        let s = x.size();
        x.reshape([s[0] * s[1], s[2], s[3], s[4]])
    };
    let l1 = |a: &Tensor, b: &Tensor| (a - b).abs().mean(Kind::Float);
    let l_im = l1(&pred.pha, t.pha) + laplacian_loss(&flat(&pred.pha), &flat(t.pha)) + l1(&(&pred.pha * &pred.fgr), &(t.pha * t.fgr));
    let lr = pred.aux("lr_pha").size();
    let (h, w) = (lr[3], lr[4]);
    let l_agg = l1(pred.aux("lr_pha"), &shrink(t.pha, h, w, false)) + l1(pred.aux("lr_fgr"), &shrink(t.fgr, h, w, false));
    let l_tem = if pred.pha.size()[1] > 1 {
        (dt(&pred.pha) - dt(t.pha)).square().mean(Kind::Float) + (dt(&pred.fgr) - dt(t.fgr)).square().mean(Kind::Float)
    } else {
        Tensor::zeros([], (Kind::Float, pred.pha.device()))
    };
    l_im + l_agg + l_tem
}
