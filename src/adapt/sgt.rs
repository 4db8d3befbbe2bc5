//! One adaptation epoch, SGT or normal (paper Sec. IV-E 3).
//!
//! SGT: G groups each start from the same parameters, each trains on its
//! own sampled (and augmented) data, and the next start is the mean of the
//! G results: a pseudo-batch step that damps the pull of any one noisy
//! label. Two controls, since "normal training" can match SGT in two ways:
//! `Normal` trains on the same amount of data per epoch (G groups' worth)
//! one step after another, so it costs what SGT costs and differs only in
//! the averaging; `Single` trains on one group's data per epoch (the
//! paper's normal training), so it matches SGT's epochs, not its steps.
//!
//! Steps are plain SGD on the HOI loss (Eq. 10) at the paper's lr 0.1.
//! BatchNorm running statistics are shared by the groups (each group's
//! forward updates them in turn), so they too end as a running mean over
//! the groups' data.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::meta::constraints::FcConfig;
use crate::meta::hoi_loss::{hoi_loss, HoiWeights};
use crate::model::{BnMode, MattingNet, ParamSet};
use crate::train::batch::Batch;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Sgt,
    /// The same compute as SGT: G groups' data, one step after another.
    Normal,
    /// The same epochs as SGT: one group's data per epoch, its steps in
    /// turn (the paper's normal training); a tenth of SGT's steps at G = 10.
    Single,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sgt" => Ok(Strategy::Sgt),
            "normal" => Ok(Strategy::Normal),
            "single" => Ok(Strategy::Single),
            _ => Err(format!("unknown strategy '{s}' (expected sgt, normal or single)")),
        }
    }
}

/// One SGD step of Eq. 10 on `batch`, in place on `theta` (leaf tensors
/// requiring grad). Returns the loss.
pub fn sgd_step(net: &MattingNet, theta: &ParamSet, factory: &MattingNet, batch: &Batch, w: &HoiWeights, fc: &FcConfig, lr: f64) -> f64 {
    // Local adaptation adapts to the clip itself, so its running statistics
    // follow the clip's frames (PyTorch's train() mode), unlike meta-training.
    let loss = hoi_loss(net, theta, factory, batch, w, fc, BnMode::BatchTracked).total;
    let xs: Vec<&Tensor> = theta.tensors().iter().collect();
    let grads = Tensor::run_backward(&[&loss], &xs, false, false);
    theta.descend(&grads, lr);
    loss.double_value(&[])
}

/// One epoch: `groups[g]` holds the batches of group g. Returns the new
/// parameters and the mean loss.
pub fn epoch(
    net: &MattingNet,
    start: &ParamSet,
    factory: &MattingNet,
    groups: &[Vec<Batch>],
    strategy: Strategy,
    w: &HoiWeights,
    fc: &FcConfig,
    lr: f64,
) -> (ParamSet, f64) {
    let (mut loss, mut n) = (0.0, 0);
    match strategy {
        Strategy::Sgt => {
            let results: Vec<ParamSet> = groups
                .iter()
                .map(|g| {
                    let theta = start.detached(true);
                    for b in g {
                        loss += sgd_step(net, &theta, factory, b, w, fc, lr);
                        n += 1;
                    }
                    theta
                })
                .collect();
            (ParamSet::mean_of(&results).detached(true), loss / n.max(1) as f64)
        }
        Strategy::Normal | Strategy::Single => {
            let theta = start.detached(true);
            let take = if strategy == Strategy::Single { 1 } else { groups.len() };
            for b in groups.iter().take(take).flatten() {
                loss += sgd_step(net, &theta, factory, b, w, fc, lr);
                n += 1;
            }
            (theta, loss / n.max(1) as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn sgt_start_is_the_exact_mean_of_the_group_results() {
        let net = crate::model::MattingNet::new(&crate::model::ModelConfig::quick(), Device::Cpu, 0);
        let factory = net.duplicate();
        tch::manual_seed(1);
        let batch = |s: i64| {
            tch::manual_seed(s);
            let src = Tensor::rand([1, 2, 3, 18, 32], (Kind::Float, Device::Cpu));
            Batch::new(src.shallow_clone(), src.narrow(2, 0, 1).round(), src.shallow_clone())
        };
        let groups = vec![vec![batch(1)], vec![batch(2)], vec![batch(3)]];
        let w = HoiWeights::default();
        let fc = FcConfig::default();
        let start = net.params.detached(true);
        // Each group by hand, from the same start.
        let singles: Vec<ParamSet> = groups
            .iter()
            .map(|g| {
                let th = start.detached(true);
                sgd_step(&net, &th, &factory, &g[0], &w, &fc, 0.1);
                th
            })
            .collect();
        let (avg, _) = epoch(&net, &start, &factory, &groups, Strategy::Sgt, &w, &fc, 0.1);
        let mut worst = 0f64;
        for (name, t) in avg.iter() {
            let manual = (singles[0].get(name) + singles[1].get(name) + singles[2].get(name)) / 3.0;
            worst = worst.max((t - manual).abs().max().double_value(&[]));
        }
        assert!(worst < 1e-6, "SGT average differs from the mean of the groups by {worst}");
        // And it moved: SGT is not the identity.
        let moved: f64 = avg.iter().map(|(n, t)| (t - start.get(n)).abs().sum(Kind::Float).double_value(&[])).sum();
        assert!(moved > 0.0);
    }
}
