//! Each zoo model's own training loss (its paper's terms, on our data),
//! and the dispatch from an architecture to its loss. RVM's is L^M.

use tch::Tensor;

use super::matting::matting_loss;
use crate::model::{Arch, Prediction};

pub mod adam;
pub mod attention_memory;
pub mod dfimat;
pub mod modnet;
pub mod vmfm;

/// What a batch says is true: [B, T, C, H, W] each.
pub struct Targets<'a> {
    pub pha: &'a Tensor,
    pub fgr: &'a Tensor,
    /// The world's label maps (class ids as floats), when the data has them.
    pub labels: Option<&'a Tensor>,
}

/// The training loss of `arch` on a prediction.
pub fn model_loss(arch: Arch, pred: &Prediction, t: &Targets) -> Tensor {
    match arch {
        Arch::Rvm => matting_loss(&pred.pha, &pred.fgr, t.pha, t.fgr).total,
        Arch::Modnet => modnet::loss(pred, t),
        Arch::AttentionMemory => attention_memory::loss(pred, t),
        Arch::Adam => adam::loss(pred, t),
        Arch::Vmfm => vmfm::loss(pred, t),
        Arch::Dfimat => dfimat::loss(pred, t),
    }
}

/// Nearest-neighbour resize of [B, T, C, H, W] targets to h x w (labels
/// keep their class ids) or area-average (alpha), for low-resolution heads.
pub fn shrink(x: &Tensor, h: i64, w: i64, nearest: bool) -> Tensor {
    let s = x.size();
    let f = x.reshape([s[0] * s[1], s[2], s[3], s[4]]);
    let y = if nearest { f.upsample_nearest2d([h, w], None, None) } else { f.adaptive_avg_pool2d([h, w]) };
    y.reshape([s[0], s[1], s[2], h, w])
}
