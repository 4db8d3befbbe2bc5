//! VMFM-like D-CL-RN: Virtual Multi-Modality Foreground Matting (Lee et
//! al., ICCV 2021), the slow, accurate human-object-interaction baseline.
//!
//! The paper factors one RGB image into three "virtual modalities" (a depth
//! map from D-Net, a person mask from Mask R-CNN, a human-object interaction
//! heatmap from an Hourglass I-Net; Sec. 3.1), feeds them to a dual
//! foreground-prediction network (SFPnet on RGB + segmentation + heatmap,
//! DFPnet on RGB + depth + heatmap, each trained with L_a, Eq. 2), learns a
//! Complementary Learning (CL) module whose dual encoders and shared decoder
//! predict each network's deviation probability map (Eq. 7), and at
//! inference refines the top-K highest-deviation 16x16 patches with a small
//! refinement network RN (Sec. 3.3, Table 8).
//!
//! What ours keeps: the three modalities predicted from RGB and supervised
//! (see `loss::zoo::vmfm` for the targets built from the world's labels); two
//! foreground networks that see (segmentation, heatmap) and (depth, heatmap)
//! through their own modality encoders and fuse them with the image feature
//! in three convolutions at 1/8 (Table 6); the CL module with one encoder per
//! network over (RGB, a^m) and one shared decoder (Table 7), its outputs in
//! [0, 1]; the top-K 16x16 patches of highest predicted error refined at full
//! resolution by four 3x3 conv+BN+ReLU layers and a tanh head (Table 8) and
//! pasted back, everything else untouched.
//!
//! Where it departs, and why:
//! - One backbone (the zoo's `backbone.*` MobileNetV3, initialised from RVM) is
//!   shared by the three modality heads and both foreground networks instead
//!   of separate pre-trained D-Net, Mask R-CNN, Hourglass and two image
//!   encoders: five encoders per frame would not train on CPU. The heatmap
//!   therefore enters each network's modality encoder (with S or D) rather
//!   than being concatenated to the image, whose stem must stay 3-channel.
//! - The modalities come from one small decoder with three 1x1 heads at 1/4
//!   resolution, trained jointly; gradients from matting flow into them, so
//!   without labels they still learn as intermediate features.
//! - Each network also predicts the foreground as a residual on the source
//!   (as RVM does); the paper predicts alpha only and borrows F* in L_com.
//! - D-CL-RN in the paper refines DFPnet's output with DFPnet's deviation
//!   map. We use both networks at inference: the per-pixel fusion weight
//!   `w = sigmoid((dev_d - dev_s) / FUSE_T)` is a soft form of the paper's
//!   complementary area map beta (Eq. 10: trust the network with the lower
//!   deviation), and the refinement ranks patches by the fused estimated
//!   error `w dev_s + (1 - w) dev_d`.
//! - Patches lie on a fixed 16x16 grid (the last row and column may run past
//!   the image; they are scored by their in-image mean and computed on a
//!   replicate-padded image) instead of being centred on the top-K pixels,
//!   so they never overlap and paste back exactly. Each patch is cropped
//!   with a 4-pixel margin and refined with unpadded convolutions, so its
//!   borders see real context.
//! - Training is one joint stage with labels; the paper's adversarial terms
//!   (Eq. 3, 5, 6), the composite loss (Eq. 4) and the self-supervised stage
//!   on unlabelled data (Eq. 8-11) are not used (see the loss module).
//!
//! Per-frame: the state is empty.

use tch::{Device, Kind, Tensor};

use super::backbone;
use crate::model::encoder::Encoder;
use crate::model::layers::{avg_down, bn, conv, normalise, resize, unflat, BnMode, ConvSpec, Ctx};
use crate::model::lraspp::Lraspp;
use crate::model::matter::{Arch, Matter, Prediction};
use crate::model::matter::weight_accessors;
use crate::model::matting_net::ModelConfig;
use crate::model::params::{ParamBuilder, ParamSet};

/// Side of a refinement patch (paper Sec. 3.3).
pub const PATCH: i64 = 16;
/// Context each side of a patch: the four unpadded 3x3 convs of RN eat it.
const MARGIN: i64 = 4;
/// Temperature of the fusion weight: a deviation gap of 0.5 gives a weight
/// of 0.993, so a network the CL module marks as wrong is all but ignored.
pub const FUSE_T: f64 = 0.1;

pub struct Vmfm {
    pub cfg: ModelConfig,
    pub params: ParamSet,
    pub buffers: ParamSet,
    /// Patches refined per frame (the paper's top-K).
    pub k: i64,
    encoder: Encoder,
    aspp: Lraspp,
}

/// Everything one forward computes, flattened over time ([B*T, C, h, w]).
pub struct Parts {
    /// Virtual modality logits at 1/4: depth-like, segmentation, interaction.
    pub vm: Tensor,
    pub pha_seg: Tensor,
    pub fgr_seg: Tensor,
    pub pha_depth: Tensor,
    pub fgr_depth: Tensor,
    /// CL deviation probability maps of the two networks, in [0, 1].
    pub dev_seg: Tensor,
    pub dev_depth: Tensor,
    /// Per-pixel trust in the segmentation network.
    pub weight: Tensor,
    pub pha_fused: Tensor,
    pub fgr_fused: Tensor,
    /// Estimated error of the fused output, which ranks the patches.
    pub err: Tensor,
    /// Chosen grid cells per frame, [B*T, K], row-major over the grid.
    pub patches: Tensor,
    /// 1 on refined pixels, 0 elsewhere.
    pub refined: Tensor,
    pub pha: Tensor,
    pub fgr: Tensor,
}

/// 3x3 conv (at `stride`) + BatchNorm + ReLU.
fn cbr(ctx: &Ctx, name: &str, x: &Tensor, stride: i64) -> Tensor {
    bn(ctx, &format!("{name}.bn"), &conv(ctx, name, x, &ConvSpec::same(3, stride))).relu()
}

/// `x` resized to the spatial size of `like` (a no-op when it already fits).
fn fit(x: &Tensor, like: &Tensor) -> Tensor {
    let (a, b) = (x.size(), like.size());
    if a[2] == b[2] && a[3] == b[3] {
        x.shallow_clone()
    } else {
        resize(x, b[2], b[3])
    }
}

/// Trust in network A per pixel: a soft version of the paper's beta (Eq. 10).
pub fn fusion_weight(dev_a: &Tensor, dev_b: &Tensor) -> Tensor {
    ((dev_b - dev_a) / FUSE_T).sigmoid()
}

/// `w a + (1 - w) b`.
pub fn blend(w: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
    w * a + (1.0 - w) * b
}

/// The `k` cells of the 16x16 grid over `err` ([N, 1, H, W]) with the highest
/// mean error, highest first: [N, min(k, cells)] indices, row-major over a
/// grid of ceil(H/16) x ceil(W/16). Edge cells average their in-image part.
pub fn select_patches(err: &Tensor, k: i64) -> Tensor {
    let n = err.size()[0];
    let scores = err.avg_pool2d([PATCH, PATCH], [PATCH, PATCH], [0, 0], true, true, None::<i64>).reshape([n, -1]);
    let k = k.min(scores.size()[1]);
    scores.topk(k, 1, true, true).1
}

impl Vmfm {
    /// A freshly initialised model; the same seed gives the same weights.
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> Vmfm {
        let _init = crate::model::params::seed_init(seed);
        let mut pb = ParamBuilder::new(device);
        let encoder = backbone(&mut pb, cfg);
        let ch = encoder.channels;
        let aspp = Lraspp::new(&mut pb, ch[3], cfg.aspp);
        let [d8, d4, d2, d1] = cfg.decoder;
        // Virtual modalities: one decoder to 1/4, three 1x1 heads.
        pb.conv_bn("vm.up3", d8, cfg.aspp + ch[2], 3);
        pb.conv_bn("vm.up2", d4, d8 + ch[1], 3);
        pb.conv("vm.head", 3, d4, 1, true);
        // SFPnet and DFPnet: modality encoder, three fusion convs, decoder.
        for p in ["sfp", "dfp"] {
            let n = |s: &str| format!("{p}.{s}");
            pb.conv_bn(&n("me1"), d1, 2, 3);
            pb.conv_bn(&n("me2"), d2, d1, 3);
            pb.conv_bn(&n("me3"), d4, d2, 3);
            pb.conv_bn(&n("fuse0"), d8, cfg.aspp + ch[2] + d4, 3);
            pb.conv_bn(&n("fuse1"), d8, d8, 3);
            pb.conv_bn(&n("fuse2"), d8, d8, 3);
            pb.conv_bn(&n("up2"), d4, d8 + ch[1] + d2 + 3, 3);
            pb.conv_bn(&n("up1"), d2, d4 + ch[0] + d1 + 3, 3);
            pb.conv_bn(&n("out1"), d1, d2 + 3, 3);
            pb.conv_bn(&n("out2"), d1, d1, 3);
            pb.conv(&n("head"), 4, d1, 1, true);
        }
        // CL: an encoder per network over (RGB, a^m), one shared decoder.
        for p in ["cl.s", "cl.d"] {
            pb.conv_bn(&format!("{p}.e1"), d1, 4, 3);
            pb.conv_bn(&format!("{p}.e2"), d2, d1, 3);
        }
        pb.conv_bn("cl.dec.mid", d2, d2, 3);
        pb.conv_bn("cl.dec.u1", d1, d2 + d1, 3);
        pb.conv_bn("cl.dec.u0", d1, d1 + 4, 3);
        pb.conv("cl.dec.head", 1, d1, 1, true);
        // RN over (RGB, alpha, foreground, error) patches (Table 8's shape).
        pb.conv_bn("rn.c0", d1, 8, 3);
        pb.conv_bn("rn.c1", 2 * d1, d1, 3);
        pb.conv_bn("rn.c2", 2 * d1, 2 * d1, 3);
        pb.conv_bn("rn.c3", d1, 2 * d1, 3);
        pb.conv("rn.head", 4, d1, 1, true);
        let k = if cfg.width >= 1.0 { 32 } else { 8 };
        Vmfm { cfg: cfg.clone(), params: pb.params, buffers: pb.buffers, k, encoder, aspp }
    }

    /// One foreground-prediction network `p` on the shared image features
    /// and its modality pair; returns (alpha, foreground).
    fn fp(&self, ctx: &Ctx, p: &str, x: &Tensor, f: &[Tensor; 4], a3: &Tensor, modality: &Tensor) -> (Tensor, Tensor) {
        let n = |s: &str| format!("{p}.{s}");
        let m1 = cbr(ctx, &n("me1"), modality, 2);
        let m2 = cbr(ctx, &n("me2"), &m1, 2);
        let m3 = cbr(ctx, &n("me3"), &m2, 2);
        let y = cbr(ctx, &n("fuse0"), &Tensor::cat(&[a3, &f[2], &fit(&m3, &f[2])], 1), 1);
        let y = cbr(ctx, &n("fuse1"), &y, 1);
        let y = cbr(ctx, &n("fuse2"), &y, 1);
        let s1 = avg_down(x);
        let s2 = avg_down(&s1);
        let y = cbr(ctx, &n("up2"), &Tensor::cat(&[&fit(&y, &f[1]), &f[1], &fit(&m2, &f[1]), &fit(&s2, &f[1])], 1), 1);
        let y = cbr(ctx, &n("up1"), &Tensor::cat(&[&fit(&y, &f[0]), &f[0], &fit(&m1, &f[0]), &fit(&s1, &f[0])], 1), 1);
        let y = cbr(ctx, &n("out1"), &Tensor::cat(&[&fit(&y, x), x], 1), 1);
        let y = cbr(ctx, &n("out2"), &y, 1);
        let o = conv(ctx, &n("head"), &y, &ConvSpec::same(1, 1));
        let fgr = (o.narrow(1, 0, 3) + x).clamp(0.0, 1.0);
        (o.narrow(1, 3, 1).sigmoid(), fgr)
    }

    /// CL module: deviation maps of both networks (inputs detached: the CL
    /// judges the alphas, its own loss does not move them).
    fn cl(&self, ctx: &Ctx, x: &Tensor, a_s: &Tensor, a_d: &Tensor) -> (Tensor, Tensor) {
        let enc = |p: &str, a: &Tensor| {
            let i = Tensor::cat(&[x, &a.detach()], 1);
            let e1 = cbr(ctx, &format!("{p}.e1"), &i, 2);
            let e2 = cbr(ctx, &format!("{p}.e2"), &e1, 2);
            (i, e1, e2)
        };
        let (is, e1s, e2s) = enc("cl.s", a_s);
        let (id, e1d, e2d) = enc("cl.d", a_d);
        // Both through the shared decoder in one batch.
        let (i, e1, e2) = (Tensor::cat(&[is, id], 0), Tensor::cat(&[e1s, e1d], 0), Tensor::cat(&[e2s, e2d], 0));
        let y = cbr(ctx, "cl.dec.mid", &e2, 1);
        let y = cbr(ctx, "cl.dec.u1", &Tensor::cat(&[&fit(&y, &e1), &e1], 1), 1);
        let y = cbr(ctx, "cl.dec.u0", &Tensor::cat(&[&fit(&y, &i), &i], 1), 1);
        let dev = conv(ctx, "cl.dec.head", &y, &ConvSpec::same(1, 1)).sigmoid();
        let n = x.size()[0];
        (dev.narrow(0, 0, n), dev.narrow(0, n, n))
    }

    /// RN on the top-K patches of `err`; returns (alpha, foreground, chosen
    /// cells, refined-pixel mask). Outside the patches alpha and foreground
    /// are copies of the inputs.
    fn refine(&self, ctx: &Ctx, x: &Tensor, pha: &Tensor, fgr: &Tensor, err: &Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        let s = x.size();
        let (n, h, w) = (s[0], s[2], s[3]);
        let patches = select_patches(&err.detach(), self.k.max(0));
        let k = patches.size()[1];
        if k == 0 {
            return (pha.shallow_clone(), fgr.shallow_clone(), patches, pha.zeros_like());
        }
        let (gh, gw) = ((h + PATCH - 1) / PATCH, (w + PATCH - 1) / PATCH);
        let io = (Kind::Int64, x.device());
        let cells = patches.reshape([-1]);
        let frame = Tensor::arange(n, io).repeat_interleave_self_int(k, 0, None::<i64>).view([-1, 1, 1]);
        let (row, col) = (cells.floor_divide_scalar(gw) * PATCH, cells.remainder(gw) * PATCH);
        let ys = |size: i64| row.view([-1, 1, 1]) + Tensor::arange(size, io).view([1, -1, 1]);
        let xs = |size: i64| col.view([-1, 1, 1]) + Tensor::arange(size, io).view([1, 1, -1]);
        // Crops with margin from a replicate-padded (RGB, alpha, fgr, error) map.
        let input = Tensor::cat(&[x, pha, fgr, &err.detach()], 1);
        let padded = input.replication_pad2d([MARGIN, gw * PATCH - w + MARGIN, MARGIN, gh * PATCH - h + MARGIN]);
        let side = PATCH + 2 * MARGIN;
        let crops = padded.permute([0, 2, 3, 1]).index(&[Some(&frame), Some(&ys(side)), Some(&xs(side))]).permute([0, 3, 1, 2]);
        let valid = ConvSpec { stride: 1, padding: 0, dilation: 1, groups: 1 };
        let mut y = crops.shallow_clone();
        for l in ["rn.c0", "rn.c1", "rn.c2", "rn.c3"] {
            y = bn(ctx, &format!("{l}.bn"), &conv(ctx, l, &y, &valid)).relu();
        }
        let delta = conv(ctx, "rn.head", &y, &ConvSpec::same(1, 1)).tanh();
        let centre = crops.narrow(2, MARGIN, PATCH).narrow(3, MARGIN, PATCH);
        let new_fgr = (centre.narrow(1, 4, 3) + delta.narrow(1, 0, 3)).clamp(0.0, 1.0);
        let new_pha = (centre.narrow(1, 3, 1) + delta.narrow(1, 3, 1)).clamp(0.0, 1.0);
        // Paste into grid-padded copies, then crop back to the image.
        let paste = |base: &Tensor, v: &Tensor| {
            base.constant_pad_nd([0, gw * PATCH - w, 0, gh * PATCH - h])
                .permute([0, 2, 3, 1])
                .index_put(&[Some(&frame), Some(&ys(PATCH)), Some(&xs(PATCH))], &v.permute([0, 2, 3, 1]), false)
                .permute([0, 3, 1, 2])
                .narrow(2, 0, h)
                .narrow(3, 0, w)
        };
        let out = paste(&Tensor::cat(&[pha, fgr], 1), &Tensor::cat(&[&new_pha, &new_fgr], 1));
        let mask = paste(&pha.zeros_like(), &new_pha.ones_like().detach());
        (out.narrow(1, 0, 1), out.narrow(1, 1, 3), patches, mask)
    }

    /// The whole pipeline on `src` [B, T, 3, H, W], frames independent.
    pub fn forward_parts(&self, params: &ParamSet, src: &Tensor, train: bool) -> Parts {
        let ctx = Ctx { p: params, buffers: &self.buffers, bn: BnMode::train(train) };
        let s = src.size();
        let (h, w) = (s[3], s[4]);
        let x = src.narrow(2, 0, 3).reshape([s[0] * s[1], 3, h, w]);
        let f = self.encoder.forward(&ctx, &normalise(&x));
        let a3 = fit(&self.aspp.forward(&ctx, &f[3]), &f[2]);
        // Virtual modalities (D-Net, S-Net, I-Net stand-ins).
        let v = cbr(&ctx, "vm.up3", &Tensor::cat(&[&a3, &f[2]], 1), 1);
        let v = cbr(&ctx, "vm.up2", &Tensor::cat(&[&fit(&v, &f[1]), &f[1]], 1), 1);
        let vm = conv(&ctx, "vm.head", &v, &ConvSpec::same(1, 1));
        let maps = resize(&vm, h, w).sigmoid();
        let (depth, seg, hoi) = (maps.narrow(1, 0, 1), maps.narrow(1, 1, 1), maps.narrow(1, 2, 1));
        // Dual foreground prediction (Sec. 3.1).
        let (pha_seg, fgr_seg) = self.fp(&ctx, "sfp", &x, &f, &a3, &Tensor::cat(&[&seg, &hoi], 1));
        let (pha_depth, fgr_depth) = self.fp(&ctx, "dfp", &x, &f, &a3, &Tensor::cat(&[&depth, &hoi], 1));
        // Complementary learning (Sec. 3.2) and fusion.
        let (dev_seg, dev_depth) = self.cl(&ctx, &x, &pha_seg, &pha_depth);
        let weight = fusion_weight(&dev_seg, &dev_depth);
        let pha_fused = blend(&weight, &pha_seg, &pha_depth);
        let fgr_fused = blend(&weight, &fgr_seg, &fgr_depth);
        let err = blend(&weight, &dev_seg, &dev_depth);
        // Refinement (Sec. 3.3).
        let (pha, fgr, patches, refined) = self.refine(&ctx, &x, &pha_fused, &fgr_fused, &err);
        Parts { vm, pha_seg, fgr_seg, pha_depth, fgr_depth, dev_seg, dev_depth, weight, pha_fused, fgr_fused, err, patches, refined, pha, fgr }
    }
}

impl Matter for Vmfm {
    fn arch(&self) -> Arch {
        Arch::Vmfm
    }
    weight_accessors!();
    /// Aux: `vm` (modality logits at 1/4: depth-like, segmentation,
    /// interaction), each network's `pha_*`/`fgr_*` and `dev_*`, the fused
    /// `pha_fused`/`fgr_fused`, and the `refined` pixel mask.
    fn run(&self, params: &ParamSet, src: &Tensor, _state: Option<&[Tensor]>, train: bool) -> Prediction {
        let s = src.size();
        let p = self.forward_parts(params, src, train);
        let u = |x: &Tensor| unflat(x, s[0], s[1]);
        let aux = [
            ("vm", &p.vm),
            ("pha_seg", &p.pha_seg),
            ("fgr_seg", &p.fgr_seg),
            ("pha_depth", &p.pha_depth),
            ("fgr_depth", &p.fgr_depth),
            ("dev_seg", &p.dev_seg),
            ("dev_depth", &p.dev_depth),
            ("pha_fused", &p.pha_fused),
            ("fgr_fused", &p.fgr_fused),
            ("refined", &p.refined),
        ];
        Prediction {
            pha: u(&p.pha),
            fgr: u(&p.fgr),
            state: vec![],
            aux: aux.into_iter().map(|(n, t)| (n.to_string(), u(t))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::zoo::vmfm::modality_targets;
    use crate::loss::zoo::{model_loss, Targets};
    use crate::model::zoo::build;
    use crate::train::adam::Adam;

    const CPU: Device = Device::Cpu;

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    /// Pixel mask [N, 1, h, w] of the grid cells in `patches` [N, K].
    fn cell_mask(patches: &Tensor, h: i64, w: i64) -> Tensor {
        let (n, k) = (patches.size()[0], patches.size()[1]);
        let gw = (w + PATCH - 1) / PATCH;
        let m = Tensor::zeros([n, 1, h, w], (Kind::Float, CPU));
        for i in 0..n {
            for j in 0..k {
                let c = patches.int64_value(&[i, j]);
                let (y, x) = ((c / gw) * PATCH, (c % gw) * PATCH);
                let (ph, pw) = (PATCH.min(h - y), PATCH.min(w - x));
                let _ = m.get(i).narrow(1, y, ph).narrow(2, x, pw).fill_(1.0);
            }
        }
        m
    }

    #[test]
    fn shapes_ranges_and_empty_state() {
        let net = build(Arch::Vmfm, &ModelConfig::quick(), CPU, 0);
        assert_eq!(net.arch(), Arch::Vmfm);
        let src = Tensor::rand([2, 3, 3, 36, 64], (Kind::Float, CPU));
        let out = net.run(net.params(), &src, None, false);
        assert_eq!(out.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(out.fgr.size(), vec![2, 3, 3, 36, 64]);
        assert!(out.state.is_empty(), "per-frame model");
        for t in [&out.pha, &out.fgr, out.aux("dev_seg"), out.aux("dev_depth"), out.aux("pha_fused")] {
            assert!(t.min().double_value(&[]) >= 0.0 && t.max().double_value(&[]) <= 1.0);
        }
        assert_eq!(out.aux("vm").size(), vec![2, 3, 3, 9, 16], "modalities at 1/4");
        assert_eq!(out.aux("dev_depth").size(), vec![2, 3, 1, 36, 64]);
        // Grid 3x4 (the last row 4 pixels high); 8 cells refined per frame.
        let per_frame = Vec::<f64>::try_from(out.aux("refined").sum_dim_intlist([2, 3, 4].as_slice(), false, Kind::Double).reshape([-1])).unwrap();
        for n in per_frame {
            assert!(n > 0.0 && n <= 8.0 * 256.0 && (n - 8.0 * 256.0) % 192.0 == 0.0, "refined {n} pixels");
        }
        // The empty state carries nothing, and frames are independent.
        let again = net.run(net.params(), &src, Some(&out.state), false);
        assert_eq!(max_abs(&again.pha, &out.pha), 0.0);
        let alone = net.run(net.params(), &src.narrow(1, 2, 1), None, false);
        assert!(max_abs(&alone.pha, &out.pha.narrow(1, 2, 1)) < 1e-4);
        // The paper widths build and run too, with more patches.
        let paper = Vmfm::new(&ModelConfig::paper(), CPU, 0);
        assert_eq!(paper.k, 32);
        let p = paper.run(&paper.params, &src.narrow(0, 0, 1).narrow(1, 0, 1), None, false);
        assert_eq!(p.pha.size(), vec![1, 1, 1, 36, 64]);
    }

    /// A disc (person) holding a bar (held object), an interferer behind.
    fn toy_batch() -> (Tensor, Tensor, Tensor, Tensor) {
        let (h, w) = (32i64, 48i64);
        let opts = (Kind::Float, CPU);
        let yy = Tensor::arange(h, opts).view([h, 1]).expand([h, w], false);
        let xx = Tensor::arange(w, opts).view([1, w]).expand([h, w], false);
        let mut frames = vec![];
        for (cx, bar) in [(18.0, 30), (21.0, 33)] {
            let disc = ((&yy - 16.0).square() + (&xx - cx).square()).le(81.0);
            let lab = disc.to_kind(Kind::Float);
            let _ = lab.narrow(0, 14, 4).narrow(1, bar, 10).fill_(2.0);
            let _ = lab.narrow(0, 2, 6).narrow(1, 2, 8).fill_(4.0);
            frames.push(lab);
        }
        let labels: Tensor = Tensor::stack(&frames, 0).view([1, 2, 1, h, w]);
        let fg = labels.gt(0.5).logical_and(&labels.lt(3.5)).to_kind(Kind::Float);
        let pha: Tensor = fg.view([2, 1, h, w]).avg_pool2d([3, 3], [1, 1], [1, 1], false, false, None::<i64>).view([1, 2, 1, h, w]);
        let fgr: Tensor = Tensor::from_slice(&[0.9f32, 0.5, 0.2]).view([1, 1, 3, 1, 1]).expand([1, 2, 3, h, w], false) * (labels.eq(2.0) * 0.5 + 0.5);
        let bg: Tensor = Tensor::from_slice(&[0.2f32, 0.3, 0.6]).view([1, 1, 3, 1, 1]) + labels.eq(4.0) * 0.3;
        let src: Tensor = (&pha * &fgr + (1f64 - &pha) * bg).clamp(0.0, 1.0);
        (src, pha, fgr, labels)
    }

    #[test]
    fn loss_falls_when_overfitting_one_batch() {
        let net = Vmfm::new(&ModelConfig::quick(), CPU, 1);
        let (src, pha, fgr, labels) = toy_batch();
        let t = Targets { pha: &pha, fgr: &fgr, labels: Some(&labels) };
        let mut opt = Adam::new(&net.params, 3e-3);
        let mut losses = vec![];
        for _ in 0..50 {
            let pred = net.run(&net.params, &src, None, true);
            let loss = model_loss(Arch::Vmfm, &pred, &t);
            losses.push(loss.double_value(&[]));
            let g = Tensor::run_backward(&[&loss], net.params.tensors(), false, false);
            opt.update(&net.params, &g);
        }
        let (first, last) = (losses[0], *losses.last().unwrap());
        assert!(last.is_finite() && last < 0.5 * first, "loss {first} -> {last}");
        // Without labels the modality terms drop out.
        let pred = net.run(&net.params, &src, None, true);
        let unlabelled = model_loss(Arch::Vmfm, &pred, &Targets { pha: &pha, fgr: &fgr, labels: None }).double_value(&[]);
        let labelled = model_loss(Arch::Vmfm, &pred, &t).double_value(&[]);
        assert!(labelled > unlabelled && unlabelled > 0.0, "{labelled} vs {unlabelled}");
    }

    #[test]
    fn modality_targets_from_labels() {
        let lab = Tensor::zeros([1, 1, 1, 32, 32], (Kind::Float, CPU));
        let _ = lab.narrow(3, 0, 16).fill_(1.0); // person: top half
        let _ = lab.narrow(3, 12, 4).narrow(4, 12, 8).fill_(2.0); // held object
        let _ = lab.narrow(3, 28, 4).narrow(4, 0, 4).fill_(4.0); // interferer
        let _ = lab.narrow(3, 28, 4).narrow(4, 28, 4).fill_(3.0); // free object
        let (depth, seg, hoi) = modality_targets(&lab);
        let at = |t: &Tensor, y: i64, x: i64| t.double_value(&[0, 0, 0, y, x]);
        let d = [at(&depth, 20, 20), at(&depth, 2, 2), at(&depth, 13, 14), at(&depth, 29, 29), at(&depth, 29, 1)];
        for (got, want) in d.into_iter().zip([0.0, 0.6, 1.0, 0.6, 0.2]) {
            assert!((got - want).abs() < 1e-6, "{d:?}");
        }
        assert_eq!([at(&seg, 20, 20), at(&seg, 2, 2), at(&seg, 13, 14), at(&seg, 29, 29), at(&seg, 29, 1)], [0.0, 1.0, 1.0, 1.0, 0.0]);
        // r = 2: the held box dilated by 2 then blurred by 5x5.
        assert!((at(&hoi, 13, 15) - 1.0).abs() < 1e-6, "interior of the dilated box");
        assert_eq!(at(&hoi, 2, 2), 0.0, "far from the held object");
        let edge = at(&hoi, 17, 15); // one row beyond the box: inside the dilation, near its edge
        assert!(edge > 0.3 && edge < 1.0, "{edge}");
        assert!(at(&hoi, 21, 15) == 0.0, "beyond dilation + blur radius");
    }

    #[test]
    fn top_k_patches_are_the_highest_error_cells() {
        // 40x50: a 3x4 grid whose last row is 8 and last column 2 pixels wide.
        let (h, w) = (40i64, 50i64);
        let err = Tensor::zeros([2, 1, h, w], (Kind::Float, CPU));
        let fill = |n: i64, cell: i64, v: f64| {
            let (y, x) = ((cell / 4) * 16, (cell % 4) * 16);
            let _ = err.get(n).narrow(1, y, 16.min(h - y)).narrow(2, x, 16.min(w - x)).fill_(v);
        };
        // Frame 0: distinct cell means; the 8x2 corner cell is the largest.
        let values0 = [0.10, 0.50, 0.05, 0.30, 0.20, 0.70, 0.15, 0.60, 0.25, 0.40, 0.35, 0.90];
        for (c, v) in values0.iter().enumerate() {
            fill(0, c as i64, *v);
        }
        // Frame 1: low everywhere; one single-pixel spike must not win over
        // cells whose mean is higher.
        for (c, v) in [(2, 0.2), (6, 0.3), (9, 0.1), (10, 0.25)] {
            fill(1, c, v);
        }
        let _ = err.get(1).narrow(1, 3, 1).narrow(2, 3, 1).fill_(5.0);
        let got = select_patches(&err, 3);
        assert_eq!(Vec::<i64>::try_from(got.get(0)).unwrap(), vec![11, 5, 7]);
        assert_eq!(Vec::<i64>::try_from(got.get(1)).unwrap(), vec![6, 10, 2]);
        // K beyond the grid takes every cell, in order.
        let all = select_patches(&err, 20);
        assert_eq!(Vec::<i64>::try_from(all.get(0)).unwrap(), vec![11, 5, 7, 1, 9, 10, 3, 8, 4, 6, 0, 2]);
    }

    #[test]
    fn refinement_touches_only_the_chosen_patches() {
        let mut net = Vmfm::new(&ModelConfig::quick(), CPU, 2);
        net.k = 5;
        let src = Tensor::rand([1, 2, 3, 40, 50], (Kind::Float, CPU));
        let p = net.forward_parts(&net.params, &src, false);
        assert_eq!(p.patches.size(), vec![2, 5]);
        assert!(p.patches.equal(&select_patches(&p.err, 5)), "chosen from the fused error map");
        let mask = cell_mask(&p.patches, 40, 50);
        assert!(p.refined.equal(&mask));
        let outside = 1.0 - &mask;
        assert_eq!(max_abs(&(&p.pha * &outside), &(&p.pha_fused * &outside)), 0.0, "alpha outside the patches is the fused alpha");
        assert_eq!(max_abs(&(&p.fgr * &outside), &(&p.fgr_fused * &outside)), 0.0);
        assert!(max_abs(&(&p.pha * &mask), &(&p.pha_fused * &mask)) > 1e-3, "the patches are refined");
        net.k = 0;
        let q = net.forward_parts(&net.params, &src, false);
        assert!(q.pha.equal(&q.pha_fused), "no patches, no change");
    }

    #[test]
    fn fusion_follows_the_deviation_map() {
        let opts = (Kind::Float, CPU);
        let a = Tensor::rand([2, 1, 20, 30], opts);
        let b = Tensor::rand([2, 1, 20, 30], opts);
        // Left half: network A's deviation is 0.1, B's 0.8 (trust A); right: the reverse.
        let left = Tensor::arange(30, opts).lt(15.0).to_kind(Kind::Float).view([1, 1, 1, 30]);
        let dev_a = &left * 0.1 + (1.0 - &left) * 0.8;
        let dev_b = &left * 0.8 + (1.0 - &left) * 0.1;
        let wgt = fusion_weight(&dev_a, &dev_b);
        let fused = blend(&wgt, &a, &b);
        assert!(max_abs(&fused.narrow(3, 0, 15), &a.narrow(3, 0, 15)) < 1e-3);
        assert!(max_abs(&fused.narrow(3, 15, 15), &b.narrow(3, 15, 15)) < 1e-3);
        // Equal deviations: the plain average.
        let even = blend(&fusion_weight(&dev_a, &dev_a), &a, &b);
        assert!(max_abs(&even, &((&a + &b) / 2.0)) < 1e-6);
        // The model fuses by its own CL maps.
        let net = Vmfm::new(&ModelConfig::quick(), CPU, 3);
        let p = net.forward_parts(&net.params, &Tensor::rand([1, 1, 3, 36, 64], opts), false);
        let want = blend(&fusion_weight(&p.dev_seg, &p.dev_depth), &p.pha_seg, &p.pha_depth);
        assert!(max_abs(&p.pha_fused, &want) < 1e-6);
    }

    #[test]
    fn same_seed_same_outputs() {
        let src = Tensor::rand([1, 2, 3, 36, 64], (Kind::Float, CPU));
        let run = |seed| {
            let net = Vmfm::new(&ModelConfig::quick(), CPU, seed);
            net.run(&net.params, &src, None, false).pha
        };
        assert!(run(5).equal(&run(5)));
        assert!(max_abs(&run(5), &run(6)) > 1e-4);
    }
}
