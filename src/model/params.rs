//! Parameters as plain named tensors, not hidden inside layer objects, so a
//! forward pass can run at any parameter set: MAML evaluates the net at
//! theta' = theta - alpha * g while the graph still leads back to theta
//! (paper Alg. 1, line 8), and SGT averages whole parameter sets.

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};

/// An ordered set of named tensors (parameters, or buffers such as
/// BatchNorm running statistics).
#[derive(Debug)]
pub struct ParamSet {
    names: Vec<String>,
    tensors: Vec<Tensor>,
    index: HashMap<String, usize>,
}

impl ParamSet {
    pub fn new() -> Self {
        ParamSet { names: vec![], tensors: vec![], index: HashMap::new() }
    }

    pub fn from_pairs(pairs: Vec<(String, Tensor)>) -> Self {
        let mut s = ParamSet::new();
        for (n, t) in pairs {
            s.push(&n, t);
        }
        s
    }

    pub fn push(&mut self, name: &str, t: Tensor) {
        assert!(!self.index.contains_key(name), "duplicate parameter {name}");
        self.index.insert(name.to_string(), self.names.len());
        self.names.push(name.to_string());
        self.tensors.push(t);
    }

    /// The tensor called `name`. A missing name is a bug in a model
    /// definition, not a user error, hence the panic.
    pub fn get(&self, name: &str) -> &Tensor {
        match self.index.get(name) {
            Some(i) => &self.tensors[*i],
            None => panic!("no parameter named {name}"),
        }
    }

    pub fn try_get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|i| &self.tensors[*i])
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Tensor)> {
        self.names.iter().zip(&self.tensors)
    }

    /// Number of scalar values.
    pub fn numel(&self) -> i64 {
        self.tensors.iter().map(|t| t.numel() as i64).sum()
    }

    /// A new set with `f` applied to every tensor, names kept.
    pub fn map(&self, mut f: impl FnMut(&str, &Tensor) -> Tensor) -> ParamSet {
        ParamSet::from_pairs(self.iter().map(|(n, t)| (n.clone(), f(n, t))).collect())
    }

    /// A set combining two sets name by name.
    pub fn zip_map(&self, other: &ParamSet, mut f: impl FnMut(&Tensor, &Tensor) -> Tensor) -> ParamSet {
        assert_eq!(self.names, other.names, "parameter sets differ");
        ParamSet::from_pairs(self.iter().zip(other.tensors()).map(|((n, a), b)| (n.clone(), f(a, b))).collect())
    }

    /// Detached copies (new storage) that require gradients when asked.
    pub fn detached(&self, requires_grad: bool) -> ParamSet {
        self.map(|_, t| t.detach().copy().set_requires_grad(requires_grad))
    }

    pub fn to_device(&self, device: Device) -> ParamSet {
        self.map(|_, t| t.to_device(device))
    }

    /// Overwrite values in place from `src` (same names), outside autograd.
    pub fn copy_from(&self, src: &ParamSet) {
        tch::no_grad(|| {
            for (dst, s) in self.tensors.iter().zip(src.tensors()) {
                let mut d = dst.shallow_clone();
                d.copy_(s);
            }
        });
    }

    /// One gradient-descent step in place: theta <- theta - step * g, with
    /// `grads` in this set's order (SGD for local adaptation, Alg. 1's
    /// outer step, the benches' training steps). Undefined gradients (a
    /// parameter the loss did not reach) leave their parameter alone.
    pub fn descend(&self, grads: &[Tensor], step: f64) {
        tch::no_grad(|| {
            for (p, g) in self.tensors.iter().zip(grads).filter(|(_, g)| g.defined()) {
                let _ = p.shallow_clone().g_sub_(&(g * step));
            }
        });
    }

    /// `grads` (from `run_backward` over this set) with zeros where a
    /// parameter did not reach the loss: the segmentation head and the
    /// refiner are idle in full-resolution matting passes.
    pub fn defined_grads(&self, grads: Vec<Tensor>) -> Vec<Tensor> {
        grads.into_iter().zip(&self.tensors).map(|(g, p)| if g.defined() { g } else { p.detach().zeros_like() }).collect()
    }

    /// Sum over tensors of sum of squares (for ||theta - theta_f||).
    pub fn sq_norm(&self) -> Tensor {
        self.tensors.iter().map(|t| t.square().sum(Kind::Float)).fold(Tensor::from(0f32).to_device(self.device()), |a, b| a + b)
    }

    pub fn device(&self) -> Device {
        self.tensors.first().map_or(Device::Cpu, |t| t.device())
    }

    /// Mean of several sets, name by name (SGT's parameter averaging).
    pub fn mean_of(sets: &[ParamSet]) -> ParamSet {
        assert!(!sets.is_empty(), "mean of no parameter sets");
        let k = sets.len() as f64;
        sets[0].map(|n, _| {
            tch::no_grad(|| sets.iter().map(|s| s.get(n).detach()).reduce(|a, b| a + b).unwrap() / k)
        })
    }
}

impl Default for ParamSet {
    fn default() -> Self {
        ParamSet::new()
    }
}

/// Seed libtorch's global generator for building one model, holding a
/// process-wide lock until the returned guard drops (at the end of the
/// constructor). Initialisers draw from that one global generator, so two
/// models built at once in one process (threads of a test binary, a
/// notebook) would otherwise interleave their draws and get weights that
/// depend on timing.
pub fn seed_init(seed: u64) -> std::sync::MutexGuard<'static, ()> {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    guard
}

/// Creates parameters with a seeded initialiser while a model is built.
pub struct ParamBuilder {
    pub params: ParamSet,
    pub buffers: ParamSet,
    device: Device,
}

impl ParamBuilder {
    pub fn new(device: Device) -> Self {
        ParamBuilder { params: ParamSet::new(), buffers: ParamSet::new(), device }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Kaiming-uniform weights for a conv with `fan_in` inputs per output.
    pub fn conv(&mut self, name: &str, out_c: i64, in_per_group: i64, k: i64, bias: bool) {
        let fan_in = (in_per_group * k * k) as f64;
        let bound = (6.0 / fan_in).sqrt() / 2.0_f64.sqrt() * 1.0;
        let w = Tensor::empty([out_c, in_per_group, k, k], (Kind::Float, self.device)).uniform_(-bound, bound);
        self.params.push(&format!("{name}.weight"), w.set_requires_grad(true));
        if bias {
            let b = 1.0 / fan_in.sqrt();
            let t = Tensor::empty([out_c], (Kind::Float, self.device)).uniform_(-b, b);
            self.params.push(&format!("{name}.bias"), t.set_requires_grad(true));
        }
    }

    /// A k x k conv without bias followed by BatchNorm (`name`, `name.bn`),
    /// the parameters of [`super::layers::cbr`] when k = 3.
    pub fn conv_bn(&mut self, name: &str, out_c: i64, in_c: i64, k: i64) {
        self.conv(name, out_c, in_c, k, false);
        self.bn(&format!("{name}.bn"), out_c);
    }

    /// BatchNorm affine parameters and running statistics, under PyTorch's
    /// `BatchNorm2d` names (`weight`, `bias`, `running_mean`, `running_var`;
    /// `num_batches_tracked` only exists in exported files, see `model::rvm`).
    pub fn bn(&mut self, name: &str, c: i64) {
        let opts = (Kind::Float, self.device);
        self.params.push(&format!("{name}.weight"), Tensor::ones([c], opts).set_requires_grad(true));
        self.params.push(&format!("{name}.bias"), Tensor::zeros([c], opts).set_requires_grad(true));
        self.buffers.push(&format!("{name}.running_mean"), Tensor::zeros([c], opts));
        self.buffers.push(&format!("{name}.running_var"), Tensor::ones([c], opts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_of_sets_is_exact() {
        let a = ParamSet::from_pairs(vec![("w".into(), Tensor::from_slice(&[1.0f32, 2.0]))]);
        let b = ParamSet::from_pairs(vec![("w".into(), Tensor::from_slice(&[3.0f32, 6.0]))]);
        let m = ParamSet::mean_of(&[a, b]);
        assert_eq!(Vec::<f32>::try_from(m.get("w")).unwrap(), vec![2.0, 4.0]);
    }
}
