//! MODNet-like single-frame matting (the MAML-RAL paper's image baseline).
//! MODNet splits trimap-free matting into three branches trained together:
//!
//! - a low-resolution **semantic** branch on the 1/16 feature, with channel
//!   attention (squeeze-excitation), predicting a coarse foreground map;
//! - a high-resolution **detail** branch at 1/2 and full resolution, fed by
//!   the image, the 1/2 feature and the semantic features, predicting the
//!   alpha in the transition region;
//! - a **fusion** branch combining the upsampled semantics with the detail
//!   features into the final alpha.
//!
//! Ours keeps the three branches and their losses (`loss::zoo::modnet`) over
//! the shared MobileNetV3-style backbone. Departures: MODNet predicts no
//! foreground, so `fgr` is the input frame (foreground metrics are not
//! comparable); no e-ASPP; every frame is independent (no state), which is
//! the point of the baseline: no temporal memory at all.

use tch::{Device, Tensor};

use super::super::encoder::Encoder;
use super::super::layers::{cbr, conv, flat, hardsigmoid, normalise, resize, unflat, BnMode, ConvSpec, Ctx};
use super::super::matter::{Arch, Matter, Prediction};
use crate::model::matter::weight_accessors;
use super::super::matting_net::ModelConfig;
use super::super::params::{ParamBuilder, ParamSet};
use super::backbone;

pub struct Modnet {
    pub cfg: ModelConfig,
    pub params: ParamSet,
    pub buffers: ParamSet,
    encoder: Encoder,
}

impl Modnet {
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> Modnet {
        let _init = crate::model::params::seed_init(seed);
        let mut pb = ParamBuilder::new(device);
        let encoder = backbone(&mut pb, cfg);
        let ch = encoder.channels;
        let (sem, det) = (cfg.aspp, cfg.decoder[2]);
        // Semantic branch: channel attention on the 1/16 feature, then a
        // 1x1 projection to the semantic features and a one-channel head.
        pb.conv("sem.se1", (ch[3] / 4).max(8), ch[3], 1, true);
        pb.conv("sem.se2", ch[3], (ch[3] / 4).max(8), 1, true);
        pb.conv_bn("sem.proj", sem, ch[3], 1);
        pb.conv("sem.head", 1, sem, 1, true);
        // Detail branch: 1/2 scale (image, 1/2 feature, semantics), then full.
        pb.conv_bn("det.half1", det, 3 + ch[0] + sem, 3);
        pb.conv_bn("det.half2", det, det, 3);
        pb.conv_bn("det.full", det, det + 3, 3);
        pb.conv("det.head", 1, det, 1, true);
        // Fusion branch: semantics (upsampled) with detail features.
        pb.conv_bn("fus.half", det, sem + det, 3);
        pb.conv_bn("fus.full", cfg.decoder[3], det + 3, 3);
        pb.conv("fus.head", 1, cfg.decoder[3], 1, true);
        Modnet { cfg: cfg.clone(), params: pb.params, buffers: pb.buffers, encoder }
    }
}

impl Matter for Modnet {
    fn arch(&self) -> Arch {
        Arch::Modnet
    }
    weight_accessors!();

    fn run(&self, params: &ParamSet, src: &Tensor, _state: Option<&[Tensor]>, train: bool) -> Prediction {
        let ctx = Ctx { p: params, buffers: &self.buffers, bn: BnMode::train(train) };
        let s = src.size();
        let (b, t, h, w) = (s[0], s[1], s[3], s[4]);
        let x = flat(src);
        let f = self.encoder.forward(&ctx, &normalise(&x));
        let one = ConvSpec::same(1, 1);
        // Semantic branch at 1/16.
        let g = conv(&ctx, "sem.se1", &f[3].adaptive_avg_pool2d([1, 1]), &one).relu();
        let g = hardsigmoid(&conv(&ctx, "sem.se2", &g, &one));
        let sem = super::super::layers::bn(&ctx, "sem.proj.bn", &conv(&ctx, "sem.proj", &(&f[3] * g), &one)).relu();
        let sem_map = conv(&ctx, "sem.head", &sem, &one).sigmoid();
        // Detail branch at 1/2, then full resolution.
        let (h2, w2) = (f[0].size()[2], f[0].size()[3]);
        let img2 = resize(&x, h2, w2);
        let sem2 = resize(&sem, h2, w2);
        let d = cbr(&ctx, "det.half1", &Tensor::cat(&[&img2, &f[0], &sem2], 1));
        let d = cbr(&ctx, "det.half2", &d);
        let dfull = cbr(&ctx, "det.full", &Tensor::cat(&[&resize(&d, h, w), &x], 1));
        let detail = conv(&ctx, "det.head", &dfull, &one).sigmoid();
        // Fusion branch.
        let u = cbr(&ctx, "fus.half", &Tensor::cat(&[&sem2, &d], 1));
        let u = cbr(&ctx, "fus.full", &Tensor::cat(&[&resize(&u, h, w), &x], 1));
        let pha = conv(&ctx, "fus.head", &u, &one).sigmoid();
        Prediction {
            pha: unflat(&pha, b, t),
            fgr: src.narrow(2, 0, 3).shallow_clone(),
            state: vec![],
            aux: vec![("semantic".into(), unflat(&sem_map, b, t)), ("detail".into(), unflat(&detail, b, t))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{model_loss, Targets};
    use crate::model::zoo::testing::{disc_batch, overfit};
    use tch::Kind;

    #[test]
    fn shapes_and_frames_are_independent() {
        let net = Modnet::new(&ModelConfig::quick(), Device::Cpu, 0);
        let src = Tensor::rand([2, 3, 3, 36, 64], (Kind::Float, Device::Cpu));
        let out = net.run(&net.params, &src, None, false);
        assert_eq!(out.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(out.aux("semantic").size(), vec![2, 3, 1, 3, 4]);
        assert_eq!(out.aux("detail").size(), vec![2, 3, 1, 36, 64]);
        assert!(out.state.is_empty());
        // A single-frame model: frame 2 alone gives what it gave in sequence.
        let alone = net.run(&net.params, &src.narrow(1, 2, 1), None, false);
        let diff = (alone.pha - out.pha.narrow(1, 2, 1)).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "frame 2 depends on other frames by {diff}");
        let twin = Modnet::new(&ModelConfig::quick(), Device::Cpu, 0);
        let again = twin.run(&twin.params, &src, None, false);
        assert_eq!(again.pha.equal(&out.pha), true, "same seed, same output");
    }

    #[test]
    fn loss_falls_on_a_tiny_task() {
        let net = Modnet::new(&ModelConfig::quick(), Device::Cpu, 3);
        let b = disc_batch(1, 2, 32, 48);
        let (first, last) = overfit(&net, &b, 40, 3e-3, |p| {
            model_loss(Arch::Modnet, p, &Targets { pha: &b.pha, fgr: &b.fgr, labels: None })
        });
        assert!(last < 0.6 * first, "loss {first} -> {last}");
    }
}
