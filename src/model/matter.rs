//! What every matting model offers, so that training, scoring, speed,
//! galleries and checkpoints treat the target model (RVM) and the zoo of
//! seed-paper models alike: a forward pass over an explicit parameter set
//! with a carried state (recurrent features, an attention memory, or
//! nothing for per-frame models).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::matting_net::{MattingNet, ModelConfig};
use super::params::ParamSet;

/// The architectures hoimat knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// RVM: the factory model, RVM-F and MAML-RAL share it.
    Rvm,
    /// MODNet-like single-frame model (semantic, detail, fusion branches).
    Modnet,
    /// Attention-memory matting (memory of the first and previous frames).
    AttentionMemory,
    /// AdaM-like: Fg/Bg structuring attention, coarse and fine outputs.
    Adam,
    /// VMFM-like D-CL-RN: virtual modalities, dual networks, patch refinement.
    Vmfm,
    /// DFIMat-like interactive matting driven by clicks.
    Dfimat,
}

impl Arch {
    pub const ALL: [Arch; 6] = [Arch::Rvm, Arch::Modnet, Arch::AttentionMemory, Arch::Adam, Arch::Vmfm, Arch::Dfimat];
    /// The zoo: every architecture but RVM.
    pub const ZOO: [Arch; 5] = [Arch::Modnet, Arch::AttentionMemory, Arch::Adam, Arch::Vmfm, Arch::Dfimat];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Rvm => "rvm",
            Arch::Modnet => "modnet",
            Arch::AttentionMemory => "attention_memory",
            Arch::Adam => "adam",
            Arch::Vmfm => "vmfm",
            Arch::Dfimat => "dfimat",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.replace('-', "_");
        Arch::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            format!("unknown model '{s}' (one of: {})", Arch::ALL.map(|a| a.name()).join(", "))
        })
    }
}

/// One forward pass.
pub struct Prediction {
    /// [B, T, 1, H, W] in [0, 1].
    pub pha: Tensor,
    /// [B, T, 3, H, W] in [0, 1].
    pub fgr: Tensor,
    /// State for the next call (empty for per-frame models).
    pub state: Vec<Tensor>,
    /// Named intermediate outputs that a model's own loss supervises
    /// (MODNet's 1/16 semantic map, AdaM's coarse mask, ...), [B, T, C, h, w].
    pub aux: Vec<(String, Tensor)>,
}

impl Prediction {
    /// The auxiliary output `name`; a missing one is a bug in the model.
    pub fn aux(&self, name: &str) -> &Tensor {
        match self.aux.iter().find(|(n, _)| n == name) {
            Some((_, t)) => t,
            None => panic!("the model produced no auxiliary output {name}"),
        }
    }
}

/// The `config`, `params`, `buffers` and `set_weights` of a model struct
/// whose fields are `cfg`, `params` and `buffers` (every model here).
macro_rules! weight_accessors {
    () => {
        fn config(&self) -> &$crate::model::ModelConfig {
            &self.cfg
        }
        fn params(&self) -> &$crate::model::ParamSet {
            &self.params
        }
        fn buffers(&self) -> &$crate::model::ParamSet {
            &self.buffers
        }
        fn set_weights(&mut self, params: $crate::model::ParamSet, buffers: $crate::model::ParamSet) {
            self.params = params;
            self.buffers = buffers;
        }
    };
}
pub(crate) use weight_accessors;

/// A matting model over explicit parameters.
pub trait Matter {
    fn arch(&self) -> Arch;
    /// Width and depth (zoo models size their backbone from it too).
    fn config(&self) -> &ModelConfig;
    fn params(&self) -> &ParamSet;
    fn buffers(&self) -> &ParamSet;
    /// Replace parameters and buffers (same names and shapes), e.g. on load.
    fn set_weights(&mut self, params: ParamSet, buffers: ParamSet);
    /// `src` is [B, T, 3 + prompt_channels(), H, W]: RGB in [0, 1], then, for
    /// interactive models, the user-input maps. `state` is what the previous
    /// call returned. BatchNorm uses batch statistics when `train`.
    fn run(&self, params: &ParamSet, src: &Tensor, state: Option<&[Tensor]>, train: bool) -> Prediction;
    /// Channels of user input after RGB (0 for automatic models).
    fn prompt_channels(&self) -> i64 {
        0
    }
    /// Whether [`run_at`](Self::run_at) takes a `downsample_ratio` below 1
    /// (RVM's refiner path); other models run at full resolution only.
    fn has_refiner(&self) -> bool {
        false
    }
    /// Inference (BatchNorm on running statistics) with RVM's
    /// `downsample_ratio`; callers check [`has_refiner`](Self::has_refiner)
    /// before passing a ratio below 1.
    fn run_at(&self, params: &ParamSet, src: &Tensor, state: Option<&[Tensor]>, ratio: f64) -> Prediction {
        assert!(ratio == 1.0 || self.has_refiner(), "a {} model has no refiner for downsample_ratio {ratio}", self.arch());
        self.run(params, src, state, false)
    }
}

impl Matter for MattingNet {
    fn arch(&self) -> Arch {
        Arch::Rvm
    }
    weight_accessors!();
    fn run(&self, params: &ParamSet, src: &Tensor, state: Option<&[Tensor]>, train: bool) -> Prediction {
        let o = self.forward_with(params, src, state, train);
        Prediction { pha: o.pha, fgr: o.fgr, state: o.rec, aux: vec![] }
    }
    fn has_refiner(&self) -> bool {
        true
    }
    fn run_at(&self, params: &ParamSet, src: &Tensor, state: Option<&[Tensor]>, ratio: f64) -> Prediction {
        let o = self.forward_at(params, src, state, super::BnMode::Running, ratio);
        Prediction { pha: o.pha, fgr: o.fgr, state: o.rec, aux: vec![] }
    }
}

/// The `downsample_ratio` for frames of h x w: the user's, else RVM's
/// automatic one when the refiner's weights were trained (`trained_refiner`:
/// RVM's own, imported), else 1: hoimat's trainers run at full resolution
/// and leave the refiner at its plain-upsampler start.
pub fn resolve_ratio(net: &dyn Matter, ratio: Option<f64>, h: i64, w: i64, trained_refiner: bool) -> anyhow::Result<f64> {
    match ratio {
        Some(r) if !(r > 0.0 && r <= 1.0) => anyhow::bail!("--downsample-ratio must be in (0, 1], got {r}"),
        Some(r) if r < 1.0 && !net.has_refiner() => anyhow::bail!("a {} model has no refiner: --downsample-ratio below 1 needs RVM's network", net.arch()),
        Some(r) => Ok(r),
        None if net.has_refiner() && trained_refiner => Ok(super::auto_downsample_ratio(h, w)),
        None => Ok(1.0),
    }
}

/// Whether `net`'s refiner holds trained weights (RVM's): hoimat starts it
/// with a zero last conv and no trainer here changes it, so any non-zero
/// value there came from RVM's checkpoint (directly, or through RVM-F or
/// MAML-RAL started from an imported factory).
pub fn refiner_trained(net: &dyn Matter) -> bool {
    net.has_refiner() && net.params().try_get("refiner.conv.6.weight").is_some_and(|w| w.abs().max().double_value(&[]) > 0.0)
}

