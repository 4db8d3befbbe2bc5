//! DFIMat-like interactive matting (Jiao et al., "DFIMat: Decoupled Flexible
//! Interactive Matting in Multi-Person Scenarios").
//!
//! The paper decouples interactive matting into two networks: an
//! interactive semantic capture network (ISCN, Sec. 3.2) that reads the
//! image and the user's clicks, scribbles, boxes or text and predicts a
//! coarse mask of the wanted instance (Eq. 1-5, an X-decoder with visual
//! prompts sampled from image features at the clicked places, Eq. 1), with
//! a contrastive reasoning module (CRM) that embeds where a new input
//! contradicts the previous round's prediction; and a matting refinement
//! network (MRN, Sec. 3.3) with a global and a local encoder fused from low
//! to high resolution that turns the coarse mask and the image into alpha.
//! Users interact over several rounds, each adding inputs where the last
//! prediction is most wrong (Sec. 5.2).
//!
//! Ours keeps the decoupling, the multi-type visual input, the visual
//! sampler, the CRM conflict map and the multi-round protocol, at the size
//! of the zoo:
//! - User input is [`PROMPTS`] maps after RGB in `src` (layout in
//!   [`PROMPTS`]). Text prompts and scribbles are out of scope.
//! - ISCN: the zoo backbone on RGB (its `backbone.*` parameters untouched, so it
//!   starts from the factory encoder); a small prompt encoder (`pe.*`) on the
//!   prompt maps and the CRM conflict map, added to the backbone features
//!   at 1/4, 1/8 and 1/16. Eq. 1's visual sampler becomes a masked average
//!   of 1/8 features under the positive (negative) click maps, and Eq. 2-5's
//!   prompt-image interaction a dot product of every pixel's feature with
//!   those two prompt vectors (X-decoder's mask-embedding product, one step
//!   instead of a stack of attention layers). The coarse mask is predicted
//!   at 1/4 (aux "mask", probabilities). No class head: our target is
//!   always the one prompted instance.
//! - CRM: the conflict map is computed from the inputs (positive clicks
//!   where the previous alpha is low, negative ones where it is high) and
//!   the previous alpha itself is a channel, instead of masked attention.
//! - MRN: the global branch is the ISCN's 1/4 features (instead of a
//!   separate transformer encoder), the local branch a CNN on the image and
//!   the coarse mask at 1/2 and at full resolution (there with the click
//!   maps, so a click also acts on the pixels next to it), fused from low
//!   to high resolution. Like PRM (the paper's ref. [38]) the refinement only
//!   corrects the coarse mask: alpha = sigmoid(coarse logit + delta). The
//!   coarse mask enters the MRN without gradient, so the mask head learns
//!   from Eq. 6 alone as in the paper's separately trained ISCN; the two
//!   stages train jointly (the paper trains ISCN, freezes it, then MRN).
//! - fgr is a residual over the source as in RVM; the model is per frame
//!   (state empty).
//! - Rounds add one correction click each (the paper adds 3 clicks per
//!   round) at the deepest point of the largest error region.

use tch::{Device, Tensor};

use super::super::encoder::Encoder;
use super::super::layers::{bn, cbr, conv, flat, normalise, resize, unflat, BnMode, ConvSpec, Ctx};
use super::super::matter::{Arch, Matter, Prediction};
use crate::model::matter::weight_accessors;
use super::super::matting_net::ModelConfig;
use super::super::params::{ParamBuilder, ParamSet};
use super::backbone;
pub use super::clicks::{add_correction, first_prompts, interactive_alpha, training_input, CLICKS, ROUNDS};

/// Prompt channels after RGB: 0 positive clicks, 1 negative clicks (each
/// click a Gaussian of peak 1 at the clicked pixel, maps combined by max),
/// 2 the box (filled rectangle of ones; zeros when no box is given),
/// 3 the previous round's alpha (zeros in the first round).
pub const PROMPTS: i64 = 4;

/// Channels the prompt encoder reads: the prompts and the CRM's two
/// conflict maps.
const PE_IN: i64 = PROMPTS + 2;

pub struct Dfimat {
    cfg: ModelConfig,
    params: ParamSet,
    buffers: ParamSet,
    encoder: Encoder,
}

/// Downsample a map by area averaging to exactly h x w (keeps a small click
/// visible where bilinear sampling could step over it).
fn area(x: &Tensor, h: i64, w: i64) -> Tensor {
    x.adaptive_avg_pool2d([h, w])
}

/// `x` resized to the spatial size of `like` (a no-op when they agree).
fn fit(x: &Tensor, like: &Tensor) -> Tensor {
    let (a, b) = (x.size(), like.size());
    if a[2] == b[2] && a[3] == b[3] {
        x.shallow_clone()
    } else {
        resize(x, b[2], b[3])
    }
}

impl Dfimat {
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> Dfimat {
        let _init = crate::model::params::seed_init(seed);
        let mut pb = ParamBuilder::new(device);
        let encoder = backbone(&mut pb, cfg);
        let ch = encoder.channels;
        let [d8, d4, d2, d1] = cfg.decoder;
        // Prompt encoder: stride-2 3x3 convs, so its maps line up with the
        // backbone's at 1/2 .. 1/16; 1x1 projections added to the features.
        let pc = d1.max(8);
        pb.conv("pe.c1", pc, PE_IN, 3, true);
        for i in 2..=4 {
            pb.conv(&format!("pe.c{i}"), pc, pc, 3, true);
        }
        pb.conv("pe.to4", ch[1], pc, 1, true);
        pb.conv("pe.to8", ch[2], pc, 1, true);
        pb.conv("pe.to16", ch[3], pc, 1, true);
        // ISCN decoder.
        pb.conv_bn("iscn.d16", cfg.aspp, ch[3], 1);
        pb.conv_bn("iscn.d8", d8, cfg.aspp + ch[2], 3);
        pb.conv("iscn.key", d8, d8, 1, true);
        pb.conv_bn("iscn.d4", d4, d8 + 2 + ch[1], 3);
        pb.conv("iscn.mask", 1, d4, 1, true);
        // MRN: local branch at 1/2, fusion at 1/2 and 1, head.
        pb.conv_bn("mrn.local", d2, 4, 3);
        pb.conv_bn("mrn.fuse2", d2, d4 + ch[0] + d2, 3);
        pb.conv_bn("mrn.fuse1", d1, d2 + 4 + 2, 3);
        pb.conv("mrn.head", 4, d1, 1, true);
        Dfimat { cfg: cfg.clone(), params: pb.params, buffers: pb.buffers, encoder }
    }

    /// One batch of frames: x is [N, 3 + PROMPTS, H, W]; returns alpha,
    /// foreground and the coarse mask logits at 1/4.
    fn frames(&self, ctx: &Ctx, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let s = x.size();
        let (h, w) = (s[2], s[3]);
        let rgb = x.narrow(1, 0, 3);
        let pr = x.narrow(1, 3, PROMPTS).to_kind(rgb.kind());
        let (pos, neg, prev) = (pr.narrow(1, 0, 1), pr.narrow(1, 1, 1), pr.narrow(1, 3, 1));
        // CRM: positive input over a previous background, negative input
        // over a previous foreground.
        let conflict = Tensor::cat(&[&pos * (1.0 - &prev), &neg * &prev], 1);
        let f = self.encoder.forward(ctx, &normalise(&rgb));

        // Prompt encoder, added to the backbone features.
        let mut p = Tensor::cat(&[&pr, &conflict], 1);
        let mut pe = Vec::with_capacity(4);
        for i in 1..=4 {
            p = conv(ctx, &format!("pe.c{i}"), &p, &ConvSpec::same(3, 2)).relu();
            pe.push(p.shallow_clone());
        }
        let one = ConvSpec::same(1, 1);
        let f2 = &f[1] + fit(&conv(ctx, "pe.to4", &pe[1], &one), &f[1]);
        let f3 = &f[2] + fit(&conv(ctx, "pe.to8", &pe[2], &one), &f[2]);
        let f4 = &f[3] + fit(&conv(ctx, "pe.to16", &pe[3], &one), &f[3]);

        // ISCN: context at 1/16 (a 1x1 conv, as LR-ASPP's), the visual
        // sampler and prompt-pixel similarity at 1/8, the coarse mask at 1/4.
        let x16 = bn(ctx, "iscn.d16.bn", &conv(ctx, "iscn.d16", &f4, &one)).relu();
        let g8 = cbr(ctx, "iscn.d8", &Tensor::cat(&[&fit(&x16, &f3), &f3], 1));
        let key = conv(ctx, "iscn.key", &g8, &one);
        let (h8, w8) = (g8.size()[2], g8.size()[3]);
        let scale = (g8.size()[1] as f64).sqrt();
        let sim = |clicks: &Tensor| {
            let m = area(clicks, h8, w8);
            let token = (&key * &m).sum_dim_intlist(&[2i64, 3][..], true, key.kind()) / (m.sum_dim_intlist(&[2i64, 3][..], true, m.kind()) + 1e-6);
            (&key * token).sum_dim_intlist(1, true, key.kind()) / scale
        };
        let g8 = Tensor::cat(&[g8.shallow_clone(), sim(&pos), sim(&neg)], 1);
        let g4 = cbr(ctx, "iscn.d4", &Tensor::cat(&[&fit(&g8, &f2), &f2], 1));
        let mask = conv(ctx, "iscn.mask", &g4, &one);

        // MRN: the coarse mask (without gradient) and the image, local at
        // 1/2, fused with the global 1/4 features, then at full resolution.
        let coarse = resize(&mask.detach(), h, w);
        let cp = coarse.sigmoid();
        let (h2, w2) = (f[0].size()[2], f[0].size()[3]);
        let local = cbr(ctx, "mrn.local", &area(&Tensor::cat(&[&rgb, &cp], 1), h2, w2));
        let x2 = cbr(ctx, "mrn.fuse2", &Tensor::cat(&[&resize(&g4, h2, w2), &f[0], &local], 1));
        let x1 = cbr(ctx, "mrn.fuse1", &Tensor::cat(&[&resize(&x2, h, w), &rgb, &cp, &pos, &neg], 1));
        let out = conv(ctx, "mrn.head", &x1, &one);
        let pha = (coarse + out.narrow(1, 3, 1)).sigmoid();
        let fgr = (out.narrow(1, 0, 3) + &rgb).clamp(0.0, 1.0);
        (pha, fgr, mask)
    }
}

impl Matter for Dfimat {
    fn arch(&self) -> Arch {
        Arch::Dfimat
    }
    weight_accessors!();
    fn run(&self, params: &ParamSet, src: &Tensor, _state: Option<&[Tensor]>, train: bool) -> Prediction {
        let s = src.size();
        assert_eq!(s[2], 3 + PROMPTS, "dfimat reads RGB and {PROMPTS} prompt maps");
        let ctx = Ctx { p: params, buffers: &self.buffers, bn: BnMode::train(train) };
        let (pha, fgr, mask) = self.frames(&ctx, &flat(src));
        let (b, t) = (s[0], s[1]);
        Prediction {
            pha: unflat(&pha, b, t),
            fgr: unflat(&fgr, b, t),
            state: vec![],
            aux: vec![("mask".into(), unflat(&mask.sigmoid(), b, t))],
        }
    }
    fn prompt_channels(&self) -> i64 {
        PROMPTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::clicks::tests::disc;
    use super::super::clicks::{cpu_values, stamp_click};
    use crate::world::rng::Rand;
    use tch::Kind;
    use crate::loss::zoo::{dfimat::loss, Targets};
    use crate::train::adam::Adam;

    /// A smooth synthetic frame: a coloured disc (the target) and a second
    /// disc of another colour (a distractor), on a gradient background.
    fn scene(h: i64, w: i64) -> (Tensor, Tensor) {
        let a = disc(h, w, w as f64 * 0.35, h as f64 * 0.5, h as f64 * 0.3);
        let other = disc(h, w, w as f64 * 0.8, h as f64 * 0.45, h as f64 * 0.2);
        let bg = Tensor::linspace(0.1, 0.5, w, (Kind::Float, Device::Cpu)).view([1, 1, 1, w]).expand([1, 3, h, w], true);
        let fg = Tensor::from_slice(&[0.9f32, 0.3, 0.2]).view([1, 3, 1, 1]);
        let fg2 = Tensor::from_slice(&[0.2f32, 0.4, 0.9]).view([1, 3, 1, 1]);
        let com = &a * &fg + (1.0 - &a) * (&other * &fg2 + (1.0 - &other) * &bg);
        (com, a)
    }

    /// Train on one frame with freshly simulated prompts each step.
    fn overfit(net: &Dfimat, com: &Tensor, truth: &Tensor, steps: usize, t: i64) -> Vec<f64> {
        let mut opt = Adam::new(net.params(), 5e-3);
        let src = com.unsqueeze(0).expand([1, t, -1, -1, -1], true);
        let pha = truth.unsqueeze(0).expand([1, t, -1, -1, -1], true);
        let fgr = com.unsqueeze(0).expand([1, t, -1, -1, -1], true);
        let mut r = Rand::keyed("dfimat-overfit", 0);
        let mut losses = vec![];
        for _ in 0..steps {
            let x = training_input(&src, &pha, &mut r);
            let pred = net.run(net.params(), &x, None, true);
            let l = loss(&pred, &Targets { pha: &pha, fgr: &fgr, labels: None });
            let g = Tensor::run_backward(&[&l], net.params().tensors(), false, false);
            opt.update(net.params(), &g);
            losses.push(l.double_value(&[]));
        }
        losses
    }

    #[test]
    fn shapes_ranges_and_empty_state() {
        let net = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 0);
        assert_eq!(net.prompt_channels(), 4);
        tch::manual_seed(1);
        let rgb = Tensor::rand([2, 3, 3, 36, 64], (Kind::Float, Device::Cpu));
        let truth = disc(36, 64, 30.0, 18.0, 10.0).view([1, 1, 1, 36, 64]).expand([2, 3, 1, 36, 64], true);
        let src = training_input(&rgb, &truth, &mut Rand::keyed("shapes", 0));
        assert_eq!(src.size(), vec![2, 3, 7, 36, 64]);
        let out = net.run(net.params(), &src, None, false);
        assert_eq!(out.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(out.fgr.size(), vec![2, 3, 3, 36, 64]);
        assert_eq!(out.aux("mask").size(), vec![2, 3, 1, 9, 16], "coarse mask at 1/4");
        for t in [&out.pha, &out.fgr, out.aux("mask")] {
            assert!(t.min().double_value(&[]) >= 0.0 && t.max().double_value(&[]) <= 1.0);
        }
        assert!(out.state.is_empty(), "per-frame model");
        let again = net.run(net.params(), &src, Some(&out.state), false);
        assert_eq!(f64::try_from((again.pha - &out.pha).abs().max()).unwrap(), 0.0);
        // Training mode (batch statistics) runs at an odd size too.
        let tr = net.run(net.params(), &src, None, true);
        assert_eq!(tr.pha.size(), vec![2, 3, 1, 36, 64]);
        // The paper profile's widths and depth fit together too.
        let big = Dfimat::new(&ModelConfig::paper(), Device::Cpu, 0);
        let out = big.run(big.params(), &src.narrow(0, 0, 1).narrow(1, 0, 1), None, false);
        assert_eq!(out.pha.size(), vec![1, 1, 1, 36, 64]);
        eprintln!("dfimat parameters: quick {}, paper {}", net.params().numel(), big.params().numel());
    }

    #[test]
    fn loss_falls_when_overfitting_one_frame() {
        let net = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 3);
        let (com, truth) = scene(32, 48);
        let l = overfit(&net, &com, &truth, 50, 2);
        let (first, last) = (l[0], l[l.len() - 3..].iter().sum::<f64>() / 3.0);
        eprintln!("dfimat overfit: {first:.4} -> {last:.4}");
        assert!(last < 0.3 * first, "loss {first} -> {last}");
    }

    /// Mean |change of alpha| within 6 px of a new click and beyond 48 px
    /// (outside the local receptive field of the prompt encoder and the
    /// decoders) on untrained nets, 64x128, a disc target with a box and
    /// a click: the maps enter the decoders locally, so the change is
    /// concentrated at the click; what reaches far is the visual sampler's
    /// global prompt-feature similarity.
    #[test]
    fn a_click_changes_alpha_mostly_near_it() {
        let (h, w) = (64usize, 128usize);
        let truth = disc(h as i64, w as i64, 40.0, 32.0, 18.0);
        let com = (&truth * 0.8 + 0.1).expand([1, 3, h as i64, w as i64], true)
            + Tensor::linspace(0.0, 0.1, w as i64, (Kind::Float, Device::Cpu)).view([1, 1, 1, w as i64]);
        let prompts = first_prompts(&truth, 1, true, &mut Rand::keyed("near", 0));
        let yy = Tensor::arange(h as i64, (Kind::Float, Device::Cpu)).view([h as i64, 1]);
        let xx = Tensor::arange(w as i64, (Kind::Float, Device::Cpu)).view([1, w as i64]);
        let (mut near_sum, mut far_sum) = (0.0, 0.0);
        for seed in [5u64, 6, 7] {
            let net = Dfimat::new(&ModelConfig::quick(), Device::Cpu, seed);
            let run = |p: &Tensor| tch::no_grad(|| net.run(net.params(), &Tensor::cat(&[&com, p], 1).unsqueeze(1), None, false).pha);
            let before = run(&prompts);
            // A negative click in the background, a positive one in a far
            // corner, a negative one on the target.
            for (cx, cy, ch) in [(110usize, 10usize, 1usize), (110, 50, 0), (40, 32, 1)] {
                let mut v = cpu_values(&prompts);
                stamp_click(&mut v[ch * h * w..(ch + 1) * h * w], w, h, cx, cy);
                let delta = (run(&Tensor::from_slice(&v).view([1, PROMPTS, h as i64, w as i64])) - &before).abs().view([h as i64, w as i64]);
                let d = ((&yy - cy as f64).square() + (&xx - cx as f64).square()).sqrt();
                let mean_where = |m: Tensor| {
                    let m = m.to_kind(Kind::Float);
                    (&delta * &m).sum(Kind::Float).double_value(&[]) / m.sum(Kind::Float).double_value(&[])
                };
                let (near, far) = (mean_where(d.lt(6.0)), mean_where(d.ge(48.0)));
                eprintln!("seed {seed}, click ({cx},{cy}) on map {ch}: mean |d alpha| near {near:.2e}, far {far:.2e}");
                // Each click acts more near it than far (RVM's encoder has
                // squeeze-excitation in 8 blocks, so an untrained net also
                // spreads some of a click globally); in sum clearly local.
                assert!(near > far, "near {near}, far {far}");
                near_sum += near;
                far_sum += far;
            }
        }
        assert!(near_sum > 3.0 * far_sum, "near {near_sum}, far {far_sum} (sums over 9 clicks)");
    }

    #[test]
    fn more_rounds_do_not_increase_the_error_of_a_trained_model() {
        let net = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 11);
        let (com, truth) = scene(32, 48);
        overfit(&net, &com, &truth, 60, 4);
        let err = |rounds: usize| {
            let a = interactive_alpha(&net, net.params(), &com, &truth, rounds, 1, &mut Rand::keyed("rounds", 0));
            (a - &truth).abs().mean(Kind::Float).double_value(&[])
        };
        let e: Vec<f64> = (1..=4).map(err).collect();
        eprintln!("MAD by rounds: {e:?}");
        assert!(e[0] < 0.2, "the trained model mats its frame: {e:?}");
        for i in 1..e.len() {
            assert!(e[i] <= e[i - 1] + 2e-3, "round {} raised the error: {e:?}", i + 1);
        }
    }

    #[test]
    fn same_seed_same_model() {
        let src = Tensor::rand([1, 2, 3 + PROMPTS, 36, 64], (Kind::Float, Device::Cpu));
        let a = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 4);
        let b = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 4);
        let c = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 5);
        let run = |m: &Dfimat| m.run(m.params(), &src, None, false);
        let (pa, pb, pc) = (run(&a), run(&b), run(&c));
        assert_eq!(f64::try_from((&pa.pha - &pb.pha).abs().max()).unwrap(), 0.0);
        assert_eq!(f64::try_from((&pa.fgr - &pb.fgr).abs().max()).unwrap(), 0.0);
        assert!(f64::try_from((&pa.pha - &pc.pha).abs().max()).unwrap() > 0.0);
        // The simulated prompts are seeded too.
        let t = disc(36, 64, 30.0, 18.0, 10.0).view([1, 1, 1, 36, 64]);
        let x = training_input(&src.narrow(1, 0, 1).narrow(2, 0, 3), &t, &mut Rand::keyed("p", 9));
        let y = training_input(&src.narrow(1, 0, 1).narrow(2, 0, 3), &t, &mut Rand::keyed("p", 9));
        assert_eq!(f64::try_from((x - y).abs().max()).unwrap(), 0.0);
    }
}
