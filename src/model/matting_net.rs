//! The target model: RVM's `MattingNetwork('mobilenetv3')` (MAML-RAL's
//! ref. [6]) layer for layer, under RVM's `state_dict` names: the
//! MobileNetV3 encoder (`backbone`), LR-ASPP (`aspp`), the recurrent
//! decoder (`decoder`), the projection heads (`project_mat`: foreground
//! residual + alpha; `project_seg`: segmentation logits) and the Deep
//! Guided Filter (`refiner`) for the `downsample_ratio` path. At the
//! `paper` width it has RVM's 3,748,633 parameters, so RVM's released
//! checkpoint loads (see `model::rvm`); narrower widths keep the structure.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::encoder::Encoder;
use super::layers::{conv, count_flops, normalise, scale_by, BnMode, ConvSpec, Ctx};
use super::lraspp::Lraspp;
use super::params::{ParamBuilder, ParamSet};
use super::recurrent_decoder::RecurrentDecoder;
use super::refiner::Refiner;
use crate::profile::Profile;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Channel multiplier of the encoder (torchvision's `width_mult`).
    pub width: f64,
    /// LR-ASPP output channels.
    pub aspp: i64,
    /// Decoder channels at 1/8, 1/4, 1/2, 1 (the last is the hidden map
    /// the heads and the refiner read).
    pub decoder: [i64; 4],
}

impl ModelConfig {
    /// RVM's MobileNetV3 configuration (3,748,633 parameters).
    pub fn paper() -> Self {
        ModelConfig { width: 1.0, aspp: 128, decoder: [80, 40, 32, 16] }
    }
    /// The same structure, narrow enough to train on two CPU cores.
    pub fn quick() -> Self {
        ModelConfig { width: 0.5, aspp: 32, decoder: [24, 16, 12, 8] }
    }
    pub fn for_profile(p: Profile) -> Self {
        match p {
            Profile::Smoke | Profile::Quick => ModelConfig::quick(),
            Profile::Paper => ModelConfig::paper(),
        }
    }
}

/// RVM's automatic `downsample_ratio`: the network sees at most 512 px on
/// the longer side; the refiner restores the rest.
pub fn auto_downsample_ratio(h: i64, w: i64) -> f64 {
    (512.0 / h.max(w) as f64).min(1.0)
}

/// What one forward pass returns.
pub struct Output {
    /// [B, T, 3, H, W] in [0, 1].
    pub fgr: Tensor,
    /// [B, T, 1, H, W] in [0, 1] (clamped, as RVM does).
    pub pha: Tensor,
    /// Recurrent states to pass to the next call.
    pub rec: Vec<Tensor>,
    /// Hidden features at 1/2, 1/4, 1/8, 1/16 ([B*T, C, h, w]): the K maps
    /// the feature-aware constraint compares (paper Eq. 3).
    pub feats: Vec<Tensor>,
}

pub struct MattingNet {
    pub cfg: ModelConfig,
    pub params: ParamSet,
    pub buffers: ParamSet,
    encoder: Encoder,
    aspp: Lraspp,
    decoder: RecurrentDecoder,
    refiner: Refiner,
}

impl MattingNet {
    /// A freshly initialised network; the same seed gives the same weights.
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> MattingNet {
        let _init = super::params::seed_init(seed);
        let mut pb = ParamBuilder::new(device);
        let encoder = Encoder::new(&mut pb, cfg.width);
        let aspp = Lraspp::new(&mut pb, encoder.channels[3], cfg.aspp);
        let ch = encoder.channels;
        let decoder = RecurrentDecoder::new(&mut pb, [ch[0], ch[1], ch[2]], cfg.aspp, cfg.decoder);
        pb.conv("project_mat.conv", 4, cfg.decoder[3], 1, true);
        pb.conv("project_seg.conv", 1, cfg.decoder[3], 1, true);
        let refiner = Refiner::new(&mut pb, cfg.decoder[3]);
        MattingNet { cfg: cfg.clone(), params: pb.params, buffers: pb.buffers, encoder, aspp, decoder, refiner }
    }

    pub fn device(&self) -> Device {
        self.params.device()
    }

    /// Forward at the model's own parameters.
    pub fn forward(&self, src: &Tensor, rec: Option<&[Tensor]>, train: bool) -> Output {
        self.forward_with(&self.params, src, rec, train)
    }

    /// Forward at an explicit parameter set (same names as `self.params`):
    /// MAML's adapted parameters, an SGT average, a frozen factory copy.
    /// `src` is [B, T, 3, H, W] in [0, 1]. BatchNorm uses batch statistics
    /// when `train` (and updates the running ones), running ones otherwise.
    pub fn forward_with(&self, params: &ParamSet, src: &Tensor, rec: Option<&[Tensor]>, train: bool) -> Output {
        self.forward_bn(params, src, rec, BnMode::train(train))
    }

    /// [`forward_with`](Self::forward_with) with the BatchNorm mode spelt out
    /// (meta-training uses `BnMode::Batch`), at full resolution.
    pub fn forward_bn(&self, params: &ParamSet, src: &Tensor, rec: Option<&[Tensor]>, bn: BnMode) -> Output {
        self.forward_at(params, src, rec, bn, 1.0)
    }

    /// RVM's forward with `downsample_ratio`: below 1 the network runs on
    /// the source scaled by the ratio and the refiner restores full size.
    pub fn forward_at(&self, params: &ParamSet, src: &Tensor, rec: Option<&[Tensor]>, bn: BnMode, ratio: f64) -> Output {
        assert!(ratio > 0.0 && ratio <= 1.0, "downsample_ratio must be in (0, 1], got {ratio}");
        let ctx = Ctx { p: params, buffers: &self.buffers, bn };
        let s = src.size();
        let (b, t) = (s[0], s[1]);
        let x = src.reshape([b * t, s[2], s[3], s[4]]);
        let small = if ratio < 1.0 { scale_by(&x, ratio) } else { x.shallow_clone() };
        let (hid, rec, f) = self.trunk(&ctx, &small, b, t, rec);
        let out = conv(&ctx, "project_mat.conv", &hid, &ConvSpec::same(1, 1));
        let parts = out.split_with_sizes([3, 1], 1);
        let (fgr_res, pha) = if ratio < 1.0 {
            self.refiner.forward(&ctx, &x, &small, &parts[0], &parts[1], &hid)
        } else {
            (parts[0].shallow_clone(), parts[1].shallow_clone())
        };
        let fgr = (fgr_res + &x).clamp(0.0, 1.0).reshape([b, t, 3, s[3], s[4]]);
        let pha = pha.clamp(0.0, 1.0).reshape([b, t, 1, s[3], s[4]]);
        Output { fgr, pha, rec, feats: f.into_iter().collect() }
    }

    /// RVM's segmentation pass: logits [B, T, 1, H, W] from `project_seg`
    /// (RVM trains it on segmentation data; hoimat's trainers do not).
    pub fn segment(&self, params: &ParamSet, src: &Tensor, rec: Option<&[Tensor]>, bn: BnMode) -> (Tensor, Vec<Tensor>) {
        let ctx = Ctx { p: params, buffers: &self.buffers, bn };
        let s = src.size();
        let x = src.reshape([s[0] * s[1], s[2], s[3], s[4]]);
        let (hid, rec, _) = self.trunk(&ctx, &x, s[0], s[1], rec);
        let seg = conv(&ctx, "project_seg.conv", &hid, &ConvSpec::same(1, 1));
        (seg.reshape([s[0], s[1], 1, s[3], s[4]]), rec)
    }

    /// Encoder, LR-ASPP and decoder on [B*T, 3, h, w]: the hidden map, the
    /// new recurrent states and the encoder's features.
    fn trunk(&self, ctx: &Ctx, x: &Tensor, b: i64, t: i64, rec: Option<&[Tensor]>) -> (Tensor, Vec<Tensor>, [Tensor; 4]) {
        let f = self.encoder.forward(ctx, &normalise(x));
        let x4 = self.aspp.forward(ctx, &f[3]);
        let (hid, rec) = self.decoder.forward(ctx, x, &f, &x4, b, t, rec);
        (hid, rec, f)
    }

    /// Parameter count.
    pub fn num_params(&self) -> i64 {
        self.params.numel()
    }

    /// FLOPs (2 x multiply-adds of the convolutions) for one frame of h x w.
    pub fn flops_per_frame(&self, h: i64, w: i64) -> u64 {
        let src = Tensor::zeros([1, 1, 3, h, w], (Kind::Float, self.device()));
        let (_, n) = tch::no_grad(|| count_flops(|| self.forward(&src, None, false)));
        n
    }

    /// A copy with its own storage (parameters and buffers).
    pub fn duplicate(&self) -> MattingNet {
        let mut m = MattingNet::new(&self.cfg, self.device(), 0);
        m.params = self.params.detached(true);
        m.buffers = self.buffers.detached(false);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_state_and_sizes() {
        let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 0);
        let src = Tensor::rand([2, 3, 3, 36, 64], (Kind::Float, Device::Cpu));
        let out = net.forward(&src, None, false);
        assert_eq!(out.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(out.fgr.size(), vec![2, 3, 3, 36, 64]);
        assert_eq!(out.rec.len(), 4);
        assert_eq!(out.feats.len(), 4);
        assert_eq!(out.feats[3].size()[2], 3, "1/16 of 36 rounds up to 3");
        // The state carries: frame 3 after frames 1-2 differs from frame 3 alone.
        let a = net.forward(&src.narrow(1, 2, 1), Some(&out.rec), false).pha;
        let b = net.forward(&src.narrow(1, 2, 1), None, false).pha;
        assert!((a - b).abs().max().double_value(&[]) > 0.0);
        // The refiner path returns full-size outputs from a half-size pass.
        let hr = net.forward_at(&net.params, &src, None, BnMode::Running, 0.5);
        assert_eq!(hr.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(hr.feats[0].size()[2], 9, "the encoder saw 18 rows");
    }

    #[test]
    fn paper_width_has_rvms_parameter_count() {
        // RVM's MattingNetwork('mobilenetv3'): 3,748,633 trainable values,
        // of which 808 in the refiner and 17 in the segmentation head.
        let paper = MattingNet::new(&ModelConfig::paper(), Device::Cpu, 0);
        assert_eq!(paper.num_params(), 3_748_633);
        let count = |p: &str| paper.params.iter().filter(|(n, _)| n.starts_with(p)).map(|(_, t)| t.numel() as i64).sum::<i64>();
        assert_eq!(count("refiner."), 808);
        assert_eq!(count("project_seg."), 17);
    }

    #[test]
    fn auto_ratio_is_rvms() {
        assert_eq!(auto_downsample_ratio(1080, 1920), 512.0 / 1920.0);
        assert_eq!(auto_downsample_ratio(288, 512), 1.0);
        assert_eq!(auto_downsample_ratio(72, 128), 1.0);
    }

    #[test]
    fn forward_with_other_params_changes_output() {
        let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 1);
        let src = Tensor::rand([1, 2, 3, 36, 64], (Kind::Float, Device::Cpu));
        let zero = net.params.map(|n, t| if n == "project_mat.conv.bias" { t.detach() + 0.3 } else { t.detach() });
        let a = net.forward(&src, None, false).pha.mean(Kind::Float).double_value(&[]);
        let b = net.forward_with(&zero, &src, None, false).pha.mean(Kind::Float).double_value(&[]);
        assert!(b > a, "a larger alpha bias raises alpha");
    }
}
