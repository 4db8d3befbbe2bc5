//! MobileNetV3-style encoder (RVM's backbone): a stride-2 stem, inverted
//! residual blocks (1x1 expand, depthwise k x k, squeeze-excitation, 1x1
//! project) with ReLU or hardswish, features at 1/2, 1/4, 1/8 and 1/16. As in
//! RVM the last stage keeps stride 1 and dilates its depthwise convs by 2, so
//! the deepest feature is 1/16 instead of 1/32.

use tch::Tensor;

use super::layers::{bn, conv, hardsigmoid, hardswish, ConvSpec, Ctx};
use super::params::ParamBuilder;

/// One inverted residual block: kernel, expansion, output channels,
/// squeeze-excitation, hardswish (else ReLU), stride, dilation.
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

/// MobileNetV3-Large up to its 1/16 stage (torchvision's table), with the
/// tap after blocks 0, 2, 5 and the final 1x1 conv.
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
    b(5, 672, 160, true, true, 1, 2),
    b(5, 960, 160, true, true, 1, 2),
    b(5, 960, 160, true, true, 1, 2),
];
pub const LARGE_TAPS: [usize; 3] = [0, 2, 5];

/// One block per resolution step: the narrow CPU variant.
pub const LITE: [BlockSpec; 5] = [
    b(3, 16, 16, false, false, 1, 1),
    b(3, 64, 24, false, false, 2, 1),
    b(5, 72, 40, true, false, 2, 1),
    b(3, 240, 80, false, true, 2, 1),
    b(5, 480, 160, true, true, 1, 2),
];
pub const LITE_TAPS: [usize; 3] = [0, 1, 2];

/// Round channels to a multiple of 4 (at least 4) after width scaling.
pub fn scaled(c: i64, width: f64) -> i64 {
    (((c as f64 * width) / 4.0).round() as i64 * 4).max(4)
}

pub struct Encoder {
    blocks: Vec<(BlockSpec, i64, bool)>, // spec (scaled), input channels, residual
    taps: [usize; 3],
    stem: i64,
    pub channels: [i64; 4],
}

fn se_channels(exp: i64) -> i64 {
    ((exp / 4 + 4) / 8 * 8).max(8)
}

impl Encoder {
    pub fn new(pb: &mut ParamBuilder, specs: &[BlockSpec], taps: [usize; 3], width: f64, last: i64) -> Encoder {
        let stem = scaled(16, width);
        pb.conv("enc.stem", stem, 3, 3, false);
        pb.bn("enc.stem.bn", stem);
        let mut c_in = stem;
        let mut blocks = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let s = BlockSpec { exp: scaled(s.exp, width), out: scaled(s.out, width), ..*s };
            let name = format!("enc.b{i}");
            if s.exp != c_in {
                pb.conv(&format!("{name}.expand"), s.exp, c_in, 1, false);
                pb.bn(&format!("{name}.expand.bn"), s.exp);
            }
            pb.conv(&format!("{name}.dw"), s.exp, 1, s.k, false);
            pb.bn(&format!("{name}.dw.bn"), s.exp);
            if s.se {
                let sq = se_channels(s.exp);
                pb.conv(&format!("{name}.se1"), sq, s.exp, 1, true);
                pb.conv(&format!("{name}.se2"), s.exp, sq, 1, true);
            }
            pb.conv(&format!("{name}.project"), s.out, s.exp, 1, false);
            pb.bn(&format!("{name}.project.bn"), s.out);
            blocks.push((s, c_in, s.stride == 1 && c_in == s.out));
            c_in = s.out;
        }
        let last = scaled(last, width);
        pb.conv("enc.last", last, c_in, 1, false);
        pb.bn("enc.last.bn", last);
        let channels = [blocks[taps[0]].0.out, blocks[taps[1]].0.out, blocks[taps[2]].0.out, last];
        Encoder { blocks, taps, stem, channels }
    }

    /// Features at 1/2, 1/4, 1/8, 1/16 of an input normalised as ImageNet's.
    pub fn forward(&self, ctx: &Ctx, x: &Tensor) -> [Tensor; 4] {
        let _ = self.stem;
        let mut x = hardswish(&bn(ctx, "enc.stem.bn", &conv(ctx, "enc.stem", x, &ConvSpec::same(3, 2))));
        let mut taps: Vec<Tensor> = Vec::with_capacity(3);
        for (i, (s, c_in, residual)) in self.blocks.iter().enumerate() {
            let name = format!("enc.b{i}");
            let act = |t: Tensor| if s.hs { hardswish(&t) } else { t.relu() };
            let mut h = x.shallow_clone();
            if s.exp != *c_in {
                h = act(bn(ctx, &format!("{name}.expand.bn"), &conv(ctx, &format!("{name}.expand"), &h, &ConvSpec::same(1, 1))));
            }
            h = act(bn(ctx, &format!("{name}.dw.bn"), &conv(ctx, &format!("{name}.dw"), &h, &ConvSpec::depthwise(s.k, s.stride, s.dilation, s.exp))));
            if s.se {
                let g = h.adaptive_avg_pool2d([1, 1]);
                let g = conv(ctx, &format!("{name}.se1"), &g, &ConvSpec::same(1, 1)).relu();
                let g = hardsigmoid(&conv(ctx, &format!("{name}.se2"), &g, &ConvSpec::same(1, 1)));
                h = h * g;
            }
            h = bn(ctx, &format!("{name}.project.bn"), &conv(ctx, &format!("{name}.project"), &h, &ConvSpec::same(1, 1)));
            x = if *residual { h + &x } else { h };
            if self.taps.contains(&i) {
                taps.push(x.shallow_clone());
            }
        }
        let f4 = hardswish(&bn(ctx, "enc.last.bn", &conv(ctx, "enc.last", &x, &ConvSpec::same(1, 1))));
        let mut it = taps.into_iter();
        [it.next().unwrap(), it.next().unwrap(), it.next().unwrap(), f4]
    }
}
