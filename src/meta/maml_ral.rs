//! MAML-RAL training (paper Alg. 1). theta starts at the factory model's
//! theta_f; each meta-iteration samples a batch of tasks from the 90 ordered
//! (train clip, test clip) pairs of `synmeta`; per task, the inner step
//! adapts theta on a T-frame window of the train clip with the HOI loss
//! (Eq. 10, step alpha), the outer loss is the matting loss of a window of
//! the test clip at the adapted parameters, and theta moves by Adam (step
//! beta) along the mean meta-gradient, exact second order by default.
//!
//! BatchNorm policy: batch statistics in the inner and the outer pass (as
//! the reference MAML code does), and the running statistics keep updating
//! from those passes, so the adapted model is evaluated with statistics of
//! the data it meta-trained on. `frozen_bn` selects the other policy: the
//! factory's running statistics throughout, as at inference.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::constraints::FcConfig;
use super::hoi_loss::{hoi_loss_bn, HoiWeights};
use super::maml::meta_gradient;
use crate::loss::matting_loss;
use crate::model::{checkpoint, MattingNet};
use crate::profile::Profile;
use crate::train::adam::Adam;
use crate::train::batch::{background_window, window, Batch, ClipTensors};
use crate::world::{self, rng::Rand};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MamlRalConfig {
    pub profile: Profile,
    pub seed: u64,
    pub data_seed: u64,
    pub factory: PathBuf,
    pub iterations: u64,
    pub tasks_per_iteration: usize,
    /// Inner step size (alpha).
    pub alpha: f64,
    pub inner_steps: usize,
    /// Outer (Adam) step size (beta).
    pub beta: f64,
    pub seq_len: i64,
    /// Probability of re-compositing a task's foreground over a `synvm`
    /// background (synmeta is all green screen; see RVM-F's note).
    pub swap_background: f32,
    pub weights: HoiWeights,
    pub fc: FcConfig,
    pub first_order: bool,
    /// A deviation to test against Alg. 1 (off by default): use the whole
    /// Eq. 10 (with CC and FC) as the outer loss too, so the constraints
    /// bound the meta-update itself, not only the inner step. Not written
    /// into the configuration when off, so default models keep their keys.
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub constrained_outer: bool,
    /// Another deviation (off by default, absent from the configuration when
    /// off): swapped backgrounds come as often from plates with interfering
    /// objects of the meta families (`world::sets::negative_plates`) as from
    /// `synvm`, so meta tasks also teach that an object not held is
    /// background. `synmeta` itself has held objects only.
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub negatives: bool,
    /// A third deviation (0 by default, absent from the configuration then):
    /// the probability that a task's *test* sequence is human-only `synvm`
    /// train video instead of a `synmeta` clip. The outer loss then asks the
    /// adapted model to still matte people without objects, so the
    /// meta-update itself is charged for forgetting (rehearsal in the
    /// meta-objective, as in meta-continual learning); the inner step still
    /// adapts on an HOI clip.
    #[serde(default, skip_serializing_if = "crate::meta::is_zero")]
    pub human_tasks: f32,
    /// The other BatchNorm policy (off by default, absent from the
    /// configuration then): inner and outer passes normalise with the
    /// factory's running statistics, as inference does, instead of the
    /// statistics of each task's single short sequence, and the running
    /// statistics stay the factory's. Meta-learned weights then never
    /// depend on per-sequence statistics they will not see at test time.
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub frozen_bn: bool,
    pub ckpt_every: u64,
    pub threads: i32,
}

impl MamlRalConfig {
    pub fn for_profile(profile: Profile, seed: u64, factory: &Path) -> Self {
        let (iterations, tasks, seq_len) = match profile {
            Profile::Smoke => (3, 2, 2),
            Profile::Quick => (120, 4, 3),
            Profile::Paper => (3000, 8, 8),
        };
        MamlRalConfig {
            profile,
            seed,
            data_seed: 0,
            factory: factory.to_path_buf(),
            iterations,
            tasks_per_iteration: tasks,
            alpha: 0.05,
            inner_steps: 1,
            beta: 5e-4,
            seq_len,
            swap_background: 0.5,
            weights: HoiWeights::default(),
            fc: FcConfig::default(),
            first_order: false,
            constrained_outer: false,
            negatives: false,
            human_tasks: 0.0,
            frozen_bn: false,
            ckpt_every: checkpoint_interval(iterations),
            threads: std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1),
        }
    }

    /// Change the number of meta-iterations (and the checkpoint interval with it).
    pub fn set_iterations(&mut self, n: u64) {
        self.iterations = n;
        self.ckpt_every = checkpoint_interval(n);
    }
}

/// A checkpoint every tenth of the run.
fn checkpoint_interval(iterations: u64) -> u64 {
    (iterations / 10).max(1)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetaLogLine {
    pub iteration: u64,
    pub inner_loss: f64,
    pub outer_loss: f64,
    pub seconds: f64,
}

pub struct MamlRalRun {
    pub net: MattingNet,
    pub log: Vec<MetaLogLine>,
    pub seconds: f64,
}

fn task_batch(c: &ClipTensors, t: i64, pool: &[ClipTensors], swap: f32, r: &mut Rand, device: Device) -> Batch {
    let t = t.min(c.len());
    let start = r.int(0, (c.len() - t + 1) as usize) as i64;
    let flip = r.chance(0.5);
    let bg = if !pool.is_empty() && r.chance(swap) { background_window(pool, t, r) } else { None };
    let (src, pha, fgr) = window(c, start, t, flip, bg.as_ref());
    Batch::new(src.unsqueeze(0), pha.unsqueeze(0), fgr.unsqueeze(0)).to_device(device)
}

pub fn log_path(out: &Path) -> PathBuf {
    out.with_extension("log.jsonl")
}

/// Train MAML-RAL, writing (and resuming from) checkpoints at `out`.
pub fn train(cfg: &MamlRalConfig, out: &Path, resume: bool, device: Device) -> Result<MamlRalRun> {
    anyhow::ensure!((0.0..=1.0).contains(&cfg.human_tasks), "human_tasks is a probability, got {}", cfg.human_tasks);
    tch::set_num_threads(cfg.threads);
    let start = Instant::now();
    crate::train::run_files::prepare_output(out)?;
    let (factory, _) = checkpoint::load(&cfg.factory, device).with_context(|| format!("loading the factory model {}", cfg.factory.display()))?;
    let meta = world::generate("synmeta", cfg.profile, cfg.data_seed)?;
    let clips: Vec<ClipTensors> = meta.clips.iter().map(ClipTensors::from_clip).collect();
    let tasks = world::meta_tasks(clips.len());
    let needs_synvm = cfg.swap_background > 0.0 || cfg.human_tasks > 0.0;
    let human = if needs_synvm { crate::train::supervised::synvm_tensors(cfg.profile, cfg.data_seed)?.0 } else { vec![] };
    let mut pool: Vec<ClipTensors> = if cfg.swap_background > 0.0 { human.iter().map(ClipTensors::shallow_clone).collect() } else { vec![] };
    if cfg.negatives && !pool.is_empty() {
        let plates = world::sets::negative_plates(cfg.profile, cfg.data_seed, pool.len());
        pool.extend(plates.iter().map(ClipTensors::from_clip));
    }
    let mut net = factory.duplicate();
    let mut opt = Adam::new(&net.params, cfg.beta);
    let mut log = Vec::new();
    let mut first = 0;
    if resume && out.is_file() {
        let (loaded, side) = checkpoint::load(out, device)?;
        let saved: MamlRalConfig = serde_json::from_value(side.provenance["config"].clone()).with_context(|| format!("{}: not a MAML-RAL checkpoint", out.display()))?;
        if &saved != cfg {
            anyhow::bail!("{}: was trained with another configuration; remove it or drop --resume", out.display());
        }
        net = loaded;
        opt = Adam::new(&net.params, cfg.beta);
        opt.load_state(&checkpoint::read_tensors(out)?).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
        first = opt.step as u64;
        if let Ok(text) = std::fs::read_to_string(log_path(out)) {
            log = text.lines().filter_map(|l| serde_json::from_str(l).ok()).filter(|l: &MetaLogLine| l.iteration <= first).collect();
        }
    }
    let bar = crate::progress::bar(cfg.iterations, if cfg.first_order { "fomaml-ral" } else { "maml-ral" });
    bar.set_position(first);
    for it in first..cfg.iterations {
        let mut r = Rand::keyed(&format!("maml-ral/iteration/{it}"), cfg.seed);
        let mut sum: Option<Vec<Tensor>> = None;
        let (mut inner_l, mut outer_l) = (0.0, 0.0);
        for _ in 0..cfg.tasks_per_iteration {
            let (a, b) = *r.pick(&tasks);
            let train_b = task_batch(&clips[a], cfg.seq_len, &pool, cfg.swap_background, &mut r, device);
            // The guard keeps the random stream of runs without the deviation unchanged.
            let test_b = if cfg.human_tasks > 0.0 && r.chance(cfg.human_tasks) {
                task_batch(r.pick(&human), cfg.seq_len, &[], 0.0, &mut r, device)
            } else {
                task_batch(&clips[b], cfg.seq_len, &pool, cfg.swap_background, &mut r, device)
            };
            let batch_stats = !cfg.frozen_bn;
            let inner = |p: &crate::model::ParamSet| hoi_loss_bn(&net, p, &factory, &train_b, &cfg.weights, &cfg.fc, batch_stats).total;
            let outer = |p: &crate::model::ParamSet| {
                if cfg.constrained_outer {
                    return hoi_loss_bn(&net, p, &factory, &test_b, &cfg.weights, &cfg.fc, batch_stats).total;
                }
                let o = net.forward_with(p, &test_b.src, None, batch_stats);
                matting_loss(&o.pha, &o.fgr, &test_b.pha, &test_b.fgr).total
            };
            let step = meta_gradient(&net.params, &inner, &outer, cfg.alpha, cfg.inner_steps, cfg.first_order);
            inner_l += step.inner_loss;
            outer_l += step.outer_loss;
            sum = Some(match sum {
                None => step.grads,
                Some(acc) => acc.iter().zip(&step.grads).map(|(x, y)| x + y).collect(),
            });
        }
        let n = cfg.tasks_per_iteration as f64;
        let grads: Vec<Tensor> = sum.expect("at least one task").iter().map(|g| g / n).collect();
        opt.update(&net.params, &grads);
        let done = it + 1;
        log.push(MetaLogLine { iteration: done, inner_loss: inner_l / n, outer_loss: outer_l / n, seconds: start.elapsed().as_secs_f64() });
        bar.set_message(format!("inner {:.4} outer {:.4}", inner_l / n, outer_l / n));
        bar.inc(1);
        if done % cfg.ckpt_every == 0 || done == cfg.iterations {
            let prov = serde_json::json!({"trainer": "maml_ral", "config": cfg, "step": done, "done": done == cfg.iterations, "hoimat_version": env!("CARGO_PKG_VERSION")});
            crate::train::run_files::write_log(&log_path(out), &log)?;
            checkpoint::save_with(&net, out, prov, &opt.state())?;
        }
    }
    bar.finish_and_clear();
    Ok(MamlRalRun { net, log, seconds: start.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outer_constraint_flag_is_absent_from_default_configurations() {
        // Default models keep the keys (hashes of these configurations) they had before the flag existed.
        let cfg = MamlRalConfig::for_profile(Profile::Smoke, 0, Path::new("f.safetensors"));
        let j = serde_json::to_value(&cfg).unwrap();
        for deviation in ["constrained_outer", "negatives", "human_tasks", "frozen_bn"] {
            assert!(j.get(deviation).is_none(), "{deviation}");
        }
        let back: MamlRalConfig = serde_json::from_value(j).unwrap();
        assert_eq!(back, cfg);
        let on = MamlRalConfig { constrained_outer: true, human_tasks: 0.5, ..cfg };
        let j = serde_json::to_value(&on).unwrap();
        assert_eq!((j["constrained_outer"].as_bool(), j["human_tasks"].as_f64()), (Some(true), Some(0.5)));
    }
}
