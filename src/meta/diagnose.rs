//! Instruments for the inner step of MAML-RAL (Alg. 1 line 8) before any
//! tuning: on real meta tasks at theta_f, for each inner step size alpha,
//! whether the step lowers the task's own loss (Eq. 10 on the train clip),
//! what it does to the outer loss (L^M on the test clip), and how the
//! second-order meta-gradient compares with the first-order direction. The
//! meta-gradient is (I - alpha H) v; when alpha times H's large eigenvalues
//! passes 2 the inner step overshoots along them and (I - alpha H) v is
//! dominated by H v, which this table shows as a norm ratio far above 1 and
//! a cosine near 0 (`hoimat diagnose alpha`).

use anyhow::{Context, Result};
use serde::Serialize;
use tch::{Device, Tensor};

use super::hoi_loss::hoi_loss;
use super::maml::{cosine, meta_gradient, norm};
use super::maml_ral::{task_batch, MamlRalConfig};
use crate::loss::matting_loss;
use crate::model::{checkpoint, ParamSet};
use crate::train::batch::{Batch, ClipTensors};
use crate::train::supervised::gradients;
use crate::world::{self, rng::Rand};

/// Means over the tasks at one alpha.
#[derive(Clone, Debug, Serialize)]
pub struct AlphaRow {
    pub alpha: f64,
    /// Eq. 10 on the train clip at theta_f and after the inner step.
    pub inner_before: f64,
    pub inner_after: f64,
    /// Share of tasks whose inner step lowered their own loss.
    pub inner_lowered: f64,
    /// L^M on the test clip at theta_f and at theta'.
    pub outer_before: f64,
    pub outer_after: f64,
    /// |meta-gradient| / |first-order direction|, and their cosine.
    pub norm_ratio: f64,
    pub cosine: f64,
}

/// The rows for `alphas` over `tasks` meta tasks drawn from a fixed stream
/// (the same tasks for every alpha), with the recipe's loss weights,
/// BatchNorm mode and sequence length.
pub fn alpha_scan(cfg: &MamlRalConfig, alphas: &[f64], tasks: usize, device: Device) -> Result<Vec<AlphaRow>> {
    let (factory, _) = checkpoint::load(&cfg.factory, device).with_context(|| format!("loading the factory model {}", cfg.factory.display()))?;
    let net = factory.duplicate();
    let meta = world::generate("synmeta", cfg.profile, cfg.data_seed)?;
    let clips: Vec<ClipTensors> = meta.clips.iter().map(ClipTensors::from_clip).collect();
    let pairs = world::meta_tasks(clips.len());
    let mut r = Rand::keyed("diagnose/alpha", cfg.seed);
    let batches: Vec<_> = (0..tasks.max(1))
        .map(|_| {
            let (a, b) = *r.pick(&pairs);
            (task_batch(&clips[a], cfg.seq_len, &[], 0.0, &mut r, device), task_batch(&clips[b], cfg.seq_len, &[], 0.0, &mut r, device))
        })
        .collect();
    let bn = cfg.bn_mode();
    let inner = |p: &ParamSet, b: &Batch| hoi_loss(&net, p, &factory, b, &cfg.weights, &cfg.fc, bn).total;
    let outer = |p: &ParamSet, b: &Batch| {
        let o = net.forward_bn(p, &b.src, None, bn);
        matting_loss(&o.pha, &o.fgr, &b.pha, &b.fgr).total
    };
    // What does not depend on alpha, once per task: the losses at theta_f
    // and the inner gradient there.
    let at_theta: Vec<(f64, f64, Vec<Tensor>)> = batches
        .iter()
        .map(|(train_b, test_b)| {
            let q = net.params.detached(true);
            let l = inner(&q, train_b);
            let g = gradients(&l, &q);
            (l.double_value(&[]), tch::no_grad(|| outer(&net.params, test_b).double_value(&[])), g)
        })
        .collect();
    let mut rows = vec![];
    for &alpha in alphas {
        let mut acc = [0.0f64; 7];
        for ((train_b, test_b), (before_in, before_out, g)) in batches.iter().zip(&at_theta) {
            let step = meta_gradient(&net.params.detached(true), &|p: &ParamSet| inner(p, train_b), &|p: &ParamSet| outer(p, test_b), alpha, 1, false);
            // theta' = theta - alpha g, evaluated plainly.
            let adapted = ParamSet::from_pairs(net.params.iter().zip(g).map(|((n, p), g)| (n.clone(), (p - g * alpha).detach())).collect());
            let (after_in, after_out) = tch::no_grad(|| (inner(&adapted, train_b).double_value(&[]), outer(&adapted, test_b).double_value(&[])));
            for (i, v) in [*before_in, after_in, (after_in < *before_in) as u8 as f64, *before_out, after_out, norm(&step.grads) / norm(&step.first_order_grads), cosine(&step.grads, &step.first_order_grads)].into_iter().enumerate() {
                acc[i] += v;
            }
        }
        let n = batches.len() as f64;
        let m = |i: usize| acc[i] / n;
        rows.push(AlphaRow { alpha, inner_before: m(0), inner_after: m(1), inner_lowered: m(2), outer_before: m(3), outer_after: m(4), norm_ratio: m(5), cosine: m(6) });
    }
    Ok(rows)
}
