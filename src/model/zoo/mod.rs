//! The seed papers' systems as comparable models (SPEC section 3): each is
//! one file, sized from the same [`ModelConfig`] as the target model (narrow
//! on CPU, the paper's widths at the `paper` profile), and implements
//! [`Matter`], so the supervised trainer, the scorer, the speed table and
//! the checkpoints handle it like RVM. Their own losses live in
//! `crate::loss::zoo`.

use tch::Device;

use super::encoder::Encoder;
use super::matter::{Arch, Matter};
use super::matting_net::{MattingNet, ModelConfig};
use super::params::ParamBuilder;

pub mod adam;
pub mod attention_memory;
pub mod clicks;
pub mod dfimat;
pub mod modnet;
pub mod vmfm;

/// A freshly initialised model of `arch`; the same seed gives the same weights.
pub fn build(arch: Arch, cfg: &ModelConfig, device: Device, seed: u64) -> Box<dyn Matter> {
    match arch {
        Arch::Rvm => Box::new(MattingNet::new(cfg, device, seed)),
        Arch::Modnet => Box::new(modnet::Modnet::new(cfg, device, seed)),
        Arch::AttentionMemory => Box::new(attention_memory::AttentionMemory::new(cfg, device, seed)),
        Arch::Adam => Box::new(adam::AdamNet::new(cfg, device, seed)),
        Arch::Vmfm => Box::new(vmfm::Vmfm::new(cfg, device, seed)),
        Arch::Dfimat => Box::new(dfimat::Dfimat::new(cfg, device, seed)),
    }
}

/// The MobileNetV3-style backbone of the configuration, with parameters
/// named `backbone.*` exactly as in the target model, so a zoo model can start
/// from the factory model's encoder (our stand-in for ImageNet
/// pre-training, which the seed papers use and our synthetic world lacks).
pub fn backbone(pb: &mut ParamBuilder, cfg: &ModelConfig) -> Encoder {
    Encoder::new(pb, cfg.width)
}

/// Shared pieces of the zoo models' tests: a tiny task and an overfit loop.
#[cfg(test)]
pub mod testing {
    use tch::{Device, Kind, Tensor};

    use crate::model::{Matter, Prediction};
    use crate::train::adam::Adam;
    use crate::train::batch::Batch;

    /// A batch of `t` frames of a bright disc moving right on a dark
    /// textured background; alpha is the disc, the foreground its colour.
    pub fn disc_batch(b: i64, t: i64, h: i64, w: i64) -> Batch {
        let opts = (Kind::Float, Device::Cpu);
        let ys = Tensor::arange(h, opts).view([h, 1]);
        let xs = Tensor::arange(w, opts).view([1, w]);
        let (mut src, mut pha) = (vec![], vec![]);
        for i in 0..t {
            let (cx, cy, r) = (w as f64 * 0.4 + 2.0 * i as f64, h as f64 * 0.5, h as f64 * 0.3);
            let d = ((&xs - cx).square() + (&ys - cy).square()).sqrt();
            let a = (-(d - r)).clamp(0.0, 1.0).view([1, h, w]);
            let bg = ((&xs * 0.7).sin() * (&ys * 0.3).cos() * 0.1 + 0.25).view([1, h, w]).repeat([3, 1, 1]);
            let fg = Tensor::from_slice(&[0.9f32, 0.6, 0.3]).view([3, 1, 1]).expand([3, h, w], false);
            src.push(&a * &fg + (1.0 - &a) * bg);
            pha.push(a);
        }
        let src = Tensor::stack(&src, 0).unsqueeze(0).repeat([b, 1, 1, 1, 1]);
        let pha = Tensor::stack(&pha, 0).unsqueeze(0).repeat([b, 1, 1, 1, 1]);
        let fgr = Tensor::from_slice(&[0.9f32, 0.6, 0.3]).view([1, 1, 3, 1, 1]).expand([b, t, 3, h, w], false).contiguous();
        Batch::new(src, pha, fgr)
    }

    /// `steps` Adam steps on one batch; the first and the last loss.
    pub fn overfit(net: &dyn Matter, b: &Batch, steps: usize, lr: f64, loss: impl Fn(&Prediction) -> Tensor) -> (f64, f64) {
        let params = net.params();
        let mut opt = Adam::new(params, lr);
        let (mut first, mut last) = (f64::NAN, f64::NAN);
        for i in 0..steps {
            let p = net.run(params, &b.src, None, true);
            let l = loss(&p);
            let v = l.double_value(&[]);
            if i == 0 {
                first = v;
            }
            last = v;
            let g = Tensor::run_backward(&[&l], &params.tensors().iter().collect::<Vec<_>>(), false, false);
            let g: Vec<Tensor> = g.into_iter().zip(params.tensors()).map(|(g, p)| if g.defined() { g } else { p.zeros_like() }).collect();
            opt.update(params, &g);
        }
        (first, last)
    }
}
