//! AdaM-like matting (Adaptive Human Matting for Dynamic Videos, CVPR 2023).
//!
//! The paper's system: a MobileNetV2 encoder; a "Fg/Bg structuring"
//! transformer at 1/16 whose query is the current frame and whose keys and
//! values come from past frames (Eq. 3-5); each stored value carries a
//! learnable foreground or background embedding weighted by that frame's
//! predicted mask (Eq. 6-7); long-term global attention against every stored
//! frame (Eq. 8) plus short-term attention inside an omega x omega x s tube
//! around each pixel (Eq. 9), summed; an FPN decoder whose first output block
//! gives a Fg/Bg mask and a coarse alpha at 1/4 (the mask feeds the next
//! frame's values) and whose second gives the fine alpha at full resolution.
//!
//! Ours keeps all of that, over the zoo's MobileNetV3-style backbone, with
//! these departures (each chosen for CPU cost or for want of detail):
//! - one transformer layer, single-head, of width `cfg.aspp` (the paper: three
//!   multi-head layers of 256); post-norm (LayerNorm after each residual) with
//!   a GELU MLP, as the paper's appendix describes its layers.
//! - the long-term memory is refreshed every `long_every` (l) frames and holds
//!   at most `mem_cap` of them, oldest dropped first (the paper: l = 10, ten
//!   sets); this is how AOT (the paper's ref. [49], whose memory it extends)
//!   reads "performed every l frames". The short-term tube covers the last
//!   `short_frames` (s) frames, every frame refreshed.
//! - the paper's 1/16 upscaling block is the transformer's own MLP; the
//!   decoder then has blocks at 1/8, 1/4, 1/2 and 1 and, as RVM, takes the
//!   downsampled source image as a skip at 1/2 and 1 (the paper's FPN has no
//!   encoder feature at full resolution). The first output block is one 3x3
//!   conv with two outputs (mask logit, coarse alpha) instead of two parallel
//!   convs (the same thing); the mask is one sigmoid channel, not a 2-way
//!   softmax.
//! - the paper starts a video from an off-the-shelf segmenter's mask. We have
//!   none: on a video's first frame (no state) the query attends to that
//!   frame's own keys and values with no Fg/Bg embedding, and the frame's own
//!   coarse mask embeds the value it leaves in memory. A caller that has a
//!   mask for frame 0 can overwrite the mask slots of the state it returns.
//! - we also predict a foreground (RVM's residual on the source), which the
//!   zoo's scorer needs; the paper predicts alpha only.
//!
//! State between calls (`Prediction::state`, all at 1/16, h x w):
//! `[long_k, long_v, long_m, short_k, short_v, short_m, count]` with
//! `long_*` [B, M, C, h, w] the long-term memory (M <= mem_cap frames: raw
//! keys, raw values, and their frames' downsized masks, C = 1 for masks),
//! `short_*` [B, S, C, h, w] the last S <= s frames likewise (the last mask is
//! the previous frame's), and `count` a scalar int64, the number of frames
//! seen. Values are stored raw with their masks and embedded when read
//! (Eq. 6 is linear, so this equals storing embedded values), which keeps the
//! previous mask explicit in the state.

use tch::{Device, Kind, Tensor};

use crate::model::encoder::Encoder;
use crate::model::layers::{avg_down, cbr, conv, normalise, resize, unflat, BnMode, ConvSpec, Ctx};
use crate::model::matter::{Arch, Matter, Prediction};
use crate::model::matter::weight_accessors;
use crate::model::matting_net::ModelConfig;
use crate::model::params::{ParamBuilder, ParamSet};

pub struct AdamNet {
    pub cfg: ModelConfig,
    pub params: ParamSet,
    pub buffers: ParamSet,
    encoder: Encoder,
    /// Transformer width (channels of keys, values and queries).
    dim: i64,
    /// l: a frame enters the long-term memory when its index is a multiple.
    pub long_every: i64,
    /// Most frames the long-term memory holds.
    pub mem_cap: i64,
    /// omega: side of the short-term window (odd).
    pub window: i64,
    /// s: past frames in the short-term tube.
    pub short_frames: i64,
}

impl AdamNet {
    /// A freshly initialised network; the same seed gives the same weights.
    pub fn new(cfg: &ModelConfig, device: Device, seed: u64) -> AdamNet {
        let _init = crate::model::params::seed_init(seed);
        let mut pb = ParamBuilder::new(device);
        let encoder = super::backbone(&mut pb, cfg);
        let ch = encoder.channels;
        let d = cfg.aspp;
        let dec = cfg.decoder;
        pb.conv("xf.proj", d, ch[3], 1, true);
        pb.conv("xf.qkv", 3 * d, d, 1, true);
        // Distinct random embeddings so that the mask matters from the start.
        for name in ["xf.emb_f", "xf.emb_b"] {
            let e = Tensor::randn([d], (Kind::Float, device)) * 0.5;
            pb.params.push(name, e.set_requires_grad(true));
        }
        pb.conv("xf.out", d, d, 1, true);
        pb.conv("xf.ff1", 2 * d, d, 1, true);
        pb.conv("xf.ff2", d, 2 * d, 1, true);
        for name in ["xf.ln1", "xf.ln2"] {
            pb.params.push(&format!("{name}.gamma"), Tensor::ones([d], (Kind::Float, device)).set_requires_grad(true));
            pb.params.push(&format!("{name}.beta"), Tensor::zeros([d], (Kind::Float, device)).set_requires_grad(true));
        }
        pb.conv_bn("dec.b8", dec[0], d + ch[2], 3);
        pb.conv_bn("dec.b4", dec[1], dec[0] + ch[1], 3);
        pb.conv("dec.out1", 2, dec[1], 3, true);
        pb.conv_bn("dec.b2", dec[2], dec[1] + 1 + ch[0] + 3, 3);
        pb.conv_bn("dec.b1", dec[3], dec[2] + 3, 3);
        pb.conv_bn("dec.b0", dec[3], dec[3], 3);
        pb.conv("dec.head", 4, dec[3], 1, true);
        AdamNet {
            cfg: cfg.clone(),
            params: pb.params,
            buffers: pb.buffers,
            encoder,
            dim: d,
            long_every: 5,
            mem_cap: 10,
            window: 7,
            short_frames: 1,
        }
    }
}

/// Eq. 6: a value plus the foreground embedding where the mask says
/// foreground and the background one where it says background.
/// `v` [N, S, C, h, w], `m` [N, S, 1, h, w] in [0, 1].
pub fn embed(ctx: &Ctx, v: &Tensor, m: &Tensor) -> Tensor {
    let ef = ctx.p.get("xf.emb_f").view([1, 1, -1, 1, 1]);
    let eb = ctx.p.get("xf.emb_b").view([1, 1, -1, 1, 1]);
    v + m * ef + (1.0 - m) * eb
}

/// Eq. 8: every query pixel against every stored pixel of every stored
/// frame. `q` [N, C, h, w]; `k`, `v` [N, M, C, h, w]; returns [N, C, h, w].
pub fn global_attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    let s = q.size();
    let (n, c, hw) = (s[0], s[1], s[2] * s[3]);
    let stored = |x: &Tensor| x.transpose(1, 2).reshape([n, c, -1]);
    let logits = q.reshape([n, c, hw]).transpose(1, 2).matmul(&stored(k)) / (c as f64).sqrt();
    stored(v).matmul(&logits.softmax(-1, Kind::Float).transpose(1, 2)).reshape([n, c, s[2], s[3]])
}

/// Eq. 9: each query pixel against the `window` x `window` neighbourhood of
/// the same position in each stored frame (the omega x omega x s tube), one
/// softmax over the whole tube. Windows are gathered with im2col, so the cost
/// is O(hw * omega^2 * s), never a dense hw x hw matrix; positions the
/// window puts outside the image are masked out, not read as zero keys.
/// `q` [N, C, h, w]; `k`, `v` [N, S, C, h, w]; returns [N, C, h, w].
pub fn local_attention(q: &Tensor, k: &Tensor, v: &Tensor, window: i64) -> Tensor {
    let s = k.size();
    let (n, f, c, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let (r, win) = (window / 2, window * window);
    let gather = |x: &Tensor| {
        x.reshape([n * f, c, h, w]).im2col([window, window], [1, 1], [r, r], [1, 1]).reshape([n, f, c, win, h * w])
    };
    let logits = (q.reshape([n, 1, c, 1, h * w]) * gather(k)).sum_dim_intlist(2, false, Kind::Float) / (c as f64).sqrt();
    let inside = Tensor::ones([1, 1, h, w], (q.kind(), q.device())).im2col([window, window], [1, 1], [r, r], [1, 1]);
    let logits = logits.masked_fill(&inside.reshape([1, 1, win, h * w]).eq(0.0), f64::NEG_INFINITY);
    let attn = logits.reshape([n, f * win, h * w]).softmax(1, Kind::Float).reshape([n, f, 1, win, h * w]);
    (attn * gather(v)).sum_dim_intlist([1, 3].as_slice(), false, Kind::Float).reshape([n, c, h, w])
}

/// LayerNorm over channels at every pixel of [N, C, h, w].
fn channel_norm(ctx: &Ctx, name: &str, x: &Tensor) -> Tensor {
    let c = x.size()[1];
    let g = ctx.p.get(&format!("{name}.gamma"));
    let b = ctx.p.get(&format!("{name}.beta"));
    x.permute([0, 2, 3, 1]).layer_norm([c], Some(g), Some(b), 1e-5, false).permute([0, 3, 1, 2])
}

/// Upscaling block: resize to the skip, concatenate, 3x3 conv + BN + ReLU.
fn up(ctx: &Ctx, name: &str, x: &Tensor, skips: &[&Tensor]) -> Tensor {
    let s = skips[0].size();
    let mut all = vec![resize(x, s[2], s[3])];
    all.extend(skips.iter().map(|t| t.shallow_clone()));
    cbr(ctx, name, &Tensor::cat(&all, 1))
}

/// The keys, raw values and masks the transformer reads, long- and short-term.
struct Memory {
    long: Option<[Tensor; 3]>,
    short: Option<[Tensor; 3]>,
    count: i64,
}

impl Memory {
    fn from_state(state: Option<&[Tensor]>) -> Memory {
        match state {
            Some(s) => Memory {
                long: Some([s[0].shallow_clone(), s[1].shallow_clone(), s[2].shallow_clone()]),
                short: Some([s[3].shallow_clone(), s[4].shallow_clone(), s[5].shallow_clone()]),
                count: s[6].int64_value(&[]),
            },
            None => Memory { long: None, short: None, count: 0 },
        }
    }

    /// Append frame [k, v, m] (each [N, C, h, w]) to `slot`, keeping the last `cap`.
    fn append(slot: &mut Option<[Tensor; 3]>, frame: [&Tensor; 3], cap: i64) {
        let next = match slot.take() {
            None => frame.map(|t| t.unsqueeze(1)),
            Some(old) => {
                let mut i = 0;
                old.map(|o| {
                    let t = Tensor::cat(&[o, frame[i].unsqueeze(1)], 1);
                    i += 1;
                    let m = t.size()[1];
                    if m > cap { t.narrow(1, m - cap, cap) } else { t }
                })
            }
        };
        *slot = Some(next);
    }

    fn into_state(self, device: Device) -> Vec<Tensor> {
        let [lk, lv, lm] = self.long.expect("a call sees at least one frame");
        let [sk, sv, sm] = self.short.expect("a call sees at least one frame");
        vec![lk, lv, lm, sk, sv, sm, Tensor::from(self.count).to_device(device)]
    }
}

impl Matter for AdamNet {
    fn arch(&self) -> Arch {
        Arch::Adam
    }
    weight_accessors!();

    fn run(&self, params: &ParamSet, src: &Tensor, state: Option<&[Tensor]>, train: bool) -> Prediction {
        let ctx = Ctx { p: params, buffers: &self.buffers, bn: BnMode::train(train) };
        let s = src.size();
        let (b, t, hh, ww, d) = (s[0], s[1], s[3], s[4], self.dim);
        let x = src.narrow(2, 0, 3).reshape([b * t, 3, hh, ww]);
        let f = self.encoder.forward(&ctx, &normalise(&x));
        let one = ConvSpec::same(1, 1);
        // Eq. 1 for every frame at once; only the embedding waits for masks.
        let z = conv(&ctx, "xf.proj", &f[3], &one);
        let qkv = unflat(&conv(&ctx, "xf.qkv", &z, &one), b, t).split(d, 2);
        let (q, k, v, z) = (&qkv[0], &qkv[1], &qkv[2], unflat(&z, b, t));
        let (f8, f4) = (unflat(&f[2], b, t), unflat(&f[1], b, t));
        let (h16, w16) = (f[3].size()[2], f[3].size()[3]);

        let mut mem = Memory::from_state(state);
        let (mut x4s, mut masks, mut coarse) = (vec![], vec![], vec![]);
        for i in 0..t {
            let (qi, ki, vi) = (q.select(1, i), k.select(1, i), v.select(1, i));
            let (lk, lv, sk, sv) = match (&mem.long, &mem.short) {
                (Some([lk, lv, lm]), Some([sk, sv, sm])) => {
                    (lk.shallow_clone(), embed(&ctx, lv, lm), sk.shallow_clone(), embed(&ctx, sv, sm))
                }
                // First frame of a video: attend to itself, no mask known yet.
                _ => (ki.unsqueeze(1), vi.unsqueeze(1), ki.unsqueeze(1), vi.unsqueeze(1)),
            };
            let att = global_attention(&qi, &lk, &lv) + local_attention(&qi, &sk, &sv, self.window);
            let z1 = channel_norm(&ctx, "xf.ln1", &(z.select(1, i) + conv(&ctx, "xf.out", &att, &one)));
            let mlp = conv(&ctx, "xf.ff2", &conv(&ctx, "xf.ff1", &z1, &one).gelu("none"), &one);
            let z2 = channel_norm(&ctx, "xf.ln2", &(&z1 + mlp));
            // Decoder up to the first output block (mask + coarse alpha at 1/4).
            let x8 = up(&ctx, "dec.b8", &z2, &[&f8.select(1, i)]);
            let x4 = up(&ctx, "dec.b4", &x8, &[&f4.select(1, i)]);
            let o1 = conv(&ctx, "dec.out1", &x4, &ConvSpec::same(3, 1));
            let m = o1.narrow(1, 0, 1).sigmoid();
            // The frame's mask, downsized to 1/16, travels with its value (Eq. 6).
            let md = m.adaptive_avg_pool2d([h16, w16]);
            if mem.count % self.long_every == 0 {
                Memory::append(&mut mem.long, [&ki, &vi, &md], self.mem_cap);
            }
            Memory::append(&mut mem.short, [&ki, &vi, &md], self.short_frames);
            mem.count += 1;
            x4s.push(x4);
            masks.push(m);
            coarse.push(o1.narrow(1, 1, 1).sigmoid());
        }

        // Second stage, all frames at once: refine from 1/4 to full size.
        let x4 = Tensor::stack(&x4s, 1).flatten(0, 1);
        let c4 = Tensor::stack(&coarse, 1);
        let (h2, w2) = (f[0].size()[2], f[0].size()[3]);
        let s2 = resize(&avg_down(&x), h2, w2);
        let x2 = up(&ctx, "dec.b2", &x4, &[&f[0], &resize(&c4.flatten(0, 1), h2, w2), &s2]);
        let x1 = up(&ctx, "dec.b1", &x2, &[&x]);
        let out = conv(&ctx, "dec.head", &cbr(&ctx, "dec.b0", &x1), &one);
        let fgr = (out.narrow(1, 0, 3) + &x).clamp(0.0, 1.0).reshape([b, t, 3, hh, ww]);
        let pha = out.narrow(1, 3, 1).sigmoid().reshape([b, t, 1, hh, ww]);
        let aux = vec![("coarse_mask".to_string(), Tensor::stack(&masks, 1)), ("coarse_pha".to_string(), c4)];
        Prediction { pha, fgr, state: mem.into_state(src.device()), aux }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::zoo::{model_loss, Targets};
    use crate::train::adam::Adam;

    fn cpu() -> (Kind, Device) {
        (Kind::Float, Device::Cpu)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn shapes_ranges_and_state() {
        let net = AdamNet::new(&ModelConfig::quick(), Device::Cpu, 0);
        tch::manual_seed(1);
        let src = Tensor::rand([2, 3, 3, 36, 64], cpu());
        let p = net.run(&net.params, &src, None, false);
        assert_eq!(p.pha.size(), vec![2, 3, 1, 36, 64]);
        assert_eq!(p.fgr.size(), vec![2, 3, 3, 36, 64]);
        assert_eq!(p.aux("coarse_mask").size(), vec![2, 3, 1, 9, 16]);
        assert_eq!(p.aux("coarse_pha").size(), vec![2, 3, 1, 9, 16]);
        for x in [&p.pha, &p.fgr, p.aux("coarse_mask"), p.aux("coarse_pha")] {
            assert!(x.min().double_value(&[]) >= 0.0 && x.max().double_value(&[]) <= 1.0);
        }
        // Frames 0, 1, 2 seen: frame 0 in long-term memory, frame 2 in the tube.
        let d = net.cfg.aspp;
        assert_eq!(p.state.len(), 7);
        assert_eq!(p.state[0].size(), vec![2, 1, d, 3, 4]);
        assert_eq!(p.state[2].size(), vec![2, 1, 1, 3, 4]);
        assert_eq!(p.state[3].size(), vec![2, 1, d, 3, 4]);
        assert_eq!(p.state[6].int64_value(&[]), 3);
        // The state carries: the same frame with and without the past differs.
        let next = src.narrow(1, 2, 1);
        let a = net.run(&net.params, &next, Some(&p.state), false);
        let b = net.run(&net.params, &next, None, false);
        assert!(max_diff(&a.pha, &b.pha) > 1e-4);
        assert_eq!(a.state[6].int64_value(&[]), 4);
        // A second call of three more frames stores frame 5 as well.
        let c = net.run(&net.params, &src, Some(&p.state), false);
        assert_eq!(c.state[0].size()[1], 2);
        assert_eq!(c.state[6].int64_value(&[]), 6);
    }

    #[test]
    fn loss_falls_when_overfitting_one_clip() {
        let net = AdamNet::new(&ModelConfig::quick(), Device::Cpu, 3);
        let (h, w) = (32, 48);
        let yy = Tensor::arange(h, cpu()).view([h, 1]);
        let xx = Tensor::arange(w, cpu()).view([1, w]);
        // A disc that moves right by three pixels between the two frames.
        let disc = |cx: f64| ((&xx - cx).square() + (&yy - 16.0).square()).le(100.0).to_kind(Kind::Float);
        let pha = Tensor::stack(&[disc(20.0), disc(23.0)], 0).view([1, 2, 1, h, w]);
        let fg = Tensor::from_slice(&[0.9f32, 0.3, 0.2]).view([1, 1, 3, 1, 1]).expand([1, 2, 3, h, w], false);
        let bg = Tensor::from_slice(&[0.1f32, 0.4, 0.8]).view([1, 1, 3, 1, 1]);
        let src = &pha * &fg + (1.0 - &pha) * bg;
        let targets = Targets { pha: &pha, fgr: &fg, labels: None };
        let mut opt = Adam::new(&net.params, 5e-3);
        let params: Vec<&Tensor> = net.params.tensors().iter().collect();
        let mut losses = vec![];
        for _ in 0..30 {
            let pred = net.run(&net.params, &src, None, true);
            let loss = model_loss(Arch::Adam, &pred, &targets);
            let grads = Tensor::run_backward(&[&loss], &params, false, false);
            opt.update(&net.params, &grads);
            losses.push(loss.double_value(&[]));
        }
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        assert!(last < 0.5 * first, "loss {first} -> {last}");
    }

    /// Mechanism (a): the short-term tube is local, and equals a direct sum.
    #[test]
    fn short_term_attention_is_local() {
        tch::manual_seed(5);
        let (c, h, w, omega) = (6, 12, 14, 7);
        let q = Tensor::randn([1, c, h, w], cpu());
        let k = Tensor::randn([1, 2, c, h, w], cpu());
        let v = Tensor::randn([1, 2, c, h, w], cpu());
        let out = local_attention(&q, &k, &v, omega);
        let (py, px) = (9i64, 10i64);
        // Reference at (py, px): softmax over the in-image tube positions.
        let mut logits = vec![];
        let mut vals = vec![];
        for fr in 0..2 {
            for y in (py - 3).max(0)..=(py + 3).min(h - 1) {
                for x in (px - 3).max(0)..=(px + 3).min(w - 1) {
                    let kk = k.get(0).get(fr).narrow(1, y, 1).narrow(2, x, 1).view([c]);
                    let qq = q.get(0).narrow(1, py, 1).narrow(2, px, 1).view([c]);
                    logits.push((qq * kk).sum(Kind::Float).double_value(&[]) / (c as f64).sqrt());
                    vals.push(v.get(0).get(fr).narrow(1, y, 1).narrow(2, x, 1).view([c]));
                }
            }
        }
        let mx = logits.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = logits.iter().map(|l| (l - mx).exp()).sum();
        let want = logits.iter().zip(&vals).map(|(l, vv)| vv * ((l - mx).exp() / z)).reduce(|a, b| a + b).unwrap();
        let got = out.get(0).narrow(1, py, 1).narrow(2, px, 1).view([c]);
        assert!(max_diff(&got, &want) < 1e-5, "tube attention differs from the direct sum");
        // Far outside the window (row 1, column 2: 8 rows away) changes nothing.
        let bump = |y: i64, x: i64| {
            let e = Tensor::zeros([1, 2, c, h, w], cpu());
            let _ = e.narrow(3, y, 1).narrow(4, x, 1).fill_(5.0);
            e
        };
        let far = local_attention(&q, &(&k + bump(1, 2)), &(&v + bump(1, 2)), omega);
        let pix = |t: &Tensor| t.get(0).narrow(1, py, 1).narrow(2, px, 1).copy();
        assert!(max_diff(&pix(&far), &pix(&out)) <= 1e-6);
        assert!(max_diff(&far, &out) > 1e-3, "the bump changes pixels near it");
        // Just inside the window (3 rows and 3 columns away) changes it.
        let near = local_attention(&q, &(&k + bump(py - 3, px + 3)), &(&v + bump(py - 3, px + 3)), omega);
        assert!(max_diff(&pix(&near), &pix(&out)) > 1e-3);
    }

    /// Mechanism (b): the long-term memory takes a frame every l frames; the
    /// short-term tube every frame. Frame-by-frame calls equal one long call.
    #[test]
    fn long_term_memory_refreshes_every_l_frames() {
        let net = AdamNet::new(&ModelConfig::quick(), Device::Cpu, 2);
        assert_eq!(net.long_every, 5);
        tch::manual_seed(4);
        let src = Tensor::rand([1, 7, 3, 32, 48], cpu());
        let mut state: Option<Vec<Tensor>> = None;
        let mut after = vec![];
        for i in 0..7 {
            let p = net.run(&net.params, &src.narrow(1, i, 1), state.as_deref(), false);
            after.push(p.state.iter().map(|t| t.copy()).collect::<Vec<_>>());
            state = Some(p.state);
        }
        for (i, s) in after.iter().enumerate().take(5).skip(1) {
            for j in 0..3 {
                assert!(s[j].equal(&after[0][j]), "long memory moved at frame {i}");
            }
            assert!(!s[3].equal(&after[i - 1][3]), "short tube frozen at frame {i}");
        }
        assert_eq!(after[5][0].size()[1], 2, "frame l enters the memory");
        assert!(after[5][0].narrow(1, 0, 1).equal(&after[0][0]));
        assert!(after[5][0].narrow(1, 1, 1).equal(&after[5][3]), "the new entry is frame 5's key");
        assert!(after[6][0].equal(&after[5][0]));
        let whole = net.run(&net.params, &src, None, false);
        for j in 0..6 {
            assert!(max_diff(&whole.state[j], &after[6][j]) < 1e-4);
        }
    }

    /// Mechanism (c): the mask decides which embedding a value carries.
    #[test]
    fn previous_mask_embeds_the_value() {
        let net = AdamNet::new(&ModelConfig::quick(), Device::Cpu, 6);
        let ctx = Ctx { p: &net.params, buffers: &net.buffers, bn: BnMode::Running };
        tch::manual_seed(8);
        let d = net.cfg.aspp;
        let v = Tensor::randn([1, 1, d, 3, 4], cpu());
        let m = Tensor::rand([1, 1, 1, 3, 4], cpu()).gt(0.5).to_kind(Kind::Float);
        let (a, b) = (embed(&ctx, &v, &m), embed(&ctx, &v, &(1.0 - &m)));
        let ef_eb = (net.params.get("xf.emb_f") - net.params.get("xf.emb_b")).view([1, 1, d, 1, 1]);
        assert!(max_diff(&(&a - &b), &((2.0 * &m - 1.0) * ef_eb)) < 1e-6);
        assert!(max_diff(&a, &b) > 0.1);
        // In the model: flipping the stored masks changes the next frame.
        let src = Tensor::rand([1, 2, 3, 32, 48], cpu());
        let p = net.run(&net.params, &src.narrow(1, 0, 1), None, false);
        let mut flipped: Vec<Tensor> = p.state.iter().map(|t| t.shallow_clone()).collect();
        flipped[2] = 1.0 - &p.state[2];
        flipped[5] = 1.0 - &p.state[5];
        let x = net.run(&net.params, &src.narrow(1, 1, 1), Some(&p.state), false);
        let y = net.run(&net.params, &src.narrow(1, 1, 1), Some(&flipped), false);
        assert!(max_diff(&x.pha, &y.pha) > 1e-4);
    }

    #[test]
    fn same_seed_same_outputs() {
        tch::manual_seed(9);
        let src = Tensor::rand([1, 2, 3, 36, 64], cpu());
        let run = |seed| {
            let net = AdamNet::new(&ModelConfig::quick(), Device::Cpu, seed);
            net.run(&net.params, &src, None, false).pha
        };
        assert!(run(11).equal(&run(11)));
        assert!(max_diff(&run(11), &run(12)) > 1e-4);
    }
}
