//! Supervised training with the matting loss (paper Eq. 4-9): T-frame
//! sequences, Adam, periodic validation on `synvm` test clips, and
//! checkpoints a killed run resumes from exactly (batches are drawn from a
//! stream keyed by the step number). Two uses:
//!
//! - the factory model: from scratch on human-only video (`synvm` train
//!   clips, foregrounds re-composited over other clips' backgrounds half the
//!   time);
//! - RVM-F, the paper's fine-tuning baseline: the factory model fine-tuned
//!   on all `synmeta` clips with Adam (Sec. V: "1000 epochs", scaled by
//!   profile);
//! - the zoo (MODNet-like, attention memory, AdaM-like, VMFM-like, DFIMat-like):
//!   each architecture with its own loss, on the factory's data plus
//!   `synmeta`, its backbone started from the factory model's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::adam::Adam;
use super::batch::{sample_with, ClipTensors, Sampling};
use super::validate::{validate, ValScores};
use crate::loss::{model_loss, Targets};
use crate::model::{checkpoint, zoo, Arch, Matter, ModelConfig};
use crate::profile::Profile;
use crate::world::{self, rng::Rand, SetName};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactoryConfig {
    /// "factory" or "rvm_f".
    pub trainer: String,
    /// The set trained on: synvm (train split) or synmeta.
    pub data: SetName,
    /// Checkpoint to start from (RVM-F starts from the factory model).
    pub init: Option<PathBuf>,
    pub profile: Profile,
    /// Seed of initialisation and batch sampling.
    pub seed: u64,
    /// Seed of the synthetic data (the same data across training seeds).
    pub data_seed: u64,
    pub model: ModelConfig,
    pub steps: u64,
    pub lr: f64,
    pub batch: i64,
    pub seq_len: i64,
    pub swap_background: f32,
    /// Where swapped backgrounds come from: the training clips' own (None),
    /// or another set's (RVM-F: `synvm`, since `synmeta` is all green screen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backgrounds: Option<SetName>,
    pub val_every: u64,
    pub ckpt_every: u64,
    /// libtorch intra-op threads; results are reproducible for a fixed count.
    pub threads: i32,
    /// The architecture trained (absent: RVM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// Further sets whose clips (all splits) join the training clips.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<SetName>,
    /// Start the backbone (`backbone.*`, `aspp.*`) from this checkpoint's: the
    /// factory model's encoder stands in for the ImageNet weights the seed
    /// papers start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_backbone: Option<PathBuf>,
}

impl FactoryConfig {
    /// Train for `steps`, validating five times and checkpointing ten.
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
        self.val_every = (steps / 10).max(1);
        self.ckpt_every = (steps / 10).max(1);
    }

    pub fn for_profile(profile: Profile, seed: u64) -> Self {
        let (steps, batch, seq_len) = match profile {
            Profile::Smoke => (16, 2, 3),
            // 1,400 at `quick`: the factory stands for RVM's converged
            // release, and at 700 its validation MAD was still falling
            // (26.4 -> 25.5 over the last fifth).
            Profile::Quick => (1400, 4, 4),
            Profile::Paper => (20_000, 4, 8),
        };
        FactoryConfig {
            trainer: "factory".into(),
            data: SetName::SynVm,
            init: None,
            profile,
            seed,
            data_seed: 0,
            model: ModelConfig::for_profile(profile),
            steps,
            lr: 2e-3,
            batch,
            seq_len,
            swap_background: 0.5,
            backgrounds: None,
            val_every: (steps / 10).max(1),
            ckpt_every: (steps / 10).max(1),
            threads: profile.cpu_threads(),
            arch: None,
            also: vec![],
            init_backbone: None,
        }
    }
}

/// RVM-F: the factory model fine-tuned on every `synmeta` clip, plain
/// matting loss, Adam at a tenth of the factory's rate. As in RVM's own
/// training, foregrounds are re-composited over varied backgrounds (half the
/// time, from `synvm`): fine-tuning on green-screen composites alone teaches
/// the model that "not green" means foreground.
pub fn finetune_config(profile: Profile, seed: u64, factory: &Path) -> FactoryConfig {
    let mut c = FactoryConfig::for_profile(profile, seed);
    c.trainer = "rvm_f".into();
    c.data = SetName::SynMeta;
    c.init = Some(factory.to_path_buf());
    c.swap_background = 0.5;
    c.backgrounds = Some(SetName::SynVm);
    c.lr = 2e-4;
    // MAML-RAL's budget of meta-set data and updates: as many updates as its
    // outer steps, each over as many frames as one meta-iteration draws
    // (tasks x a support and a query sequence; `meta::maml_ral`'s profile
    // numbers, which `experiments::models`' test holds equal).
    let (steps, tasks, task_frames) = match profile {
        Profile::Smoke => (3, 2, 2 * 2),
        Profile::Quick => (120, 4, 2 * 3),
        Profile::Paper => (3_000, 8, 2 * 8),
    };
    c.batch = tasks;
    c.seq_len = task_frames;
    c.set_steps(steps);
    c
}

/// A zoo model (`arch`): its own loss, trained on the factory's clips plus
/// every `synmeta` clip (the HOI data RVM-F sees; swapped backgrounds from
/// `synvm`), its backbone started from the factory model `factory`, at the
/// factory's learning rate for as many steps as RVM-F has had in all
/// (factory + fine-tuning), except at `quick`, where the zoo gets 400 steps
/// (from the factory's backbone) so that the reproduction keeps five seeds
/// of the paper's own models within its time.
pub fn zoo_config(profile: Profile, seed: u64, arch: Arch, factory: &Path) -> FactoryConfig {
    let mut c = FactoryConfig::for_profile(profile, seed);
    c.trainer = format!("zoo_{arch}");
    c.arch = Some(arch);
    c.also = vec![SetName::SynMeta];
    c.backgrounds = Some(SetName::SynVm);
    c.init_backbone = Some(factory.to_path_buf());
    c.set_steps(match profile {
        Profile::Quick => 400,
        _ => c.steps + finetune_config(profile, seed, factory).steps,
    });
    c
}

/// Copy the backbone of the checkpoint at `path` into `net`: every `backbone.*`
/// tensor (parameters and BatchNorm statistics) must be there with the same
/// shape, else nothing is copied and the error names the file and the
/// tensor; `aspp.*` (LR-ASPP) is copied too when the model has RVM's.
/// Returns the number of tensors copied.
pub fn copy_backbone(net: &dyn Matter, path: &Path) -> Result<usize> {
    let src = checkpoint::read_tensors(path).with_context(|| format!("reading the backbone from {}", path.display()))?;
    let mut pairs = vec![];
    for (prefix, set) in [("param", net.params()), ("buffer", net.buffers())] {
        for (name, t) in set.iter().filter(|(name, _)| name.starts_with("backbone.") || name.starts_with("aspp.")) {
            match src.iter().find(|(k, _)| *k == format!("{prefix}/{name}")) {
                Some((_, v)) if v.size() == t.size() => pairs.push((t.shallow_clone(), v.shallow_clone())),
                found if name.starts_with("backbone.") => {
                    let why = found.map_or("is missing".to_string(), |(_, v)| format!("has shape {:?}, the model needs {:?}", v.size(), t.size()));
                    anyhow::bail!("{}: backbone tensor {prefix}/{name} {why} (a checkpoint of another width or depth?)", path.display());
                }
                _ => {}
            }
        }
    }
    tch::no_grad(|| {
        for (mut d, v) in pairs.iter().map(|(d, v)| (d.shallow_clone(), v)) {
            d.copy_(v);
        }
    });
    Ok(pairs.len())
}

/// Learning rate at `step`: 5% linear warm-up, then cosine decay to 10%.
pub fn lr_at(cfg: &FactoryConfig, step: u64) -> f64 {
    let warm = (cfg.steps as f64 * 0.05).max(1.0);
    let s = step as f64;
    if s < warm {
        return cfg.lr * (s + 1.0) / warm;
    }
    let p = (s - warm) / (cfg.steps as f64 - warm).max(1.0);
    cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogLine {
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    pub seconds: f64,
    pub val_mad: Option<f64>,
    pub val_miou: Option<f64>,
}

pub struct FactoryRun {
    pub net: Box<dyn Matter>,
    pub log: Vec<LogLine>,
    pub final_val: ValScores,
    pub seconds: f64,
}

pub fn log_path(out: &Path) -> PathBuf {
    out.with_extension("log.jsonl")
}

/// Render `synvm` and split it into train and test tensors.
pub fn synvm_tensors(profile: Profile, data_seed: u64) -> Result<(Vec<ClipTensors>, Vec<ClipTensors>)> {
    let ds = world::generate("synvm", profile, data_seed)?;
    let (train, test): (Vec<_>, Vec<_>) = ds.clips.iter().partition(|c| c.meta.split == "train");
    Ok((train.into_iter().map(ClipTensors::from_clip).collect(), test.into_iter().map(ClipTensors::from_clip).collect()))
}

/// Train (or resume) the factory model, writing checkpoints to `out`.
pub fn train(cfg: &FactoryConfig, out: &Path, resume: bool, device: Device) -> Result<FactoryRun> {
    train_until(cfg, out, resume, device, None)
}

/// As [`train`], but stop after step `until` (as a kill would, though only
/// at a checkpoint boundary if `until` is one): used to test resumption.
pub fn train_until(cfg: &FactoryConfig, out: &Path, resume: bool, device: Device, until: Option<u64>) -> Result<FactoryRun> {
    tch::set_num_threads(cfg.threads);
    let start = Instant::now();
    crate::train::run_files::prepare_output(out)?;
    let (vm_train, test_clips) = synvm_tensors(cfg.profile, cfg.data_seed)?;
    let mut train_clips: Vec<ClipTensors> = vec![];
    for set in std::iter::once(&cfg.data).chain(&cfg.also) {
        match set {
            SetName::SynVm => train_clips.extend(vm_train.iter().map(ClipTensors::shallow_clone)),
            other => train_clips.extend(world::generate(other.name(), cfg.profile, cfg.data_seed)?.clips.iter().map(ClipTensors::from_clip)),
        }
    }
    let pool: &[ClipTensors] = match cfg.backgrounds {
        None => &train_clips,
        Some(SetName::SynVm) => &vm_train,
        Some(other) => anyhow::bail!("backgrounds from {other} are not supported (use synvm)"),
    };
    let mut net: Box<dyn Matter> = match &cfg.init {
        Some(p) => checkpoint::load_model(p, device).with_context(|| format!("loading the initial model {}", p.display()))?.0,
        None => zoo::build(cfg.arch.unwrap_or(Arch::Rvm), &cfg.model, device, cfg.seed),
    };
    if let Some(p) = &cfg.init_backbone {
        copy_backbone(net.as_ref(), p)?;
    }
    let mut opt = Adam::new(net.params(), cfg.lr);
    let mut log: Vec<LogLine> = Vec::new();
    let mut first = 0u64;
    if resume && out.is_file() {
        let (loaded, side) = checkpoint::load_model(out, device).with_context(|| format!("resuming from {}", out.display()))?;
        let saved: FactoryConfig = serde_json::from_value(side.provenance["config"].clone())
            .with_context(|| format!("{}: not a factory checkpoint", out.display()))?;
        crate::check_engine(&side.provenance, out)?;
        // A resume may run on another thread count (another machine): the recipe is what must match.
        if (FactoryConfig { threads: cfg.threads, ..saved }) != *cfg {
            anyhow::bail!("{}: was trained with another configuration; remove it or drop --resume", out.display());
        }
        net = loaded;
        opt = Adam::new(net.params(), cfg.lr);
        let state = checkpoint::read_tensors(out)?;
        opt.load_state(&state).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
        first = opt.step as u64;
        if let Ok(text) = std::fs::read_to_string(log_path(out)) {
            log = text.lines().filter_map(|l| serde_json::from_str(l).ok()).filter(|l: &LogLine| l.step < first).collect();
        }
    }
    let sampling = Sampling { batch: cfg.batch, seq_len: cfg.seq_len, swap_background: cfg.swap_background, flip: 0.5 };
    let bar = crate::progress::bar(cfg.steps, &cfg.trainer);
    bar.set_position(first);
    let mut frames = 0i64;
    let t0 = Instant::now();
    let last = until.unwrap_or(cfg.steps).min(cfg.steps);
    for step in first..last {
        let lr = lr_at(cfg, step);
        opt.lr = lr;
        let mut r = Rand::keyed(&format!("factory/step/{step}"), cfg.seed);
        let b = sample_with(&train_clips, pool, &sampling, &mut r).to_device(device);
        // Interactive models train on clicks simulated from the truth.
        let input = if net.prompt_channels() > 0 { crate::model::zoo::dfimat::training_input(&b.src, &b.pha, &mut r) } else { b.src.shallow_clone() };
        let o = net.run(net.params(), &input, None, true);
        let loss = model_loss(net.arch(), &o, &Targets { pha: &b.pha, fgr: &b.fgr, labels: b.labels.as_ref() });
        opt.update(net.params(), &gradients(&loss, net.params()));
        frames += b.src.size()[0] * b.src.size()[1];
        let loss_v = loss.double_value(&[]);
        let done = step + 1;
        let mut line = LogLine { step: done, loss: loss_v, lr, seconds: start.elapsed().as_secs_f64(), val_mad: None, val_miou: None };
        if done % cfg.val_every == 0 || done == cfg.steps {
            let v = validate(net.as_ref(), net.params(), &test_clips, device);
            line.val_mad = Some(v.mad);
            line.val_miou = Some(v.miou);
            bar.println(format!("step {done}: loss {loss_v:.4}, val MAD {:.2} (x1e3), val mIoU {:.4}", v.mad, v.miou));
        }
        log.push(line);
        bar.set_message(format!("loss {loss_v:.4} {:.1} frames/s", frames as f64 / t0.elapsed().as_secs_f64()));
        bar.inc(1);
        if done % cfg.ckpt_every == 0 || done == cfg.steps {
            save(net.as_ref(), &opt, cfg, &log, out, done == cfg.steps)?;
        }
    }
    bar.finish_and_clear();
    let final_val = validate(net.as_ref(), net.params(), &test_clips, device);
    Ok(FactoryRun { net, log, final_val, seconds: start.elapsed().as_secs_f64() })
}

/// Gradients of `loss` for every parameter; zeros for parameters the loss
/// does not reach (e.g. a head unused by a model's own loss).
pub fn gradients(loss: &Tensor, params: &crate::model::ParamSet) -> Vec<Tensor> {
    params.defined_grads(Tensor::run_backward(&[loss], &params.tensors().iter().collect::<Vec<_>>(), false, false))
}

fn save(net: &dyn Matter, opt: &Adam, cfg: &FactoryConfig, log: &[LogLine], out: &Path, done: bool) -> Result<()> {
    let prov = serde_json::json!({
        "trainer": cfg.trainer,
        "config": cfg,
        "step": opt.step,
        "done": done,
        "engine": crate::ENGINE,
        "hoimat_version": env!("CARGO_PKG_VERSION"),
    });
    super::run_files::write_log(&log_path(out), log)?;
    // Weights and optimizer state go in one file, replaced atomically.
    checkpoint::save_with(net, out, prov, &opt.state())?;
    Ok(())
}
