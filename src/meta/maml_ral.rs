//! MAML-RAL training (paper Alg. 1). theta starts at the factory model's
//! theta_f; each meta-iteration samples a batch of tasks from the 90 ordered
//! (train clip, test clip) pairs of `synmeta`; per task, the inner step
//! adapts theta on a T-frame window of the train clip with the HOI loss
//! (Eq. 10, step alpha), the outer loss is the matting loss of a window of
//! the test clip at the adapted parameters, and theta moves along the mean
//! meta-gradient (exact second order by default) by Adam with step beta, or
//! by plain gradient descent as Alg. 1 line 10 writes it (`outer = "sgd"`).
//!
//! CC and FC take their distances squared by default (see
//! `meta::constraints`): at theta = theta_f, where the run starts, the
//! norm's Hessian is unbounded and reversed the second-order meta-gradient.
//!
//! BatchNorm policy (`BnMode::Batch`): batch statistics in the inner and
//! the outer pass (as the reference MAML code does), while the running
//! statistics stay the factory's, so the meta-learned model normalises test
//! video as the factory does, not with the green-screen statistics of the
//! meta tasks. Two deviations: `track_bn` lets the passes update the
//! running statistics (the policy before this was measured), `frozen_bn`
//! normalises with the factory's running statistics in the passes too.
//!
//! Every meta-iteration logs the meta-gradient's norm, its cosine with the
//! first-order direction, the inner and outer losses and ||theta - theta_f||.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::constraints::{squared_distance, FcConfig};
use super::hoi_loss::{hoi_loss, HoiWeights};
use super::maml::{cosine, meta_gradient, norm};
use crate::loss::matting_loss;
use crate::model::{checkpoint, BnMode, MattingNet};
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
    /// Outer step size (beta).
    pub beta: f64,
    /// The outer update: Adam (the default, chosen by measurement, see the
    /// README) or plain gradient descent as in Alg. 1 line 10.
    #[serde(default, skip_serializing_if = "OuterOptimizer::is_default")]
    pub outer: OuterOptimizer,
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
    /// The BatchNorm policy measured before the engine fix (off by
    /// default): the passes' batch statistics also update the running
    /// statistics, so the saved model normalises with meta-set statistics.
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub track_bn: bool,
    pub ckpt_every: u64,
    /// libtorch threads: provenance only, never part of a model's key
    /// (results are reproducible for a fixed count).
    pub threads: i32,
}

/// The outer (meta) update of Alg. 1 line 10.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OuterOptimizer {
    #[default]
    Adam,
    /// theta <- theta - beta * g, exactly as Alg. 1 writes it.
    Sgd,
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
            outer: OuterOptimizer::Adam,
            seq_len,
            swap_background: 0.5,
            weights: HoiWeights::default(),
            fc: FcConfig::default(),
            first_order: false,
            constrained_outer: false,
            negatives: false,
            human_tasks: 0.0,
            frozen_bn: false,
            track_bn: false,
            ckpt_every: checkpoint_interval(iterations),
            threads: profile.cpu_threads(),
        }
    }

    /// BatchNorm mode of the inner and outer passes.
    pub fn bn_mode(&self) -> BnMode {
        match (self.frozen_bn, self.track_bn) {
            (true, _) => BnMode::Running,
            (false, true) => BnMode::BatchTracked,
            (false, false) => BnMode::Batch,
        }
    }

    /// The same recipe, whatever the thread count.
    pub fn same_recipe(&self, other: &MamlRalConfig) -> bool {
        MamlRalConfig { threads: other.threads, ..self.clone() } == *other
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
    /// Norm of the mean meta-gradient this iteration followed.
    #[serde(default)]
    pub grad_norm: f64,
    /// Norm of the mean first-order direction (grad L_outer at theta').
    #[serde(default)]
    pub first_order_norm: f64,
    /// Cosine of the meta-gradient with the first-order direction: near 1
    /// when the inner step's Jacobian I - alpha H is benign, negative when
    /// a constraint's curvature reverses it.
    #[serde(default)]
    pub first_order_cosine: f64,
    /// ||theta - theta_f|| after the update.
    #[serde(default)]
    pub distance: f64,
    pub seconds: f64,
}

pub struct MamlRalRun {
    pub net: MattingNet,
    pub log: Vec<MetaLogLine>,
    pub seconds: f64,
}

pub(crate) fn task_batch(c: &ClipTensors, t: i64, pool: &[ClipTensors], swap: f32, r: &mut Rand, device: Device) -> Batch {
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
    anyhow::ensure!(!(cfg.frozen_bn && cfg.track_bn), "frozen_bn and track_bn are two BatchNorm policies; choose one");
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
        crate::check_engine(&side.provenance, out)?;
        if !saved.same_recipe(cfg) {
            anyhow::bail!("{}: was trained with another configuration; remove it or drop --resume", out.display());
        }
        net = loaded;
        opt = Adam::new(&net.params, cfg.beta);
        opt.load_state(&checkpoint::read_tensors(out)?).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
        // The checkpoint's own count: an SGD outer step leaves Adam's at 0.
        first = side.provenance["step"].as_u64().with_context(|| format!("{}: no step in the checkpoint's provenance", out.display()))?;
        if let Ok(text) = std::fs::read_to_string(log_path(out)) {
            log = text.lines().filter_map(|l| serde_json::from_str(l).ok()).filter(|l: &MetaLogLine| l.iteration <= first).collect();
        }
    }
    // The log starts as the lines kept by a resume (none otherwise); lines are appended from here.
    crate::train::run_files::write_log(&log_path(out), &log)?;
    let bar = crate::progress::bar(cfg.iterations, if cfg.first_order { "fomaml-ral" } else { "maml-ral" });
    bar.set_position(first);
    for it in first..cfg.iterations {
        let mut r = Rand::keyed(&format!("maml-ral/iteration/{it}"), cfg.seed);
        let mut sum: Option<Vec<Tensor>> = None;
        let mut fo_sum: Option<Vec<Tensor>> = None;
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
            let bn = cfg.bn_mode();
            let inner = |p: &crate::model::ParamSet| hoi_loss(&net, p, &factory, &train_b, &cfg.weights, &cfg.fc, bn).total;
            let outer = |p: &crate::model::ParamSet| {
                if cfg.constrained_outer {
                    return hoi_loss(&net, p, &factory, &test_b, &cfg.weights, &cfg.fc, bn).total;
                }
                let o = net.forward_bn(p, &test_b.src, None, bn);
                matting_loss(&o.pha, &o.fgr, &test_b.pha, &test_b.fgr).total
            };
            let step = meta_gradient(&net.params, &inner, &outer, cfg.alpha, cfg.inner_steps, cfg.first_order);
            inner_l += step.inner_loss;
            outer_l += step.outer_loss;
            sum = Some(accumulate(sum, step.grads));
            fo_sum = Some(accumulate(fo_sum, step.first_order_grads));
        }
        let n = cfg.tasks_per_iteration as f64;
        let grads: Vec<Tensor> = sum.expect("at least one task").iter().map(|g| g / n).collect();
        let fo: Vec<Tensor> = fo_sum.expect("at least one task").iter().map(|g| g / n).collect();
        match cfg.outer {
            OuterOptimizer::Adam => opt.update(&net.params, &grads),
            // theta <- theta - beta * g (Alg. 1 line 10).
            OuterOptimizer::Sgd => net.params.descend(&grads, cfg.beta),
        }
        let done = it + 1;
        let line = MetaLogLine {
            iteration: done,
            inner_loss: inner_l / n,
            outer_loss: outer_l / n,
            grad_norm: norm(&grads),
            first_order_norm: norm(&fo),
            first_order_cosine: cosine(&grads, &fo),
            distance: tch::no_grad(|| squared_distance(&net.params, &factory.params)).double_value(&[]).sqrt(),
            seconds: start.elapsed().as_secs_f64(),
        };
        bar.set_message(format!("outer {:.4} |g| {:.2e} cos {:+.3} |θ-θf| {:.3e}", line.outer_loss, line.grad_norm, line.first_order_cosine, line.distance));
        // Each line goes to the JSON-lines log as it happens, not only at checkpoints.
        crate::train::run_files::append_log(&log_path(out), &line)?;
        log.push(line);
        bar.inc(1);
        if done % cfg.ckpt_every == 0 || done == cfg.iterations {
            let prov = serde_json::json!({"trainer": "maml_ral", "config": cfg, "step": done, "done": done == cfg.iterations, "engine": crate::ENGINE, "hoimat_version": env!("CARGO_PKG_VERSION")});
            crate::train::run_files::write_log(&log_path(out), &log)?;
            checkpoint::save_with(&net, out, prov, &opt.state())?;
        }
    }
    bar.finish_and_clear();
    Ok(MamlRalRun { net, log, seconds: start.elapsed().as_secs_f64() })
}

fn accumulate(sum: Option<Vec<Tensor>>, g: Vec<Tensor>) -> Vec<Tensor> {
    match sum {
        None => g,
        Some(acc) => acc.iter().zip(&g).map(|(x, y)| x + y).collect(),
    }
}

impl OuterOptimizer {
    pub fn is_default(&self) -> bool {
        *self == OuterOptimizer::Adam
    }
}

impl std::str::FromStr for OuterOptimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "adam" => Ok(OuterOptimizer::Adam),
            "sgd" => Ok(OuterOptimizer::Sgd),
            _ => Err(format!("'{s}': expected adam or sgd")),
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outer_constraint_flag_is_absent_from_default_configurations() {
        // Default models keep the keys (hashes of these configurations) they had before the flag existed.
        let cfg = MamlRalConfig::for_profile(Profile::Smoke, 0, Path::new("f.safetensors"));
        let j = serde_json::to_value(&cfg).unwrap();
        for deviation in ["constrained_outer", "negatives", "human_tasks", "frozen_bn", "track_bn", "outer"] {
            assert!(j.get(deviation).is_none(), "{deviation}");
        }
        let back: MamlRalConfig = serde_json::from_value(j).unwrap();
        assert_eq!(back, cfg);
        let on = MamlRalConfig { constrained_outer: true, human_tasks: 0.5, ..cfg };
        let j = serde_json::to_value(&on).unwrap();
        assert_eq!((j["constrained_outer"].as_bool(), j["human_tasks"].as_f64()), (Some(true), Some(0.5)));
    }
}
