//! Functional layers over a [`ParamSet`]: each takes the parameters by name,
//! so the same code runs at theta, at adapted theta', or at an average.
//! Convolutions also count their FLOPs when asked (for `bench model`).

use std::cell::{Cell, RefCell};

use tch::Tensor;

use super::params::ParamSet;

/// What a forward pass needs besides the input: parameters, BatchNorm
/// buffers, and how BatchNorm normalises.
pub struct Ctx<'a> {
    pub p: &'a ParamSet,
    pub buffers: &'a ParamSet,
    pub bn: BnMode,
}

/// How BatchNorm normalises in one pass. Supervised training uses
/// `BatchTracked` (PyTorch's `train()` mode), and so does local adaptation,
/// which adapts to the clip itself; inference `Running` (`eval()`).
/// Meta-training uses `Batch`: batch statistics, as the reference MAML code
/// does, while the running statistics stay those of the model the pass
/// started from, so inner and outer passes over a few task frames never
/// re-normalise later test video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnMode {
    /// The running statistics normalise; nothing is updated.
    Running,
    /// Batch statistics normalise; the running statistics are left alone.
    Batch,
    /// Batch statistics normalise and the running ones follow them (momentum 0.1).
    BatchTracked,
}

impl BnMode {
    /// PyTorch's `train()` / `eval()` switch.
    pub fn train(train: bool) -> BnMode {
        if train { BnMode::BatchTracked } else { BnMode::Running }
    }
}

thread_local! {
    static FLOPS: Cell<Option<u64>> = const { Cell::new(None) };
    /// Per BatchNorm: sums of its inputs and their squares per channel, and
    /// the count of values per channel, while [`record_bn_inputs`] runs.
    static BN_INPUTS: RefCell<Option<BnSums>> = const { RefCell::new(None) };
}

type BnSums = std::collections::BTreeMap<String, (Tensor, Tensor, f64)>;

/// Each BatchNorm's input statistics over everything run inside `f`:
/// per channel, the mean and the (biased) variance, the two numbers a
/// BatchNorm normalises by in training mode.
/// Thread-local and not nested (an inner call would take the outer one's
/// sums); recording stops even if `f` panics.
pub fn record_bn_inputs<T>(f: impl FnOnce() -> T) -> (T, std::collections::BTreeMap<String, (Tensor, Tensor)>) {
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            BN_INPUTS.with(|r| r.borrow_mut().take());
        }
    }
    BN_INPUTS.with(|r| *r.borrow_mut() = Some(Default::default()));
    let stop = Stop;
    let out = f();
    let sums = BN_INPUTS.with(|r| r.borrow_mut().take()).unwrap_or_default();
    drop(stop);
    let stats = sums
        .into_iter()
        .map(|(k, (s, s2, n))| {
            let mean = &s / n;
            let var = (&s2 / n - mean.square()).clamp_min(0.0);
            (k, (mean.to_kind(tch::Kind::Float), var.to_kind(tch::Kind::Float)))
        })
        .collect();
    (out, stats)
}

/// Count multiply-adds x 2 of every convolution run inside `f`.
pub fn count_flops<T>(f: impl FnOnce() -> T) -> (T, u64) {
    FLOPS.with(|c| c.set(Some(0)));
    let out = f();
    let n = FLOPS.with(|c| c.replace(None)).unwrap_or(0);
    (out, n)
}

pub struct ConvSpec {
    pub stride: i64,
    pub padding: i64,
    pub dilation: i64,
    pub groups: i64,
}

impl ConvSpec {
    /// "Same" padding for a k x k kernel at stride `stride` and dilation 1.
    pub fn same(k: i64, stride: i64) -> Self {
        ConvSpec { stride, padding: k / 2, dilation: 1, groups: 1 }
    }
    pub fn depthwise(k: i64, stride: i64, dilation: i64, channels: i64) -> Self {
        ConvSpec { stride, padding: dilation * (k / 2), dilation, groups: channels }
    }
}

pub fn conv(ctx: &Ctx, name: &str, x: &Tensor, s: &ConvSpec) -> Tensor {
    let w = ctx.p.get(&format!("{name}.weight"));
    let b = ctx.p.try_get(&format!("{name}.bias"));
    let y = x.conv2d(w, b, [s.stride, s.stride], [s.padding, s.padding], [s.dilation, s.dilation], s.groups);
    FLOPS.with(|c| {
        if let Some(n) = c.get() {
            let ws = w.size();
            let ys = y.size();
            let per_out = 2 * ws[1] * ws[2] * ws[3];
            c.set(Some(n + (per_out * ys.iter().product::<i64>()) as u64));
        }
    });
    y
}

/// PyTorch's `BatchNorm2d` defaults (eps 1e-5, momentum 0.1).
pub fn bn(ctx: &Ctx, name: &str, x: &Tensor) -> Tensor {
    bn_with(ctx, name, x, 1e-5, 0.1)
}

/// BatchNorm with its own eps and momentum (torchvision's MobileNetV3 uses
/// 1e-3 and 0.01, which RVM's encoder inherits).
pub fn bn_with(ctx: &Ctx, name: &str, x: &Tensor, eps: f64, momentum: f64) -> Tensor {
    BN_INPUTS.with(|r| {
        if let Some(map) = r.borrow_mut().as_mut() {
            let e = map.entry(name.to_string()).or_insert_with(|| (Tensor::zeros([x.size()[1]], (tch::Kind::Double, x.device())), Tensor::zeros([x.size()[1]], (tch::Kind::Double, x.device())), 0.0));
            let xd = x.detach().to_kind(tch::Kind::Double);
            e.0 += xd.sum_dim_intlist([0, 2, 3].as_slice(), false, tch::Kind::Double);
            e.1 += xd.square().sum_dim_intlist([0, 2, 3].as_slice(), false, tch::Kind::Double);
            e.2 += (x.numel() as i64 / x.size()[1]) as f64;
        }
    });
    let g = ctx.p.get(&format!("{name}.weight"));
    let b = ctx.p.get(&format!("{name}.bias"));
    let m = ctx.buffers.get(&format!("{name}.running_mean"));
    let v = ctx.buffers.get(&format!("{name}.running_var"));
    match ctx.bn {
        BnMode::Running => Tensor::batch_norm(x, Some(g), Some(b), Some(m), Some(v), false, momentum, eps, false),
        BnMode::BatchTracked => Tensor::batch_norm(x, Some(g), Some(b), Some(m), Some(v), true, momentum, eps, false),
        // Without running tensors libtorch normalises by the batch and writes nothing.
        BnMode::Batch => Tensor::batch_norm(x, Some(g), Some(b), None::<&Tensor>, None::<&Tensor>, true, momentum, eps, false),
    }
}

pub fn hardswish(x: &Tensor) -> Tensor {
    x * (x + 3.0).clamp(0.0, 6.0) / 6.0
}

pub fn hardsigmoid(x: &Tensor) -> Tensor {
    (x + 3.0).clamp(0.0, 6.0) / 6.0
}

/// Bilinear resize to an exact size (align_corners = false).
pub fn resize(x: &Tensor, h: i64, w: i64) -> Tensor {
    x.upsample_bilinear2d([h, w], false, None, None)
}

/// Bilinear x2 upsampling cropped to `h` x `w` (RVM's decoder: upsample,
/// then cut the odd row/column that ceil-mode halving added).
pub fn up2_crop(x: &Tensor, h: i64, w: i64) -> Tensor {
    let s = x.size();
    x.upsample_bilinear2d([2 * s[2], 2 * s[3]], false, None, None).narrow(2, 0, h).narrow(3, 0, w)
}

/// Bilinear scaling by `ratio` as PyTorch's `interpolate(scale_factor=r,
/// recompute_scale_factor=False)`: output floor(size * r), sampling
/// positions from r itself (not from the rounded sizes), which is what
/// RVM's `downsample_ratio` path does.
pub fn scale_by(x: &Tensor, ratio: f64) -> Tensor {
    let s = x.size();
    let (h, w) = ((s[2] as f64 * ratio).floor() as i64, (s[3] as f64 * ratio).floor() as i64);
    x.upsample_bilinear2d([h.max(1), w.max(1)], false, Some(ratio), Some(ratio))
}

/// 2x2 average pooling with ceil mode: halves odd sizes the way stride-2
/// convolutions with padding do, so skips line up with encoder features.
pub fn avg_down(x: &Tensor) -> Tensor {
    x.avg_pool2d([2, 2], [2, 2], [0, 0], true, false, None::<i64>)
}

/// [B*T, C, h, w] -> [B, T, C, h, w].
pub fn unflat(x: &Tensor, b: i64, t: i64) -> Tensor {
    let s = x.size();
    x.reshape([b, t, s[1], s[2], s[3]])
}

/// [B, T, C, h, w] -> [B*T, C, h, w].
pub fn flat(x: &Tensor) -> Tensor {
    let s = x.size();
    x.reshape([s[0] * s[1], s[2], s[3], s[4]])
}

const MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const STD: [f64; 3] = [0.229, 0.224, 0.225];

/// RGB in [0, 1] ([N, 3, H, W]) normalised with ImageNet's statistics, as
/// the MobileNet-style backbones expect.
pub fn normalise(x: &Tensor) -> Tensor {
    let dev = x.device();
    let mean = Tensor::from_slice(&MEAN).to_kind(x.kind()).to_device(dev).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&STD).to_kind(x.kind()).to_device(dev).view([1, 3, 1, 1]);
    (x - mean) / std
}

/// A 3x3 conv + BatchNorm + ReLU, the workhorse of the zoo's decoders.
pub fn cbr(ctx: &Ctx, name: &str, x: &Tensor) -> Tensor {
    bn(ctx, &format!("{name}.bn"), &conv(ctx, name, x, &ConvSpec::same(3, 1))).relu()
}
