//! The seed papers' systems as comparable models (SPEC section 3): each is
//! one file, sized from the same [`ModelConfig`] as the target model (narrow
//! on CPU, the paper's widths at the `paper` profile), and implements
//! [`Matter`], so the supervised trainer, the scorer, the speed table and
//! the checkpoints handle it like RVM. Their own losses live in
//! `crate::loss::zoo`.

use tch::Device;

use super::encoder::{Encoder, LARGE, LARGE_TAPS, LITE, LITE_TAPS};
use super::matter::{Arch, Matter};
use super::matting_net::{Depth, MattingNet, ModelConfig};
use super::params::ParamBuilder;


/// A freshly initialised model of `arch`; the same seed gives the same weights.
pub fn build(arch: Arch, cfg: &ModelConfig, device: Device, seed: u64) -> Box<dyn Matter> {
    match arch {
        Arch::Rvm => Box::new(MattingNet::new(cfg, device, seed)),
        other => unimplemented!("{other} is not built yet"),
    }
}

/// The MobileNetV3-style backbone of the configuration, with parameters
/// named `enc.*` exactly as in the target model, so a zoo model can start
/// from the factory model's encoder (our stand-in for ImageNet
/// pre-training, which the seed papers use and our synthetic world lacks).
pub fn backbone(pb: &mut ParamBuilder, cfg: &ModelConfig) -> Encoder {
    let (specs, taps): (&[_], _) = match cfg.depth {
        Depth::Lite => (&LITE, LITE_TAPS),
        Depth::Large => (&LARGE, LARGE_TAPS),
    };
    Encoder::new(pb, specs, taps, cfg.width, cfg.last)
}
