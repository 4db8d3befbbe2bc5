//! RVM's backbone: torchvision's MobileNetV3-Large feature stack with the
//! last stage dilated (stride 1, dilation 2), so the deepest feature is 1/16
//! instead of 1/32. Parameters carry torchvision's `state_dict` names under
//! `backbone.features.N`: N = 0 the stem, 1-15 the inverted residual blocks
//! (`block.J` = expand, depthwise, squeeze-excitation, project; each conv
//! `.0` with its BatchNorm `.1`), 16 the final 1x1 conv. Features are taken
//! after N = 1, 3, 6 and 16 (1/2, 1/4, 1/8, 1/16), as RVM does.

use tch::Tensor;

use super::layers::{bn_with, conv, hardsigmoid, hardswish, ConvSpec, Ctx};
use super::params::ParamBuilder;

/// One inverted residual block as torchvision configures it: kernel,
/// expanded channels, output channels, squeeze-excitation, hardswish (else
/// ReLU), stride, dilation (channels before width scaling).
#[derive(Clone, Copy, Debug)]
pub struct BlockSpec {
    pub k: i64,
    pub exp: i64,
    pub out: i64,
    pub se: bool,
    pub hs: bool,
    pub stride: i64,
    pub dilation: i64,
}

const fn b(k: i64, exp: i64, out: i64, se: bool, hs: bool, stride: i64, dilation: i64) -> BlockSpec {
    BlockSpec { k, exp, out, se, hs, stride, dilation }
}

/// MobileNetV3-Large (Howard et al. 2019, Table 1), RVM's setting: the
/// block at index 12 keeps its configured stride 2 (so it has no residual)
/// but, being dilated, runs at stride 1.
pub const LARGE: [BlockSpec; 15] = [
    b(3, 16, 16, false, false, 1, 1),
    b(3, 64, 24, false, false, 2, 1),
    b(3, 72, 24, false, false, 1, 1),
    b(5, 72, 40, true, false, 2, 1),
    b(5, 120, 40, true, false, 1, 1),
    b(5, 120, 40, true, false, 1, 1),
    b(3, 240, 80, false, true, 2, 1),
    b(3, 200, 80, false, true, 1, 1),
    b(3, 184, 80, false, true, 1, 1),
    b(3, 184, 80, false, true, 1, 1),
    b(3, 480, 112, true, true, 1, 1),
    b(3, 672, 112, true, true, 1, 1),
    b(5, 672, 160, true, true, 2, 2),
    b(5, 960, 160, true, true, 1, 2),
    b(5, 960, 160, true, true, 1, 2),
];
/// Blocks after which RVM taps a feature (features 1, 3, 6).
pub const TAPS: [usize; 3] = [0, 2, 5];

/// torchvision's `_make_divisible(v, 8)`: round to a multiple of 8, at
/// least 8, never more than 10% below `v`.
pub fn make_divisible(v: f64) -> i64 {
    let d = 8.0;
    let mut n = (((v + d / 2.0) as i64) / 8 * 8).max(8);
    if (n as f64) < 0.9 * v {
        n += 8;
    }
    n
}

/// Channels after width scaling (torchvision's `width_mult`).
pub fn scaled(c: i64, width: f64) -> i64 {
    make_divisible(c as f64 * width)
}

/// torchvision's MobileNetV3 BatchNorm: eps 1e-3, momentum 0.01.
pub const EPS: f64 = 1e-3;
const MOMENTUM: f64 = 0.01;

struct Block {
    spec: BlockSpec,
    /// Layer index of each part inside `block` (expand is absent when the
    /// expansion equals the input).
    expand: Option<usize>,
    dw: usize,
    se: Option<usize>,
    project: usize,
    residual: bool,
}

pub struct Encoder {
    blocks: Vec<Block>,
    /// Channels of the features at 1/2, 1/4, 1/8, 1/16.
    pub channels: [i64; 4],
}

/// Conv + BatchNorm under a `Conv2dNormActivation` name (`.0`, `.1`).
fn conv_norm(pb: &mut ParamBuilder, name: &str, out: i64, in_per_group: i64, k: i64) {
    pb.conv(&format!("{name}.0"), out, in_per_group, k, false);
    pb.bn(&format!("{name}.1"), out);
}

fn run_conv_norm(ctx: &Ctx, name: &str, x: &Tensor, s: &ConvSpec) -> Tensor {
    bn_with(ctx, &format!("{name}.1"), &conv(ctx, &format!("{name}.0"), x, s), EPS, MOMENTUM)
}

impl Encoder {
    pub fn new(pb: &mut ParamBuilder, width: f64) -> Encoder {
        let stem = scaled(16, width);
        conv_norm(pb, "backbone.features.0", stem, 3, 3);
        let mut c_in = stem;
        let mut blocks = Vec::new();
        for (i, s) in LARGE.iter().enumerate() {
            let s = BlockSpec { exp: scaled(s.exp, width), out: scaled(s.out, width), ..*s };
            let name = format!("backbone.features.{}.block", i + 1);
            let mut j = 0;
            let expand = (s.exp != c_in).then(|| {
                conv_norm(pb, &format!("{name}.{j}"), s.exp, c_in, 1);
                j += 1;
                j - 1
            });
            let dw = j;
            conv_norm(pb, &format!("{name}.{dw}"), s.exp, 1, s.k);
            j += 1;
            let se = s.se.then(|| {
                let sq = make_divisible((s.exp / 4) as f64);
                pb.conv(&format!("{name}.{j}.fc1"), sq, s.exp, 1, true);
                pb.conv(&format!("{name}.{j}.fc2"), s.exp, sq, 1, true);
                j += 1;
                j - 1
            });
            conv_norm(pb, &format!("{name}.{j}"), s.out, s.exp, 1);
            blocks.push(Block { spec: s, expand, dw, se, project: j, residual: s.stride == 1 && c_in == s.out });
            c_in = s.out;
        }
        // torchvision: the last conv widens six-fold.
        let last = 6 * c_in;
        conv_norm(pb, "backbone.features.16", last, c_in, 1);
        let channels = [blocks[TAPS[0]].spec.out, blocks[TAPS[1]].spec.out, blocks[TAPS[2]].spec.out, last];
        Encoder { blocks, channels }
    }

    /// Features at 1/2, 1/4, 1/8, 1/16 of an input normalised as ImageNet's.
    pub fn forward(&self, ctx: &Ctx, x: &Tensor) -> [Tensor; 4] {
        let mut x = hardswish(&run_conv_norm(ctx, "backbone.features.0", x, &ConvSpec::same(3, 2)));
        let mut taps: Vec<Tensor> = Vec::with_capacity(3);
        for (i, blk) in self.blocks.iter().enumerate() {
            let s = &blk.spec;
            let name = format!("backbone.features.{}.block", i + 1);
            let act = |t: Tensor| if s.hs { hardswish(&t) } else { t.relu() };
            let mut h = x.shallow_clone();
            if let Some(j) = blk.expand {
                h = act(run_conv_norm(ctx, &format!("{name}.{j}"), &h, &ConvSpec::same(1, 1)));
            }
            // torchvision runs a dilated block at stride 1.
            let stride = if s.dilation > 1 { 1 } else { s.stride };
            h = act(run_conv_norm(ctx, &format!("{name}.{}", blk.dw), &h, &ConvSpec::depthwise(s.k, stride, s.dilation, s.exp)));
            if let Some(j) = blk.se {
                let g = h.adaptive_avg_pool2d([1, 1]);
                let g = conv(ctx, &format!("{name}.{j}.fc1"), &g, &ConvSpec::same(1, 1)).relu();
                let g = hardsigmoid(&conv(ctx, &format!("{name}.{j}.fc2"), &g, &ConvSpec::same(1, 1)));
                h = h * g;
            }
            h = run_conv_norm(ctx, &format!("{name}.{}", blk.project), &h, &ConvSpec::same(1, 1));
            x = if blk.residual { h + &x } else { h };
            if TAPS.contains(&i) {
                taps.push(x.shallow_clone());
            }
        }
        let f4 = hardswish(&run_conv_norm(ctx, "backbone.features.16", &x, &ConvSpec::same(1, 1)));
        let mut it = taps.into_iter();
        [it.next().unwrap(), it.next().unwrap(), it.next().unwrap(), f4]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_torchvision_by_hand() {
        // _make_divisible(v, 8): max(8, int(v + 4) // 8 * 8), +8 if below 0.9 v.
        assert_eq!(make_divisible(18.0), 24); // 72 // 4: 16 < 16.2, so 24
        assert_eq!(make_divisible(30.0), 32);
        assert_eq!(make_divisible(168.0), 168);
        assert_eq!(make_divisible(12.0), 16);
        assert_eq!(make_divisible(3.0), 8);
        assert_eq!(scaled(120, 0.5), 64);
    }
}
