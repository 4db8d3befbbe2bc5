//! RVM's Deep Guided Filter refiner (`refiner.*`; Wu et al., CVPR 2018),
//! the high-resolution path: the network runs on the source scaled by
//! `downsample_ratio`, and the refiner lifts its foreground residual and
//! alpha back to full resolution. At low resolution it fits a local linear
//! model y ~ A x + b of the outputs y = (fgr residual, alpha) on the guide
//! x = (RGB, grey), per 3x3 box (a learnable depthwise conv started at
//! 1/9), with A predicted from the box covariance, the box variance and the
//! decoder's hidden map by 1x1 convs; A and b are upsampled bilinearly and
//! applied to the full-resolution guide.

use tch::Tensor;

use super::layers::{bn, conv, ConvSpec, Ctx};
use super::params::ParamBuilder;

pub struct Refiner;

impl Refiner {
    /// `hid`: channels of the decoder's hidden map (RVM: 16).
    pub fn new(pb: &mut ParamBuilder, hid: i64) -> Refiner {
        let w = tch::Tensor::full([4, 1, 3, 3], 1.0 / 9.0, (tch::Kind::Float, pb.device())).set_requires_grad(true);
        pb.params.push("refiner.box_filter.weight", w);
        pb.conv("refiner.conv.0", hid, 4 * 2 + hid, 1, false);
        pb.bn("refiner.conv.1", hid);
        pb.conv("refiner.conv.3", hid, hid, 1, false);
        pb.bn("refiner.conv.4", hid);
        pb.conv("refiner.conv.6", 4, hid, 1, true);
        // hoimat's trainers run at ratio 1 and never train the refiner, so
        // start it as a plain upsampler: A = 0, b = box mean of the low-res
        // output (RVM's own weights replace this on import).
        tch::no_grad(|| {
            for n in ["refiner.conv.6.weight", "refiner.conv.6.bias"] {
                let _ = pb.params.get(n).shallow_clone().zero_();
            }
        });
        Refiner
    }

    /// fine_src: [N, 3, H, W]; base_src: [N, 3, h, w]; base_fgr (residual)
    /// [N, 3, h, w]; base_pha [N, 1, h, w]; base_hid [N, C, h, w]. Returns the
    /// full-resolution foreground residual and alpha (before clamping).
    pub fn forward(&self, ctx: &Ctx, fine_src: &Tensor, base_src: &Tensor, base_fgr: &Tensor, base_pha: &Tensor, base_hid: &Tensor) -> (Tensor, Tensor) {
        let guide = |s: &Tensor| Tensor::cat(&[s, &s.mean_dim(1, true, None)], 1);
        let fine_x = guide(fine_src);
        let base_x = guide(base_src);
        let base_y = Tensor::cat(&[base_fgr, base_pha], 1);
        let boxf = |x: &Tensor| conv(ctx, "refiner.box_filter", x, &ConvSpec::depthwise(3, 1, 1, 4));
        let mean_x = boxf(&base_x);
        let mean_y = boxf(&base_y);
        let cov_xy = boxf(&(&base_x * &base_y)) - &mean_x * &mean_y;
        let var_x = boxf(&(&base_x * &base_x)) - &mean_x * &mean_x;
        let one = ConvSpec::same(1, 1);
        let a = bn(ctx, "refiner.conv.1", &conv(ctx, "refiner.conv.0", &Tensor::cat(&[&cov_xy, &var_x, base_hid], 1), &one)).relu();
        let a = bn(ctx, "refiner.conv.4", &conv(ctx, "refiner.conv.3", &a, &one)).relu();
        let a = conv(ctx, "refiner.conv.6", &a, &one);
        let b = mean_y - &a * mean_x;
        let s = fine_src.size();
        let a = a.upsample_bilinear2d([s[2], s[3]], false, None, None);
        let b = b.upsample_bilinear2d([s[2], s[3]], false, None, None);
        let out = a * fine_x + b;
        let parts = out.split_with_sizes([3, 1], 1);
        (parts[0].shallow_clone(), parts[1].shallow_clone())
    }
}
