//! LR-ASPP (RVM's segmentation head on the 1/16 feature): a 1x1 conv +
//! BatchNorm + ReLU branch (`aspp.aspp1`) gated by a global-context branch
//! (global average pool, 1x1 conv, sigmoid: `aspp.aspp2`).

use tch::Tensor;

use super::layers::{bn, conv, ConvSpec, Ctx};
use super::params::ParamBuilder;

pub struct Lraspp {
    pub out: i64,
}

impl Lraspp {
    pub fn new(pb: &mut ParamBuilder, c_in: i64, out: i64) -> Lraspp {
        pb.conv("aspp.aspp1.0", out, c_in, 1, false);
        pb.bn("aspp.aspp1.1", out);
        // aspp2.0 is the (parameterless) pooling layer.
        pb.conv("aspp.aspp2.1", out, c_in, 1, false);
        Lraspp { out }
    }

    pub fn forward(&self, ctx: &Ctx, x: &Tensor) -> Tensor {
        let a = bn(ctx, "aspp.aspp1.1", &conv(ctx, "aspp.aspp1.0", x, &ConvSpec::same(1, 1))).relu();
        let g = conv(ctx, "aspp.aspp2.1", &x.adaptive_avg_pool2d([1, 1]), &ConvSpec::same(1, 1)).sigmoid();
        a * g
    }
}
