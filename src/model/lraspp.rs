//! LR-ASPP (RVM's segmentation head on the 1/16 feature): a 1x1 conv branch
//! gated by a global-context branch (global pool, 1x1 conv, sigmoid).

use tch::Tensor;

use super::layers::{bn, conv, ConvSpec, Ctx};
use super::params::ParamBuilder;

pub struct Lraspp {
    pub out: i64,
}

impl Lraspp {
    pub fn new(pb: &mut ParamBuilder, c_in: i64, out: i64) -> Lraspp {
        pb.conv("aspp.a", out, c_in, 1, false);
        pb.bn("aspp.a.bn", out);
        pb.conv("aspp.b", out, c_in, 1, false);
        Lraspp { out }
    }

    pub fn forward(&self, ctx: &Ctx, x: &Tensor) -> Tensor {
        let a = bn(ctx, "aspp.a.bn", &conv(ctx, "aspp.a", x, &ConvSpec::same(1, 1))).relu();
        let g = conv(ctx, "aspp.b", &x.adaptive_avg_pool2d([1, 1]), &ConvSpec::same(1, 1)).sigmoid();
        a * g
    }
}
