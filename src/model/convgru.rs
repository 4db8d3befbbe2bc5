//! Convolutional GRU over time: the recurrence that carries temporal
//! information in RVM's decoder. Gates from [x, h]; candidate from [x, r*h];
//! h' = (1 - z) * h + z * c.

use tch::Tensor;

use super::layers::{conv, ConvSpec, Ctx};
use super::params::ParamBuilder;

pub struct ConvGru {
    name: String,
    pub channels: i64,
}

impl ConvGru {
    pub fn new(pb: &mut ParamBuilder, name: &str, channels: i64) -> ConvGru {
        // RVM's `ih` and `hh` are Sequential(conv, activation): the conv is `.0`.
        pb.conv(&format!("{name}.ih.0"), 2 * channels, 2 * channels, 3, true);
        pb.conv(&format!("{name}.hh.0"), channels, 2 * channels, 3, true);
        ConvGru { name: name.into(), channels }
    }

    fn step(&self, ctx: &Ctx, x: &Tensor, h: &Tensor) -> Tensor {
        let rz = conv(ctx, &format!("{}.ih.0", self.name), &Tensor::cat(&[x, h], 1), &ConvSpec::same(3, 1)).sigmoid();
        let parts = rz.split(self.channels, 1);
        let (r, z) = (&parts[0], &parts[1]);
        let c = conv(ctx, &format!("{}.hh.0", self.name), &Tensor::cat(&[x, &(r * h)], 1), &ConvSpec::same(3, 1)).tanh();
        (1.0 - z) * h + z * c
    }

    /// Run over x: [B, T, C, H, W] from state h (zeros when None); returns the
    /// outputs [B, T, C, H, W] and the last state.
    pub fn forward(&self, ctx: &Ctx, x: &Tensor, h: Option<&Tensor>) -> (Tensor, Tensor) {
        let s = x.size();
        let mut h = match h {
            Some(h) => h.shallow_clone(),
            None => Tensor::zeros([s[0], s[2], s[3], s[4]], (x.kind(), x.device())),
        };
        let mut outs = Vec::with_capacity(s[1] as usize);
        for t in 0..s[1] {
            h = self.step(ctx, &x.select(1, t), &h);
            outs.push(h.shallow_clone());
        }
        (Tensor::stack(&outs, 1), h)
    }
}
