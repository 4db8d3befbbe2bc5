//! The VMFM-like model's loss: the paper's first (supervised) training stage
//! with all parts trained jointly.
//!
//! L = sum_{m in seg, depth, fused} [L_a^m + L1(F^m | a* > 0)]
//!   + L^M(a, F) + L_grad(a)                      (final, refined output)
//!   + sum_{m in seg, depth} L_c^m                (Eq. 7)
//!   + L_depth + L_seg + L_hoi                    (virtual modalities, with labels)
//!
//! - L_a^m = ||a^m - a*||_1 + ||grad a^m - grad a*||_1 (Eq. 2, lambda_a = 1
//!   from Table 5), means over pixels, forward differences for the gradient.
//!   The paper predicts no foreground; ours does, so each network also gets
//!   RVM's masked foreground L1. The refined output, which is what the zoo
//!   scores, gets the zoo's common L^M (RVM's L1 + Laplacian + temporal
//!   terms) plus Eq. 2's gradient term. RN is trained jointly, not with the
//!   FP networks frozen as in Sec. 3.3.
//! - L_c^m = ||CL^m - Q(|a^m - a*|)||_1 (Eq. 7) with Q a 3x3 dilation (max
//!   pool) followed by a normalisation by the larger of the two networks'
//!   dilated errors in the frame (floored at 0.1, so a near-perfect frame
//!   is not blown up into noise); one normaliser for both keeps them
//!   comparable pixel by pixel, which the fusion relies on. a^m is detached:
//!   Eq. 7 trains the CL module only.
//! - Not used: the LS-GAN terms (Eq. 3, 5, 6; no discriminator in a
//!   single-model trainer), L_com (Eq. 4; the targets carry no background),
//!   and the self-supervised stage (Eq. 8-11), which applies to unlabelled
//!   data while every batch here has alpha.
//! - Modalities (the paper uses fixed pre-trained networks; ours learn from
//!   the world's labels): segmentation = foreground classes (person, held
//!   object, free object) vs. the rest, BCE; interaction heatmap = the held
//!   object mask dilated and box-blurred by r = max(1, min(H, W) / 16), BCE
//!   on soft targets; depth-like = a layer order, L1. Our world has no real
//!   depth, so [`LAYER_NEARNESS`] encodes the compositing order instead.
//!   Targets are built at full resolution and area-averaged to the 1/4 maps.
//!   Without labels these terms are skipped.

use tch::{Kind, Reduction, Tensor};

use super::{shrink, Targets};
use crate::loss::matting::matting_loss;
use crate::model::Prediction;

/// Nearness (1 = nearest) per class id: background 0, person 0.6, held
/// object 1 (in the hand, in front of the body), free object 0.6 (beside
/// the person), interferer 0.2 (on the background plate, in front of it).
pub const LAYER_NEARNESS: [f64; 5] = [0.0, 0.6, 1.0, 0.6, 0.2];

fn dx(x: &Tensor) -> Tensor {
    let w = x.size()[4];
    x.narrow(4, 1, w - 1) - x.narrow(4, 0, w - 1)
}

fn dy(x: &Tensor) -> Tensor {
    let h = x.size()[3];
    x.narrow(3, 1, h - 1) - x.narrow(3, 0, h - 1)
}

/// ||grad a - grad a*||_1 of Eq. 2 on [B, T, 1, H, W].
pub fn gradient_l1(pha: &Tensor, true_pha: &Tensor) -> Tensor {
    (dx(pha) - dx(true_pha)).abs().mean(Kind::Float) + (dy(pha) - dy(true_pha)).abs().mean(Kind::Float)
}

/// L_a^m (Eq. 2) plus the masked foreground L1.
fn network_loss(pha: &Tensor, fgr: &Tensor, t: &Targets) -> Tensor {
    let mask = t.pha.gt(0.0).to_kind(Kind::Float);
    (pha - t.pha).abs().mean(Kind::Float) + gradient_l1(pha, t.pha) + ((fgr - t.fgr) * mask).abs().mean(Kind::Float)
}

/// Q(|a^m - a*|) for both networks (Eq. 7), [B, T, 1, H, W] each.
pub fn deviation_targets(pha_seg: &Tensor, pha_depth: &Tensor, true_pha: &Tensor) -> (Tensor, Tensor) {
    let s = true_pha.size();
    let dilate = |a: &Tensor| {
        let e = (a.detach() - true_pha).abs().reshape([s[0] * s[1], 1, s[3], s[4]]);
        e.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false)
    };
    let (es, ed) = (dilate(pha_seg), dilate(pha_depth));
    let norm = es.amax([1, 2, 3], true).maximum(&ed.amax([1, 2, 3], true)).clamp_min(0.1);
    ((es / &norm).reshape(s.as_slice()), (ed / norm).reshape(s.as_slice()))
}

/// (depth-like, segmentation, interaction) targets at full resolution from
/// label maps [B, T, 1, H, W] of class ids.
pub fn modality_targets(labels: &Tensor) -> (Tensor, Tensor, Tensor) {
    let ids = labels.round();
    let is = |c: usize| ids.eq(c as f64).to_kind(Kind::Float);
    let depth = (0..5).map(|c| is(c) * LAYER_NEARNESS[c]).reduce(|a, b| a + b).unwrap();
    let seg = is(1) + is(2) + is(3);
    let s = labels.size();
    let r = (s[3].min(s[4]) / 16).max(1);
    let k = 2 * r + 1;
    let held = is(2).reshape([s[0] * s[1], 1, s[3], s[4]]);
    let hoi = held
        .max_pool2d([k, k], [1, 1], [r, r], [1, 1], false)
        .avg_pool2d([k, k], [1, 1], [r, r], false, false, None::<i64>)
        .reshape(s.as_slice());
    (depth, seg, hoi)
}

/// The virtual-modality terms on the 1/4 logits `vm` [B, T, 3, h, w].
fn modality_loss(vm: &Tensor, labels: &Tensor) -> Tensor {
    let (h, w) = (vm.size()[3], vm.size()[4]);
    let (depth, seg, hoi) = modality_targets(labels);
    let small = |x: &Tensor| shrink(x, h, w, false);
    let depth_l1 = (vm.narrow(2, 0, 1).sigmoid() - small(&depth)).abs().mean(Kind::Float);
    let bce = |c: i64, target: &Tensor| vm.narrow(2, c, 1).binary_cross_entropy_with_logits(&small(target), None::<Tensor>, None::<Tensor>, Reduction::Mean);
    depth_l1 + bce(1, &seg) + bce(2, &hoi)
}

pub fn loss(pred: &Prediction, t: &Targets) -> Tensor {
    let mut total = matting_loss(&pred.pha, &pred.fgr, t.pha, t.fgr).total + gradient_l1(&pred.pha, t.pha);
    for m in ["seg", "depth", "fused"] {
        total += network_loss(pred.aux(&format!("pha_{m}")), pred.aux(&format!("fgr_{m}")), t);
    }
    let (q_seg, q_depth) = deviation_targets(pred.aux("pha_seg"), pred.aux("pha_depth"), t.pha);
    total += (pred.aux("dev_seg") - q_seg).abs().mean(Kind::Float) + (pred.aux("dev_depth") - q_depth).abs().mean(Kind::Float);
    if let Some(labels) = t.labels {
        total += modality_loss(pred.aux("vm"), labels);
    }
    total
}
