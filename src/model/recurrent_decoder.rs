//! RVM's recurrent decoder: a ConvGRU bottleneck at 1/16, then three
//! upsampling blocks (bilinear x2, concatenate the encoder skip and the
//! downsampled source image, 3x3 conv, ConvGRU on half the channels) and an
//! output block at full resolution. Hidden states carry across frames within
//! a call and across calls through `rec`.

use tch::Tensor;

use super::convgru::ConvGru;
use super::layers::{avg_down, bn, conv, flat, resize, unflat, ConvSpec, Ctx};
use super::params::ParamBuilder;

pub struct RecurrentDecoder {
    grus: [ConvGru; 4],
    pub channels: [i64; 4],
}

impl RecurrentDecoder {
    /// `feats`: channels at 1/2, 1/4, 1/8; `aspp`: channels at 1/16;
    /// `dec`: output channels at 1/8, 1/4, 1/2, 1.
    pub fn new(pb: &mut ParamBuilder, feats: [i64; 3], aspp: i64, dec: [i64; 4]) -> RecurrentDecoder {
        let gru4 = ConvGru::new(pb, "dec.gru4", aspp / 2);
        pb.conv("dec.up3", dec[0], aspp + feats[2] + 3, 3, false);
        pb.bn("dec.up3.bn", dec[0]);
        let gru3 = ConvGru::new(pb, "dec.gru3", dec[0] / 2);
        pb.conv("dec.up2", dec[1], dec[0] + feats[1] + 3, 3, false);
        pb.bn("dec.up2.bn", dec[1]);
        let gru2 = ConvGru::new(pb, "dec.gru2", dec[1] / 2);
        pb.conv("dec.up1", dec[2], dec[1] + feats[0] + 3, 3, false);
        pb.bn("dec.up1.bn", dec[2]);
        let gru1 = ConvGru::new(pb, "dec.gru1", dec[2] / 2);
        pb.conv("dec.out1", dec[3], dec[2] + 3, 3, false);
        pb.bn("dec.out1.bn", dec[3]);
        pb.conv("dec.out2", dec[3], dec[3], 3, false);
        pb.bn("dec.out2.bn", dec[3]);
        RecurrentDecoder { grus: [gru4, gru3, gru2, gru1], channels: dec }
    }

    /// GRU on the second half of the channels of x: [B*T, C, h, w].
    fn half_gru(gru: &ConvGru, ctx: &Ctx, x: &Tensor, b: i64, t: i64, h: Option<&Tensor>) -> (Tensor, Tensor) {
        let parts = x.split(gru.channels, 1);
        let (out, state) = gru.forward(ctx, &unflat(&parts[1], b, t), h);
        (Tensor::cat(&[&parts[0], &flat(&out)], 1), state)
    }

    fn up(ctx: &Ctx, name: &str, x: &Tensor, skip: &Tensor, src: &Tensor) -> Tensor {
        let s = skip.size();
        let x = resize(x, s[2], s[3]);
        let y = conv(ctx, name, &Tensor::cat(&[&x, skip, src], 1), &ConvSpec::same(3, 1));
        bn(ctx, &format!("{name}.bn"), &y).relu()
    }

    /// src: [B*T, 3, H, W] in [0, 1]; features flattened over time; returns
    /// the full-resolution hidden map and the four new recurrent states.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, ctx: &Ctx, src: &Tensor, f: &[Tensor; 4], x4: &Tensor, b: i64, t: i64, rec: Option<&[Tensor]>) -> (Tensor, Vec<Tensor>) {
        let r = |i: usize| rec.map(|r| &r[i]);
        let s1 = avg_down(src);
        let s2 = avg_down(&s1);
        let s3 = avg_down(&s2);
        let (x, r4) = Self::half_gru(&self.grus[0], ctx, x4, b, t, r(0));
        let x = Self::up(ctx, "dec.up3", &x, &f[2], &resize(&s3, f[2].size()[2], f[2].size()[3]));
        let (x, r3) = Self::half_gru(&self.grus[1], ctx, &x, b, t, r(1));
        let x = Self::up(ctx, "dec.up2", &x, &f[1], &resize(&s2, f[1].size()[2], f[1].size()[3]));
        let (x, r2) = Self::half_gru(&self.grus[2], ctx, &x, b, t, r(2));
        let x = Self::up(ctx, "dec.up1", &x, &f[0], &resize(&s1, f[0].size()[2], f[0].size()[3]));
        let (x, r1) = Self::half_gru(&self.grus[3], ctx, &x, b, t, r(3));
        let ss = src.size();
        let x = resize(&x, ss[2], ss[3]);
        let x = bn(ctx, "dec.out1.bn", &conv(ctx, "dec.out1", &Tensor::cat(&[&x, src], 1), &ConvSpec::same(3, 1))).relu();
        let x = bn(ctx, "dec.out2.bn", &conv(ctx, "dec.out2", &x, &ConvSpec::same(3, 1))).relu();
        (x, vec![r4, r3, r2, r1])
    }
}
