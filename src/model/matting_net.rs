//! The target model: an RVM-style recurrent matting network (MAML-RAL's
//! ref. [6]) assembled from the encoder, LR-ASPP and the recurrent decoder,
//! with heads for alpha (sigmoid) and a foreground residual added to the
//! source. Width and depth are configuration: narrow on CPU, RVM's channel
//! counts for the `paper` profile.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::encoder::{Encoder, LARGE, LARGE_TAPS, LITE, LITE_TAPS};
use super::layers::{conv, count_flops, normalise, BnMode, ConvSpec, Ctx};
use super::lraspp::Lraspp;
use super::params::{ParamBuilder, ParamSet};
use super::recurrent_decoder::RecurrentDecoder;
use crate::profile::Profile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    /// One inverted residual block per resolution step.
    Lite,
    /// MobileNetV3-Large's 15 blocks.
    Large,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Channel multiplier of the encoder.
    pub width: f64,
    pub depth: Depth,
    /// Channels of the final 1x1 encoder conv (before width scaling).
    pub last: i64,
    /// LR-ASPP output channels.
    pub aspp: i64,
    /// Decoder channels at 1/8, 1/4, 1/2, 1.
    pub decoder: [i64; 4],
}

impl ModelConfig {
    /// RVM's MobileNetV3 configuration (about 3.7 M parameters).
    pub fn paper() -> Self {
        ModelConfig { width: 1.0, depth: Depth::Large, last: 960, aspp: 128, decoder: [80, 40, 32, 16] }
    }
    /// A narrow model that trains on two CPU cores.
    pub fn quick() -> Self {
        ModelConfig { width: 0.5, depth: Depth::Lite, last: 256, aspp: 32, decoder: [24, 16, 12, 8] }
    }
    pub fn for_profile(p: Profile) -> Self {
        match p {
            Profile::Smoke | Profile::Quick => ModelConfig::quick(),
            Profile::Paper => ModelConfig::paper(),
        }
    }
}

/// What one forward pass returns.
pub struct Output {
    /// [B, T, 3, H, W] in [0, 1].
    pub fgr: Tensor,
    /// [B, T, 1, H, W] in (0, 1).
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
}

impl MattingNet {
    /// A freshly initialised network; the same seed gives the same weights.
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> MattingNet {
        tch::manual_seed(seed as i64);
        let mut pb = ParamBuilder::new(device);
        let (specs, taps): (&[_], _) = match cfg.depth {
            Depth::Lite => (&LITE, LITE_TAPS),
            Depth::Large => (&LARGE, LARGE_TAPS),
        };
        let encoder = Encoder::new(&mut pb, specs, taps, cfg.width, cfg.last);
        let aspp = Lraspp::new(&mut pb, encoder.channels[3], cfg.aspp);
        let ch = encoder.channels;
        let decoder = RecurrentDecoder::new(&mut pb, [ch[0], ch[1], ch[2]], cfg.aspp, cfg.decoder);
        pb.conv("head", 4, cfg.decoder[3], 1, true);
        MattingNet { cfg: cfg.clone(), params: pb.params, buffers: pb.buffers, encoder, aspp, decoder }
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
    /// (meta-training uses `BnMode::Batch`).
    pub fn forward_bn(&self, params: &ParamSet, src: &Tensor, rec: Option<&[Tensor]>, bn: BnMode) -> Output {
        let ctx = Ctx { p: params, buffers: &self.buffers, bn };
        let s = src.size();
        let (b, t) = (s[0], s[1]);
        let x = src.reshape([b * t, s[2], s[3], s[4]]);
        let f = self.encoder.forward(&ctx, &normalise(&x));
        let x4 = self.aspp.forward(&ctx, &f[3]);
        let (hid, rec) = self.decoder.forward(&ctx, &x, &f, &x4, b, t, rec);
        let out = conv(&ctx, "head", &hid, &ConvSpec::same(1, 1));
        let parts = out.split_with_sizes([3, 1], 1);
        let fgr = (&parts[0] + &x).clamp(0.0, 1.0).reshape([b, t, 3, s[3], s[4]]);
        let pha = parts[1].sigmoid().reshape([b, t, 1, s[3], s[4]]);
        Output { fgr, pha, rec, feats: f.into_iter().collect() }
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
        let paper = MattingNet::new(&ModelConfig::paper(), Device::Cpu, 0);
        let n = paper.num_params();
        assert!((3_300_000..4_100_000).contains(&n), "paper width has RVM's size, got {n}");
    }

    #[test]
    fn forward_with_other_params_changes_output() {
        let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 1);
        let src = Tensor::rand([1, 2, 3, 36, 64], (Kind::Float, Device::Cpu));
        let zero = net.params.map(|n, t| if n == "head.b" { t.detach() + 5.0 } else { t.detach() });
        let a = net.forward(&src, None, false).pha.mean(Kind::Float).double_value(&[]);
        let b = net.forward_with(&zero, &src, None, false).pha.mean(Kind::Float).double_value(&[]);
        assert!(b > a, "a larger alpha bias raises alpha");
    }
}
