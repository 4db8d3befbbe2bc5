//! The two constraints that keep the target model close to the factory
//! model while it learns HOI rules.
//!
//! CC (Eq. 2): ||theta - theta_f||_2 over all parameters, theta_f frozen.
//!
//! FC (Eq. 3): for each of K hidden feature maps, map all channels to one
//! (the channel mean: parameter-free, so it cannot drift), average-hash it
//! (downsample to a `grid` x `grid` map and compare each cell with the map's
//! mean), and take (1/K) sum_k ||H(h_f^k) - H(h^k)||_2.
//!
//! A hard hash (cell > mean) has zero gradient almost everywhere, so the
//! hash is relaxed: `Sigmoid` uses sigmoid((x - mean) / (tau * std)), smooth
//! and twice differentiable, which MAML's second-order meta-gradient needs:
//! it is the default. `StraightThrough` uses the hard bits in the forward
//! pass and the sigmoid's gradient in the backward pass (its second
//! derivative is that of the sigmoid). `Hard` is for reporting only.
//!
//! Both norms are sqrt(sum + 1e-12): the plain norm has an undefined
//! gradient at zero, which is exactly where training starts (theta = theta_f).

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::model::ParamSet;

const NORM_EPS: f64 = 1e-12;

/// CC, paper Eq. 2.
pub fn continual_constraint(theta: &ParamSet, theta_f: &ParamSet) -> Tensor {
    let sq = theta
        .tensors()
        .iter()
        .zip(theta_f.tensors())
        .map(|(a, b)| (a - b.detach()).square().sum(Kind::Float))
        .reduce(|a, b| a + b)
        .expect("parameters");
    (sq + NORM_EPS).sqrt()
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
}

impl Default for FcConfig {
    fn default() -> Self {
        FcConfig { hash: HashMode::Sigmoid, tau: 0.5, grid: 8, taps: vec![0, 1, 2, 3] }
    }
}

/// H: [N, C, h, w] -> [N, grid*grid] hash codes.
pub fn average_hash(feat: &Tensor, cfg: &FcConfig) -> Tensor {
    let one = feat.mean_dim(1, true, Kind::Float);
    let small = one.adaptive_avg_pool2d([cfg.grid, cfg.grid]).flatten(1, -1);
    let mean = small.mean_dim(1, true, Kind::Float);
    let std = small.std_dim(1, false, true) + 1e-6;
    let soft = ((&small - &mean) / (std * cfg.tau)).sigmoid();
    match cfg.hash {
        HashMode::Sigmoid => soft,
        HashMode::Hard => small.gt_tensor(&mean).to_kind(Kind::Float),
        HashMode::StraightThrough => {
            let hard = small.gt_tensor(&mean).to_kind(Kind::Float);
            &hard + (&soft - soft.detach())
        }
    }
}

/// FC, paper Eq. 3: `target` and `factory` are the K maps ([N, C, h, w]) of
/// the two models on the same input. Distances are averaged over the N
/// frames as well.
pub fn feature_constraint(target: &[Tensor], factory: &[Tensor], cfg: &FcConfig) -> Tensor {
    let k = cfg.taps.len() as f64;
    cfg.taps
        .iter()
        .map(|&i| {
            let (a, b) = (average_hash(&target[i], cfg), average_hash(&factory[i].detach(), cfg));
            ((a - b).square().sum_dim_intlist(1, false, Kind::Float) + NORM_EPS).sqrt().mean(Kind::Float)
        })
        .reduce(|a, b| a + b)
        .expect("at least one tap")
        / k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cc_is_the_l2_distance() {
        let a = ParamSet::from_pairs(vec![("x".into(), Tensor::from_slice(&[3.0f32, 0.0])), ("y".into(), Tensor::from_slice(&[1.0f32]))]);
        let b = ParamSet::from_pairs(vec![("x".into(), Tensor::from_slice(&[0.0f32, 4.0])), ("y".into(), Tensor::from_slice(&[1.0f32]))]);
        assert!((continual_constraint(&a, &b).double_value(&[]) - 5.0).abs() < 1e-5);
        // at theta = theta_f the gradient is zero, not NaN
        let p = a.detached(true);
        let g = Tensor::run_backward(&[&continual_constraint(&p, &a)], &[p.get("x")], false, false);
        assert_eq!(Vec::<f32>::try_from(&g[0]).unwrap(), vec![0.0, 0.0]);
    }

    #[test]
    fn hash_bits_and_fc_distance() {
        // One 1-channel 2x2 map on a 2x2 grid: cells [0, 1, 2, 5], mean 2.
        let f = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 5.0]).reshape([1, 1, 2, 2]);
        let hard = FcConfig { hash: HashMode::Hard, grid: 2, taps: vec![0], ..Default::default() };
        assert_eq!(Vec::<f32>::try_from(average_hash(&f, &hard).reshape([-1])).unwrap(), vec![0.0, 0.0, 0.0, 1.0]);
        let g = Tensor::from_slice(&[5.0f32, 1.0, 2.0, 0.0]).reshape([1, 1, 2, 2]);
        // hard codes differ in two cells: distance sqrt(2)
        let d = feature_constraint(&[f.shallow_clone()], &[g.shallow_clone()], &hard).double_value(&[]);
        assert!((d - 2f64.sqrt()).abs() < 1e-5);
        let soft = FcConfig { grid: 2, taps: vec![0], ..Default::default() };
        let s = average_hash(&f, &soft);
        let v = Vec::<f32>::try_from(s.reshape([-1])).unwrap();
        assert!(v[3] > 0.5 && v[0] < 0.5 && v.iter().all(|x| *x > 0.0 && *x < 1.0));
        assert!(feature_constraint(&[f.shallow_clone()], &[f.shallow_clone()], &soft).double_value(&[]) < 1e-5);
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
