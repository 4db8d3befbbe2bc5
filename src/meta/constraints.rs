//! The two constraints that keep the target model close to the factory
//! model while it learns HOI rules.
//!
//! CC (Eq. 2): the distance ||theta - theta_f|| over all parameters, theta_f
//! frozen.
//!
//! FC (Eq. 3): for each of K hidden feature maps, map all channels to one
//! (the channel mean: parameter-free, so it cannot drift), average-hash it
//! (downsample to a `grid` x `grid` map and compare each cell with the map's
//! mean), and take (1/K) sum_k d(H(h_f^k), H(h^k)).
//!
//! A hard hash (cell > mean) has zero gradient almost everywhere, so the
//! hash is relaxed: `Sigmoid` uses sigmoid((x - mean) / (tau * std)), smooth
//! and twice differentiable, which MAML's second-order meta-gradient needs:
//! it is the default. `StraightThrough` uses the hard bits in the forward
//! pass and the sigmoid's gradient in the backward pass (its second
//! derivative is that of the sigmoid). `Hard` is for reporting only.
//!
//! **The distance at zero** ([`Distance`]). MAML-RAL starts at theta =
//! theta_f, where both distances are zero and the Euclidean norm is not
//! differentiable. Its Hessian there is unbounded: a smoothed norm
//! sqrt(|d|^2 + r^2) has Hessian I / r at d = 0, so the inner step's
//! Jacobian I - alpha * g3 * H is about 1 - alpha * g3 / r, which for
//! r = 1e-6 (the old treatment) is -1e4: the second-order meta-gradient
//! points uphill and is 1e4 times too large. PyTorch's own `torch.norm`,
//! `linalg.vector_norm` and `torch.dist` (2.11, checked from `.venv`) return
//! gradient 0 at exactly zero but NaN in the double backward, so the paper's
//! second-order meta-gradient cannot have flowed through a plain PyTorch
//! norm at theta_f. The default here is the **squared** distance (L2-SP /
//! EWC-style), whose Hessian is 2I everywhere: a deviation from Eq. 2-3's
//! norm, chosen by measurement (README, "MAML-RAL"). `Norm` keeps the exact
//! norm with gradient and Hessian taken as 0 at exactly zero (finite, but its
//! Hessian 1/|d| still explodes just beside theta_f); `Smoothed { radius }`
//! is sqrt(|d|^2 + r^2) - r, zero at d = 0 with Hessian I / r there.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::model::ParamSet;

/// How a distance |d| is taken from its square s = |d|^2 (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// s itself: Hessian 2I everywhere (the default).
    #[default]
    Squared,
    /// sqrt(s), with gradient and Hessian 0 where s = 0 exactly.
    Norm,
    /// sqrt(s + r^2) - r.
    Smoothed { radius: f64 },
}

impl Distance {
    /// The distance from a tensor of squared norms (elementwise).
    pub fn of_squared(&self, s: &Tensor) -> Tensor {
        match *self {
            Distance::Squared => s.shallow_clone(),
            Distance::Norm => {
                // The double `where`: the square root only ever sees s > 0,
                // so neither its gradient nor its second derivative is
                // evaluated at 0 (where they are infinite).
                let pos = s.gt(0.0);
                let safe = s.where_self(&pos, &s.ones_like());
                safe.sqrt().where_self(&pos, &s.zeros_like())
            }
            Distance::Smoothed { radius } => (s + radius * radius).sqrt() - radius,
        }
    }

    /// The Hessian's scale at d = 0 (2 for the square, 1/r smoothed, 0 for
    /// the masked norm): alpha * g * this is what the inner step's Jacobian
    /// loses at theta_f.
    pub fn curvature_at_zero(&self) -> f64 {
        match *self {
            Distance::Squared => 2.0,
            Distance::Norm => 0.0,
            Distance::Smoothed { radius } => 1.0 / radius,
        }
    }

    /// The default, omitted from serialised configurations.
    pub fn is_default(&self) -> bool {
        *self == Distance::Squared
    }
}

impl std::str::FromStr for Distance {
    type Err = String;
    /// `squared`, `norm` or `smoothed:R` (R > 0), as the CLI takes them.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "squared" => Ok(Distance::Squared),
            "norm" => Ok(Distance::Norm),
            _ => match s.strip_prefix("smoothed:").map(str::parse::<f64>) {
                Some(Ok(radius)) if radius > 0.0 => Ok(Distance::Smoothed { radius }),
                _ => Err(format!("'{s}': expected squared, norm or smoothed:R with R > 0")),
            },
        }
    }
}

/// |theta - theta_f|^2 over all parameters, theta_f detached.
pub fn squared_distance(theta: &ParamSet, theta_f: &ParamSet) -> Tensor {
    theta
        .tensors()
        .iter()
        .zip(theta_f.tensors())
        .map(|(a, b)| (a - b.detach()).square().sum(a.kind()))
        .reduce(|a, b| a + b)
        .expect("parameters")
}

/// CC, paper Eq. 2, with the distance taken as `form` says.
pub fn continual_constraint(theta: &ParamSet, theta_f: &ParamSet, form: Distance) -> Tensor {
    form.of_squared(&squared_distance(theta, theta_f))
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashMode {
    Sigmoid,
    StraightThrough,
    Hard,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FcConfig {
    pub hash: HashMode,
    /// Temperature of the relaxed hash, in units of the map's std.
    pub tau: f64,
    /// Hash grid side (8 gives the classic 64-bit average hash).
    pub grid: i64,
    /// Which feature maps (indices into the model's 1/2, 1/4, 1/8, 1/16 taps).
    pub taps: Vec<usize>,
    /// How each frame's code distance is taken (squared by default).
    #[serde(default, skip_serializing_if = "Distance::is_default")]
    pub distance: Distance,
}

impl Default for FcConfig {
    fn default() -> Self {
        FcConfig { hash: HashMode::Sigmoid, tau: 0.5, grid: 8, taps: vec![0, 1, 2, 3], distance: Distance::Squared }
    }
}

/// H: [N, C, h, w] -> [N, grid*grid] hash codes.
pub fn average_hash(feat: &Tensor, cfg: &FcConfig) -> Tensor {
    let kind = feat.kind();
    let one = feat.mean_dim(1, true, kind);
    let small = one.adaptive_avg_pool2d([cfg.grid, cfg.grid]).flatten(1, -1);
    let mean = small.mean_dim(1, true, kind);
    let std = small.std_dim(1, false, true) + 1e-6;
    let soft = ((&small - &mean) / (std * cfg.tau)).sigmoid();
    match cfg.hash {
        HashMode::Sigmoid => soft,
        HashMode::Hard => small.gt_tensor(&mean).to_kind(kind),
        HashMode::StraightThrough => {
            let hard = small.gt_tensor(&mean).to_kind(kind);
            &hard + (&soft - soft.detach())
        }
    }
}

/// FC, paper Eq. 3: `target` and `factory` are the K maps ([N, C, h, w]) of
/// the two models on the same input, computed with the same BatchNorm mode
/// (so FC is exactly 0 at theta = theta_f). Distances are averaged over the
/// N frames as well.
pub fn feature_constraint(target: &[Tensor], factory: &[Tensor], cfg: &FcConfig) -> Tensor {
    let k = cfg.taps.len() as f64;
    cfg.taps
        .iter()
        .map(|&i| {
            let (a, b) = (average_hash(&target[i], cfg), average_hash(&factory[i].detach(), cfg));
            let kind = a.kind();
            cfg.distance.of_squared(&(a - b).square().sum_dim_intlist(1, false, kind)).mean(kind)
        })
        .reduce(|a, b| a + b)
        .expect("at least one tap")
        / k
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// Gradient and Hessian-vector product (v = 1) of `form` applied to
    /// |x|^2 at x, by double backward.
    fn grad_and_hv(form: Distance, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let x = Tensor::from_slice(x).set_requires_grad(true);
        let d = form.of_squared(&x.square().sum(Kind::Double));
        let g = Tensor::run_backward(&[&d], &[&x], true, true).remove(0);
        let hv = Tensor::run_backward(&[&g.sum(Kind::Double)], &[&x], false, false).remove(0);
        (Vec::<f64>::try_from(&g.detach()).unwrap(), Vec::<f64>::try_from(&hv).unwrap())
    }

    #[test]
    fn cc_is_the_distance_in_each_form() {
        let a = ParamSet::from_pairs(vec![("x".into(), Tensor::from_slice(&[3.0f32, 0.0])), ("y".into(), Tensor::from_slice(&[1.0f32]))]);
        let b = ParamSet::from_pairs(vec![("x".into(), Tensor::from_slice(&[0.0f32, 4.0])), ("y".into(), Tensor::from_slice(&[1.0f32]))]);
        // |(3, -4, 0)| = 5
        assert!((continual_constraint(&a, &b, Distance::Norm).double_value(&[]) - 5.0).abs() < 1e-5);
        assert!((continual_constraint(&a, &b, Distance::Squared).double_value(&[]) - 25.0).abs() < 1e-4);
        // sqrt(25 + 144) - 12 = 1
        assert!((continual_constraint(&a, &b, Distance::Smoothed { radius: 12.0 }).double_value(&[]) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn every_form_is_finite_at_zero_with_its_documented_curvature() {
        // Hand values: d/dx |x|^2 = 2x, Hessian 2I; sqrt(|x|^2 + r^2) - r has
        // gradient x / sqrt(|x|^2 + r^2) and Hessian I / r at 0.
        for (form, h0) in [(Distance::Squared, 2.0), (Distance::Norm, 0.0), (Distance::Smoothed { radius: 0.5 }, 2.0)] {
            let (g, hv) = grad_and_hv(form, &[0.0, 0.0]);
            assert_eq!(g, vec![0.0, 0.0], "{form:?}");
            assert!(hv.iter().all(|h| (h - h0).abs() < 1e-12), "{form:?}: Hv {hv:?}, want {h0}");
            assert_eq!(form.curvature_at_zero(), h0);
        }
        // Beside zero the norm is the norm: gradient x/|x|, Hessian
        // (I - u u^T)/|x|; at x = (3e-3, 4e-3), |x| = 5e-3 and H 1 = ((16, -12), (-12, 9)) / 25 / 5e-3 . 1
        let (g, hv) = grad_and_hv(Distance::Norm, &[3e-3, 4e-3]);
        assert!((g[0] - 0.6).abs() < 1e-12 && (g[1] - 0.8).abs() < 1e-12, "{g:?}");
        assert!((hv[0] - 4.0 / 25.0 / 5e-3).abs() < 1e-6 && (hv[1] - (-3.0 / 25.0 / 5e-3)).abs() < 1e-6, "{hv:?}");
    }

    #[test]
    fn hash_bits_and_fc_distance() {
        // One 1-channel 2x2 map on a 2x2 grid: cells [0, 1, 2, 5], mean 2.
        let f = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 5.0]).reshape([1, 1, 2, 2]);
        let hard = FcConfig { hash: HashMode::Hard, grid: 2, taps: vec![0], distance: Distance::Norm, ..Default::default() };
        assert_eq!(Vec::<f32>::try_from(average_hash(&f, &hard).reshape([-1])).unwrap(), vec![0.0, 0.0, 0.0, 1.0]);
        let g = Tensor::from_slice(&[5.0f32, 1.0, 2.0, 0.0]).reshape([1, 1, 2, 2]);
        // hard codes differ in two cells: distance sqrt(2), squared 2
        let d = feature_constraint(&[f.shallow_clone()], &[g.shallow_clone()], &hard).double_value(&[]);
        assert!((d - 2f64.sqrt()).abs() < 1e-5);
        let sq = FcConfig { distance: Distance::Squared, ..hard.clone() };
        assert!((feature_constraint(&[f.shallow_clone()], &[g.shallow_clone()], &sq).double_value(&[]) - 2.0).abs() < 1e-5);
        let soft = FcConfig { grid: 2, taps: vec![0], ..Default::default() };
        let s = average_hash(&f, &soft);
        let v = Vec::<f32>::try_from(s.reshape([-1])).unwrap();
        assert!(v[3] > 0.5 && v[0] < 0.5 && v.iter().all(|x| *x > 0.0 && *x < 1.0));
        assert_eq!(feature_constraint(&[f.shallow_clone()], &[f.shallow_clone()], &soft).double_value(&[]), 0.0);
    }

    #[test]
    fn straight_through_passes_the_sigmoid_gradient() {
        let f = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 5.0]).reshape([1, 1, 2, 2]).set_requires_grad(true);
        let st = FcConfig { hash: HashMode::StraightThrough, grid: 2, taps: vec![0], ..Default::default() };
        let h = average_hash(&f, &st);
        assert_eq!(Vec::<f32>::try_from(h.detach().reshape([-1])).unwrap(), vec![0.0, 0.0, 0.0, 1.0]);
        let g = Tensor::run_backward(&[&h.sum(Kind::Float)], &[&f], false, false);
        assert!(g[0].abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
