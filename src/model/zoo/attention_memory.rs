//! Attention-based memory video matting (seed paper 004). A MobileNetV3
//! backbone and LR-ASPP give each frame a 1/16 feature; a key generator
//! (1x1 conv + ReLU, C/8 channels) and a value generator (1x1 conv + ReLU,
//! C/2 channels) turn it into a key and a value. The memory holds exactly
//! two entries: the **first** frame's and the **previous** frame's key and
//! value. Each query pixel attends over all memory pixels (paper Eq. 2:
//! softmax of key dot products, here scaled by 1/sqrt(C/8) as in
//! scaled-dot-product attention) and the retrieved value is concatenated
//! with the query's own value (Eq. 3). Up-sampling blocks at 1/8, 1/4, 1/2
//! (bilinear up, concatenate the skip feature and the pooled image, conv,
//! residual conv) and an output block give alpha and foreground. A 1x1 head
//! on the retrieved feature gives the low-resolution alpha and foreground
//! that the temporal aggregation loss supervises (Eq. 8).
//!
//! The first frame of a video has no past: the paper uses the frame itself
//! as its reference, so the memory of frame 0 is (frame 0, frame 0); from
//! frame 1 on it is (first, previous). The state carried between calls is
//! [first key, first value, previous key, previous value].

use tch::{Device, Kind, Tensor};

use super::super::encoder::Encoder;
use super::super::layers::{avg_down, cbr, conv, flat, normalise, resize, unflat, BnMode, ConvSpec, Ctx};
use super::super::lraspp::Lraspp;
use super::super::matter::{Arch, Matter, Prediction};
use crate::model::matter::weight_accessors;
use super::super::matting_net::ModelConfig;
use super::super::params::{ParamBuilder, ParamSet};
use super::backbone;

pub struct AttentionMemory {
    pub cfg: ModelConfig,
    pub params: ParamSet,
    pub buffers: ParamSet,
    encoder: Encoder,
    aspp: Lraspp,
}

/// Attention of each query pixel over every memory pixel (Eq. 2).
/// q: [N, ck, h, w]; mk: [N, M, ck, h, w]; mv: [N, M, cv, h, w] -> [N, cv, h, w].
pub fn read_memory(q: &Tensor, mk: &Tensor, mv: &Tensor) -> Tensor {
    let (n, ck, h, w) = (q.size()[0], q.size()[1], q.size()[2], q.size()[3]);
    let cv = mv.size()[2];
    let m = mk.size()[1];
    let keys = mk.permute([0, 2, 1, 3, 4]).reshape([n, ck, m * h * w]); // [N, ck, Mhw]
    let vals = mv.permute([0, 2, 1, 3, 4]).reshape([n, cv, m * h * w]); // [N, cv, Mhw]
    let query = q.reshape([n, ck, h * w]).transpose(1, 2); // [N, hw, ck]
    let att = (query.matmul(&keys) / (ck as f64).sqrt()).softmax(-1, Kind::Float); // [N, hw, Mhw]
    att.matmul(&vals.transpose(1, 2)).transpose(1, 2).reshape([n, cv, h, w])
}

impl AttentionMemory {
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> AttentionMemory {
        let _init = crate::model::params::seed_init(seed);
        let mut pb = ParamBuilder::new(device);
        let encoder = backbone(&mut pb, cfg);
        let aspp = Lraspp::new(&mut pb, encoder.channels[3], cfg.aspp);
        let c = cfg.aspp;
        let ch = encoder.channels;
        let d = cfg.decoder;
        pb.conv("mem.key", (c / 8).max(2), c, 1, true);
        pb.conv("mem.value", c / 2, c, 1, true);
        pb.conv("mem.lr_head", 4, c, 1, true);
        for (i, (name, c_in)) in [("up3", c + ch[2] + 3), ("up2", d[0] + ch[1] + 3), ("up1", d[1] + ch[0] + 3)].into_iter().enumerate() {
            pb.conv_bn(&format!("dec.{name}"), d[i], c_in, 3);
            pb.conv_bn(&format!("dec.{name}.res"), d[i], d[i], 3);
        }
        pb.conv_bn("dec.out1", d[3], d[2] + 3, 3);
        pb.conv_bn("dec.out2", d[3], d[3], 3);
        pb.conv("dec.head", 4, d[3], 1, true);
        AttentionMemory { cfg: cfg.clone(), params: pb.params, buffers: pb.buffers, encoder, aspp }
    }

    /// Up-sampling block: bilinear up to the skip's size, concatenate the
    /// skip and the pooled image, conv, then a residual conv.
    fn up(ctx: &Ctx, name: &str, x: &Tensor, skip: &Tensor, img: &Tensor) -> Tensor {
        let (h, w) = (skip.size()[2], skip.size()[3]);
        let y = cbr(ctx, name, &Tensor::cat(&[&resize(x, h, w), skip, &resize(img, h, w)], 1));
        &y + cbr(ctx, &format!("{name}.res"), &y)
    }
}

impl Matter for AttentionMemory {
    fn arch(&self) -> Arch {
        Arch::AttentionMemory
    }
    weight_accessors!();

    fn run(&self, params: &ParamSet, src: &Tensor, state: Option<&[Tensor]>, train: bool) -> Prediction {
        let ctx = Ctx { p: params, buffers: &self.buffers, bn: BnMode::train(train) };
        let s = src.size();
        let (b, t, h, w) = (s[0], s[1], s[3], s[4]);
        let x = flat(src);
        let f = self.encoder.forward(&ctx, &normalise(&x));
        let a = self.aspp.forward(&ctx, &f[3]);
        let one = ConvSpec::same(1, 1);
        let keys = unflat(&conv(&ctx, "mem.key", &a, &one).relu(), b, t);
        let vals = unflat(&conv(&ctx, "mem.value", &a, &one).relu(), b, t);
        // Frame by frame through the memory of (first, previous).
        let (mut first, mut prev) = match state {
            Some(st) => (Some((st[0].shallow_clone(), st[1].shallow_clone())), Some((st[2].shallow_clone(), st[3].shallow_clone()))),
            None => (None, None),
        };
        let mut read = Vec::with_capacity(t as usize);
        for i in 0..t {
            let (k, v) = (keys.select(1, i), vals.select(1, i));
            let (fk, fv) = first.as_ref().map_or((&k, &v), |(a, b)| (a, b));
            let (pk, pv) = prev.as_ref().map_or((&k, &v), |(a, b)| (a, b));            let mk = Tensor::stack(&[fk, pk], 1);
            let mv = Tensor::stack(&[fv, pv], 1);
            let retrieved = read_memory(&k, &mk, &mv);
            read.push(Tensor::cat(&[&retrieved, &v], 1));
            if first.is_none() {
                first = Some((k.shallow_clone(), v.shallow_clone()));
            }
            prev = Some((k, v));
        }
        let feat = flat(&Tensor::stack(&read, 1)); // [B*T, C, h16, w16]
        let lr = conv(&ctx, "mem.lr_head", &feat, &one);
        let img2 = avg_down(&x);
        let y = Self::up(&ctx, "dec.up3", &feat, &f[2], &img2);
        let y = Self::up(&ctx, "dec.up2", &y, &f[1], &img2);
        let y = Self::up(&ctx, "dec.up1", &y, &f[0], &img2);
        let y = cbr(&ctx, "dec.out1", &Tensor::cat(&[&resize(&y, h, w), &x], 1));
        let y = cbr(&ctx, "dec.out2", &y);
        let out = conv(&ctx, "dec.head", &y, &one);
        let parts = out.split_with_sizes([3, 1], 1);
        let fgr = (&parts[0] + &x).clamp(0.0, 1.0);
        let lrp = lr.split_with_sizes([3, 1], 1);
        let (fk, fv) = first.expect("at least one frame");
        let (pk, pv) = prev.expect("at least one frame");
        Prediction {
            pha: unflat(&parts[1].sigmoid(), b, t),
            fgr: unflat(&fgr, b, t),
            state: vec![fk, fv, pk, pv],
            aux: vec![("lr_pha".into(), unflat(&lrp[1].sigmoid(), b, t)), ("lr_fgr".into(), unflat(&lrp[0].sigmoid(), b, t))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{model_loss, Targets};
    use crate::model::zoo::testing::{disc_batch, overfit};

    fn net() -> AttentionMemory {
        AttentionMemory::new(&ModelConfig::quick(), Device::Cpu, 0)
    }

    #[test]
    fn shapes_and_state() {
        let n = net();
        let src = Tensor::rand([2, 3, 3, 36, 64], (Kind::Float, Device::Cpu));
        let out = n.run(&n.params, &src, None, false);
        assert_eq!(out.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(out.fgr.size(), vec![2, 3, 3, 36, 64]);
        assert_eq!(out.aux("lr_pha").size(), vec![2, 3, 1, 3, 4]);
        assert_eq!(out.state.len(), 4);
        let (lo, hi) = (out.pha.min().double_value(&[]), out.pha.max().double_value(&[]));
        assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi));
        // Carrying the state across calls equals one call over all frames.
        let a = n.run(&n.params, &src.narrow(1, 0, 2), None, false);
        let b = n.run(&n.params, &src.narrow(1, 2, 1), Some(&a.state), false);
        let d = (b.pha - out.pha.narrow(1, 2, 1)).abs().max().double_value(&[]);
        assert!(d < 1e-5, "split call differs by {d}");
        let twin = net();
        assert!(twin.run(&twin.params, &src, None, false).pha.equal(&out.pha), "same seed, same output");
    }

    /// The key of one frame ([1, 3, H, W]) as the model computes it.
    fn key_of(n: &AttentionMemory, frame: &Tensor) -> Tensor {
        let ctx = Ctx { p: &n.params, buffers: &n.buffers, bn: BnMode::Running };
        let f = n.encoder.forward(&ctx, &normalise(frame));
        conv(&ctx, "mem.key", &n.aspp.forward(&ctx, &f[3]), &ConvSpec::same(1, 1)).relu()
    }

    #[test]
    fn memory_holds_exactly_the_first_and_previous_frames() {
        let n = net();
        let src = Tensor::rand([1, 5, 3, 36, 64], (Kind::Float, Device::Cpu));
        let base = n.run(&n.params, &src, None, false);
        // Perturb frame 2: frames 0 and 1 are untouched (causal), frame 3
        // reads frame 2 as its previous frame, and frame 4 (memory = frames
        // 0 and 3) is unaffected.
        let changed = src.copy();
        let _ = changed.narrow(1, 2, 1).fill_(0.9);
        let out = n.run(&n.params, &changed, None, false);
        // Compared on the 1/16 read-out (the retrieved feature's head), where
        // an untrained decoder does not dampen the difference.
        let diff = |i: i64| (out.aux("lr_fgr").select(1, i) - base.aux("lr_fgr").select(1, i)).abs().max().double_value(&[]);
        eprintln!("read-out change per frame: {:?}", (0..5).map(diff).collect::<Vec<_>>());
        // Unaffected frames run the very same arithmetic: exactly equal.
        assert!(diff(0) == 0.0 && diff(1) == 0.0, "past frames changed");
        assert!(diff(3) > 1e-7, "frame 3 did not read its previous frame ({})", diff(3));
        assert!(diff(4) == 0.0, "frame 4 depends on frame 2 by {}", diff(4));
        // The state after the call: the first frame's key and the last's.
        let k0 = key_of(&n, &src.select(1, 0));
        let k4 = key_of(&n, &src.select(1, 4));
        assert!((&base.state[0] - k0).abs().max().double_value(&[]) < 1e-5);
        assert!((&base.state[2] - k4).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn read_memory_is_an_attention_average() {
        // One query pixel, two memory pixels with orthogonal keys.
        let q = Tensor::from_slice(&[2.0f32, 0.0]).view([1, 2, 1, 1]);
        let mk = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 2.0]).view([1, 2, 2, 1, 1]);
        let mv = Tensor::from_slice(&[1.0f32, 3.0]).view([1, 2, 1, 1, 1]);
        let r = read_memory(&q, &mk, &mv).double_value(&[0, 0, 0, 0]);
        let (e1, e2) = ((4.0f64 / 2f64.sqrt()).exp(), 1.0);
        let want = (e1 * 1.0 + e2 * 3.0) / (e1 + e2);
        assert!((r - want).abs() < 1e-5, "{r} vs {want}");
    }

    #[test]
    fn loss_falls_on_a_tiny_task() {
        let n = net();
        let b = disc_batch(1, 2, 32, 48);
        let (first, last) = overfit(&n, &b, 40, 3e-3, |p| model_loss(Arch::AttentionMemory, p, &Targets { pha: &b.pha, fgr: &b.fgr, labels: None }));
        assert!(last < 0.6 * first, "loss {first} -> {last}");
    }
}
