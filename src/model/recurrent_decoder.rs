//! RVM's recurrent decoder (`decoder.*`): a bottleneck ConvGRU on half the
//! channels at 1/16 (`decode4`), three upsampling blocks (`decode3..1`:
//! bilinear x2 cropped to the skip's size, concatenate the encoder skip and
//! the average-pooled source image, 3x3 conv + BatchNorm + ReLU, ConvGRU on
//! the second half of the channels) and an output block at the source's
//! resolution (`decode0`: x2, concatenate the source, two conv + BatchNorm +
//! ReLU). Hidden states carry across frames within a call and across calls
//! through `rec`.

use tch::Tensor;

use super::convgru::ConvGru;
use super::layers::{avg_down, bn, conv, flat, unflat, up2_crop, ConvSpec, Ctx};
use super::params::ParamBuilder;

pub struct RecurrentDecoder {
    grus: [ConvGru; 4],
    pub channels: [i64; 4],
}

impl RecurrentDecoder {
    /// `feats`: channels at 1/2, 1/4, 1/8; `aspp`: channels at 1/16;
    /// `dec`: output channels at 1/8, 1/4, 1/2, 1.
    pub fn new(pb: &mut ParamBuilder, feats: [i64; 3], aspp: i64, dec: [i64; 4]) -> RecurrentDecoder {
        let gru4 = ConvGru::new(pb, "decoder.decode4.gru", aspp / 2);
        let mut up = |block: &str, out: i64, c_in: i64| {
            pb.conv(&format!("decoder.{block}.conv.0"), out, c_in, 3, false);
            pb.bn(&format!("decoder.{block}.conv.1"), out);
            ConvGru::new(pb, &format!("decoder.{block}.gru"), out / 2)
        };
        let gru3 = up("decode3", dec[0], aspp + feats[2] + 3);
        let gru2 = up("decode2", dec[1], dec[0] + feats[1] + 3);
        let gru1 = up("decode1", dec[2], dec[1] + feats[0] + 3);
        pb.conv("decoder.decode0.conv.0", dec[3], dec[2] + 3, 3, false);
        pb.bn("decoder.decode0.conv.1", dec[3]);
        pb.conv("decoder.decode0.conv.3", dec[3], dec[3], 3, false);
        pb.bn("decoder.decode0.conv.4", dec[3]);
        RecurrentDecoder { grus: [gru4, gru3, gru2, gru1], channels: dec }
    }

    /// GRU on the second half of the channels of x: [B*T, C, h, w].
    fn half_gru(gru: &ConvGru, ctx: &Ctx, x: &Tensor, b: i64, t: i64, h: Option<&Tensor>) -> (Tensor, Tensor) {
        let parts = x.split(gru.channels, 1);
        let (out, state) = gru.forward(ctx, &unflat(&parts[1], b, t), h);
        (Tensor::cat(&[&parts[0], &flat(&out)], 1), state)
    }

    /// x2, crop to the skip, concatenate skip and pooled source, conv block.
    fn up(ctx: &Ctx, block: &str, x: &Tensor, skip: &Tensor, src: &Tensor) -> Tensor {
        let s = src.size();
        let x = up2_crop(x, s[2], s[3]);
        let y = conv(ctx, &format!("decoder.{block}.conv.0"), &Tensor::cat(&[&x, skip, src], 1), &ConvSpec::same(3, 1));
        bn(ctx, &format!("decoder.{block}.conv.1"), &y).relu()
    }

    /// src: [B*T, 3, H, W] in [0, 1] (the possibly downsampled source);
    /// features flattened over time; returns the hidden map at src's size
    /// and the four new recurrent states (1/16, 1/8, 1/4, 1/2).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, ctx: &Ctx, src: &Tensor, f: &[Tensor; 4], x4: &Tensor, b: i64, t: i64, rec: Option<&[Tensor]>) -> (Tensor, Vec<Tensor>) {
        let r = |i: usize| rec.map(|r| &r[i]);
        let s1 = avg_down(src);
        let s2 = avg_down(&s1);
        let s3 = avg_down(&s2);
        let (x, r4) = Self::half_gru(&self.grus[0], ctx, x4, b, t, r(0));
        let x = Self::up(ctx, "decode3", &x, &f[2], &s3);
        let (x, r3) = Self::half_gru(&self.grus[1], ctx, &x, b, t, r(1));
        let x = Self::up(ctx, "decode2", &x, &f[1], &s2);
        let (x, r2) = Self::half_gru(&self.grus[2], ctx, &x, b, t, r(2));
        let x = Self::up(ctx, "decode1", &x, &f[0], &s1);
        let (x, r1) = Self::half_gru(&self.grus[3], ctx, &x, b, t, r(3));
        let ss = src.size();
        let x = up2_crop(&x, ss[2], ss[3]);
        let x = bn(ctx, "decoder.decode0.conv.1", &conv(ctx, "decoder.decode0.conv.0", &Tensor::cat(&[&x, src], 1), &ConvSpec::same(3, 1))).relu();
        let x = bn(ctx, "decoder.decode0.conv.4", &conv(ctx, "decoder.decode0.conv.3", &x, &ConvSpec::same(3, 1))).relu();
        (x, vec![r4, r3, r2, r1])
    }
}
