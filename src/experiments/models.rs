//! Trained models shared by every experiment. A model is named by its recipe
//! (factory, RVM-F, MAML-RAL with given weights), the seed and the profile;
//! its checkpoint lives at `<lab>/models/<name>-s<seed>-<hash>.safetensors`,
//! where the hash covers the recipe: the full training configuration, with
//! the starting model replaced by its own hash, the engine version and the
//! synthetic world's generator version, but not the thread count (results are bit-identical only for a fixed count,
//! which each checkpoint's provenance records). So Tables II, III, IV and VII train each model once, and a killed
//! training run resumes where it stopped. The factory model is seedless
//! (`FACTORY_SEED`): one per profile, the start of every other recipe.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::lab::Lab;
use super::provenance::config_hash;
use crate::meta::constraints::Distance;
use crate::meta::hoi_loss::HoiWeights;
use crate::meta::maml_ral::{self, MamlRalConfig, OuterOptimizer};
use crate::model::{checkpoint, Arch};
use crate::train::supervised::{self, FactoryConfig};

/// How a model is made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    /// RVM trained on human-only video: the paper's factory model theta_f.
    Factory,
    /// The factory model fine-tuned on all synmeta clips (the paper's RVM-F).
    RvmF,
    /// Meta-learned from the factory model (Alg. 1) with HOI-loss weights (Eq. 10).
    MamlRal(MetaSpec),
    /// A seed paper's system (the zoo), trained with its own loss on the
    /// factory's data plus synmeta, its backbone from the factory model
    /// (with `arch = rvm`: RVM under the same recipe, the control).
    Zoo { arch: Arch },
}

/// A MAML-RAL recipe: the weights of Eq. 10, the order of the
/// meta-gradient, and the deviations and schedule changes the issue-5
/// investigations try. Every field past `first_order` is left out of the
/// serialised recipe when unset, so default models keep their keys; unknown
/// keys are an error, so a misspelt deviation cannot silently train the
/// default model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSpec {
    pub g1: f64,
    pub g2: f64,
    pub g3: f64,
    #[serde(default)]
    pub first_order: bool,
    /// Eq. 10 as the outer loss too (a deviation from Alg. 1).
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub constrained_outer: bool,
    /// Meta tasks over backgrounds with interfering objects half the time.
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub negatives: bool,
    /// Probability of a human-only test sequence in a task.
    #[serde(default, skip_serializing_if = "crate::meta::is_zero")]
    pub human_tasks: f32,
    /// BatchNorm on the factory's running statistics during meta-training.
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub frozen_bn: bool,
    /// The passes' batch statistics update the running ones (the old policy).
    #[serde(default, skip_serializing_if = "crate::meta::is_false")]
    pub track_bn: bool,
    /// How CC's and FC's distances are taken (default: squared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_distance: Option<Distance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fc_distance: Option<Distance>,
    /// The outer update (default: Adam).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<OuterOptimizer>,
    /// Inner step size, meta step size, meta-iterations and tasks per
    /// meta-iteration, replacing the profile's (`MamlRalConfig::for_profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<usize>,
}

impl MetaSpec {
    /// Alg. 1 as published with these Eq. 10 weights, no deviation.
    pub fn weights(g1: f64, g2: f64, g3: f64) -> Self {
        MetaSpec { g1, g2, g3, ..MetaSpec::default() }
    }

    /// The profile's configuration with this recipe applied.
    pub fn apply(&self, cfg: &mut MamlRalConfig) {
        cfg.weights = HoiWeights { cc_distance: self.cc_distance.unwrap_or_default(), ..HoiWeights::new(self.g1, self.g2, self.g3) };
        cfg.fc.distance = self.fc_distance.unwrap_or_default();
        cfg.outer = self.outer.unwrap_or_default();
        cfg.track_bn = self.track_bn;
        cfg.first_order = self.first_order;
        cfg.constrained_outer = self.constrained_outer;
        cfg.negatives = self.negatives;
        cfg.human_tasks = self.human_tasks;
        cfg.frozen_bn = self.frozen_bn;
        cfg.alpha = self.alpha.unwrap_or(cfg.alpha);
        cfg.beta = self.beta.unwrap_or(cfg.beta);
        if let Some(n) = self.iterations {
            cfg.set_iterations(n);
        }
        cfg.tasks_per_iteration = self.tasks.unwrap_or(cfg.tasks_per_iteration);
    }
}

impl ModelSpec {
    pub fn maml_ral(g1: f64, g2: f64, g3: f64) -> Self {
        ModelSpec::MamlRal(MetaSpec::weights(g1, g2, g3))
    }

    /// The architecture the recipe produces.
    pub fn arch(&self) -> Arch {
        match self {
            ModelSpec::Zoo { arch } => *arch,
            _ => Arch::Rvm,
        }
    }

    fn stem(&self) -> &'static str {
        match self {
            ModelSpec::Zoo { arch } => arch.name(),
            ModelSpec::Factory => "factory",
            ModelSpec::RvmF => "rvm_f",
            ModelSpec::MamlRal(m) if m.first_order => "fomaml_ral",
            ModelSpec::MamlRal(_) => "maml_ral",
        }
    }
}

/// A recipe resolved to a configuration, its hash and where it lives.
pub struct Planned {
    pub key: String,
    pub path: PathBuf,
    recipe: Recipe,
}

enum Recipe {
    Supervised(Box<FactoryConfig>),
    Meta(Box<MamlRalConfig>),
    /// RVM's checkpoint imported as the factory model (nothing to train).
    Import(PathBuf),
}

/// FNV-1a 64 of a file's bytes (an imported factory's key names its content,
/// not where it lies).
/// (`provenance::content_hash`: streamed, and remembered per file, since
/// every plan asks for it.)
fn file_hash(path: &Path) -> Result<String> {
    super::provenance::content_hash(path).with_context(|| format!("{}: cannot read the factory checkpoint to import", path.display()))
}

/// What a model's key hashes: the recipe and its configuration with the
/// machine left out (the thread count stays in the checkpoint's provenance),
/// the engine version and the world's generator version.
fn recipe_key(mut j: serde_json::Value) -> serde_json::Value {
    if let Some(c) = j.get_mut("config").and_then(|c| c.as_object_mut()) {
        c.remove("threads");
    }
    j["engine"] = serde_json::json!(crate::ENGINE);
    j["world"] = serde_json::json!(crate::world::GENERATOR_VERSION);
    j
}

impl Planned {
    /// The meta-training configuration, for a MAML-RAL recipe.
    pub fn meta_config(&self) -> Option<&MamlRalConfig> {
        match &self.recipe {
            Recipe::Meta(c) => Some(c),
            _ => None,
        }
    }

    /// What training sees: (updates, training frames), none for an import.
    pub fn budget(&self) -> Option<(u64, u64)> {
        match &self.recipe {
        Recipe::Supervised(c) => Some((c.steps, c.steps * (c.batch * c.seq_len) as u64)),
        Recipe::Meta(m) => Some((m.iterations, m.iterations * (m.tasks_per_iteration as u64) * 2 * m.seq_len as u64)),
        Recipe::Import(_) => None,
        }
    }
}

/// The seed of the one factory model of a profile.
pub const FACTORY_SEED: u64 = 0;

/// True when `path` holds a finished training run.
pub fn is_complete(path: &Path) -> bool {
    path.is_file() && checkpoint::read_sidecar(path).is_ok_and(|s| s.provenance["done"] == serde_json::Value::Bool(true))
}

impl Lab {
    /// Resolve a recipe (training nothing): the configuration, its hash and path.
    /// The starting model of RVM-F and MAML-RAL is planned first, recursively.
    pub fn plan_model(&self, spec: &ModelSpec, seed: u64) -> Result<Planned> {
        let dir = self.root.join("models");
        // The paper starts every method from one converged release, so one
        // factory model per profile serves every seed: the seed varies what
        // is trained from it, and comparisons are paired against the same
        // starting point.
        let seed = if matches!(spec, ModelSpec::Factory) { FACTORY_SEED } else { seed };
        let (recipe, key_json) = match spec {
            ModelSpec::Factory if self.factory_import.is_some() => {
                let src = self.factory_import.clone().expect("checked");
                // Seedless: the same imported weights serve every seed.
                // An ONNX import also depends on the frames its BatchNorms
                // are measured on (`model::rvm_onnx`); a .pth is copied as is.
                let mut j = serde_json::json!({"file": file_hash(&src)?, "engine": crate::ENGINE});
                if src.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
                    j["onnx_calibration"] = serde_json::json!({"version": crate::model::rvm_onnx::CALIBRATION_VERSION, "world": crate::world::GENERATOR_VERSION});
                }
                let key = format!("factory_import-{}", config_hash(&j));
                return Ok(Planned { path: dir.join(format!("{key}.safetensors")), key, recipe: Recipe::Import(src) });
            }
            ModelSpec::Factory => {
                let mut cfg = FactoryConfig::for_profile(self.profile, seed);
                cfg.data_seed = self.data_seed;
                let j = serde_json::json!({"recipe": spec, "config": cfg});
                (Recipe::Supervised(Box::new(cfg)), j)
            }
            ModelSpec::RvmF => {
                let f = self.plan_model(&ModelSpec::Factory, seed)?;
                let mut cfg = supervised::finetune_config(self.profile, seed, &f.path);
                cfg.data_seed = self.data_seed;
                let mut j = serde_json::json!({"recipe": spec, "config": cfg});
                j["config"]["init"] = serde_json::Value::String(f.key.clone());
                (Recipe::Supervised(Box::new(cfg)), j)
            }
            ModelSpec::MamlRal(m) => {
                let f = self.plan_model(&ModelSpec::Factory, seed)?;
                let mut cfg = MamlRalConfig::for_profile(self.profile, seed, &f.path);
                cfg.data_seed = self.data_seed;
                m.apply(&mut cfg);
                let mut j = serde_json::json!({"recipe": spec, "config": cfg});
                j["config"]["factory"] = serde_json::Value::String(f.key.clone());
                (Recipe::Meta(Box::new(cfg)), j)
            }
            ModelSpec::Zoo { arch } => {
                let f = self.plan_model(&ModelSpec::Factory, seed)?;
                let mut cfg = supervised::zoo_config(self.profile, seed, *arch, &f.path);
                cfg.data_seed = self.data_seed;
                if let Some(src) = &self.factory_import {
                    // The zoo's backbone starts from the imported factory's, so it takes its width.
                    cfg.model = crate::model::rvm::config_of(src)?;
                }
                let mut j = serde_json::json!({"recipe": spec, "config": cfg});
                j["config"]["init_backbone"] = serde_json::Value::String(f.key.clone());
                (Recipe::Supervised(Box::new(cfg)), j)
            }
        };
        let key = format!("{}-s{seed}-{}", spec.stem(), config_hash(&recipe_key(key_json)));
        let mut recipe = recipe;
        if let Some(t) = self.threads {
            match &mut recipe {
                Recipe::Supervised(c) => c.threads = t,
                Recipe::Meta(c) => c.threads = t,
                Recipe::Import(_) => {}
            }
        }
        Ok(Planned { path: dir.join(format!("{key}.safetensors")), key, recipe })
    }

    /// An exclusive lock on a model key (`<key>.lock` beside its checkpoint,
    /// released when dropped or when the process dies), so two runs sharing a
    /// results folder never train the same model at once.
    fn key_lock(&self, plan: &Planned) -> Result<std::fs::File> {
        let path = plan.path.with_extension("lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("{}: cannot open the lock", path.display()))?;
        if f.try_lock().is_err() {
            self.say(&format!("waiting for another process training {}", plan.key));
            f.lock().with_context(|| format!("{}: cannot lock", path.display()))?;
        }
        Ok(f)
    }

    /// The checkpoint of a recipe at a seed, trained (or resumed) if missing.
    pub fn model(&self, spec: &ModelSpec, seed: u64) -> Result<PathBuf> {
        let plan = self.plan_model(spec, seed)?;
        if let Some(dir) = plan.path.parent() {
            crate::store::table::sweep_stale_temporaries(dir);
        }
        if is_complete(&plan.path) {
            return Ok(plan.path);
        }
        // Starting models first (a no-op when they exist).
        if !matches!(spec, ModelSpec::Factory) {
            self.model(&ModelSpec::Factory, seed)?;
        }
        // One process trains a key at a time; another waits, then finds it done.
        let _lock = self.key_lock(&plan)?;
        if is_complete(&plan.path) {
            return Ok(plan.path);
        }
        self.say(&format!("training {} ({})", plan.key, self.profile));
        match &plan.recipe {
            Recipe::Import(src) => {
                let cfg = crate::model::rvm::import(src, &plan.path).with_context(|| format!("importing the factory model {}", src.display()))?;
                self.say(&format!("  imported RVM's checkpoint {} (width {}) as the factory model", src.display(), cfg.width));
            }
            Recipe::Supervised(cfg) => {
                let run = supervised::train(cfg, &plan.path, true, self.device).with_context(|| format!("training {}", plan.key))?;
                self.say(&format!("  {} done in {:.0} s: synvm test MAD {:.2}, mIoU {:.4}", plan.key, run.seconds, run.final_val.mad, run.final_val.miou));
            }
            Recipe::Meta(cfg) => {
                let run = maml_ral::train(cfg, &plan.path, true, self.device).with_context(|| format!("training {}", plan.key))?;
                let last = run.log.last();
                self.say(&format!("  {} done in {:.0} s: outer loss {:.4}", plan.key, run.seconds, last.map_or(f64::NAN, |l| l.outer_loss)));
            }
        }
        Ok(plan.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use tch::Device;

    /// Model keys hash the training configuration; a field added later with
    /// its default left out of the configuration must not change the keys
    /// of models trained before it (pinned here for engine 3, world 2).
    #[test]
    fn keys_of_existing_recipes_are_stable_and_zoo_keys_differ() {
        let lab = Lab::new(std::env::temp_dir().join("hoimat-keys"), Profile::Quick, Device::Cpu);
        assert_eq!(lab.plan_model(&ModelSpec::Factory, 0).unwrap().key, "factory-s0-437fb2a74683d9c4");
        assert_eq!(lab.plan_model(&ModelSpec::RvmF, 0).unwrap().key, "rvm_f-s0-55b54ddf2707f271");
        assert_eq!(lab.plan_model(&ModelSpec::maml_ral(0.7, 0.1, 0.2), 0).unwrap().key, "maml_ral-s0-f2cc50d147e7b8d1");
        let a = lab.plan_model(&ModelSpec::Zoo { arch: Arch::Modnet }, 0).unwrap().key;
        let b = lab.plan_model(&ModelSpec::Zoo { arch: Arch::AttentionMemory }, 0).unwrap().key;
        assert!(a.starts_with("modnet-s0-") && b.starts_with("attention_memory-s0-") && a[10..] != b[20..]);
    }

    /// One factory model serves every seed; RVM-F and MAML-RAL train from it
    /// at their own seed with the same budget of meta-set frames and updates.
    #[test]
    fn one_factory_and_equal_budgets() {
        let lab = Lab::new(std::env::temp_dir().join("hoimat-keys"), Profile::Quick, Device::Cpu);
        let f0 = lab.plan_model(&ModelSpec::Factory, 0).unwrap();
        assert_eq!(lab.plan_model(&ModelSpec::Factory, 3).unwrap().key, f0.key);
        assert_ne!(lab.plan_model(&ModelSpec::RvmF, 3).unwrap().key, lab.plan_model(&ModelSpec::RvmF, 0).unwrap().key);
        let rvm_f = lab.plan_model(&ModelSpec::RvmF, 3).unwrap().budget();
        let meta = lab.plan_model(&ModelSpec::maml_ral(0.7, 0.1, 0.2), 3).unwrap().budget();
        // quick: 120 updates; 4 tasks x (3 support + 3 query frames) = 24 frames each.
        assert_eq!(rvm_f, Some((120, 2880)));
        assert_eq!(meta, rvm_f);
        for p in [Profile::Smoke, Profile::Paper] {
            let lab = Lab::new(std::env::temp_dir().join("hoimat-keys"), p, Device::Cpu);
            let b = |s: &ModelSpec| lab.plan_model(s, 1).unwrap().budget();
            assert_eq!(b(&ModelSpec::RvmF), b(&ModelSpec::maml_ral(0.7, 0.1, 0.2)), "{p:?}");
        }
    }

    #[test]
    fn the_thread_count_is_not_part_of_a_key_but_the_engine_is() {
        let mut cfg = MamlRalConfig::for_profile(Profile::Quick, 0, Path::new("f.safetensors"));
        let key = |c: &MamlRalConfig| config_hash(&recipe_key(serde_json::json!({"recipe": "x", "config": c})));
        let (two, sixteen) = (MamlRalConfig { threads: 2, ..cfg.clone() }, MamlRalConfig { threads: 16, ..cfg.clone() });
        assert_eq!(key(&two), key(&sixteen));
        assert!(two.same_recipe(&sixteen));
        cfg.beta *= 2.0;
        assert_ne!(key(&two), key(&cfg));
        let j = recipe_key(serde_json::json!({"recipe": "x", "config": two}));
        assert_eq!((j["engine"].as_u64(), j["config"].get("threads")), (Some(crate::ENGINE as u64), None));
        let mut f = FactoryConfig::for_profile(Profile::Quick, 0);
        let a = config_hash(&recipe_key(serde_json::json!({"config": f.clone()})));
        f.threads += 7;
        assert_eq!(a, config_hash(&recipe_key(serde_json::json!({"config": f}))));
    }

    #[test]
    fn new_meta_recipe_fields_make_new_models() {
        let lab = Lab::new(std::env::temp_dir().join("hoimat-keys"), Profile::Quick, Device::Cpu);
        let base = MetaSpec::weights(0.7, 0.1, 0.2);
        let mut cfg = MamlRalConfig::for_profile(Profile::Quick, 0, Path::new("f.safetensors"));
        let spec = MetaSpec { cc_distance: Some(Distance::Norm), fc_distance: Some(Distance::Smoothed { radius: 0.1 }), outer: Some(OuterOptimizer::Sgd), track_bn: true, ..base.clone() };
        spec.apply(&mut cfg);
        assert_eq!((cfg.weights.cc_distance, cfg.fc.distance, cfg.outer, cfg.track_bn), (Distance::Norm, Distance::Smoothed { radius: 0.1 }, OuterOptimizer::Sgd, true));
        let keys: std::collections::BTreeSet<String> = [base.clone(), MetaSpec { cc_distance: Some(Distance::Norm), ..base.clone() }, MetaSpec { outer: Some(OuterOptimizer::Sgd), ..base.clone() }, MetaSpec { track_bn: true, ..base }]
            .into_iter()
            .map(|m| lab.plan_model(&ModelSpec::MamlRal(m), 0).unwrap().key)
            .collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        // TOML spells the forms as a recipe would.
        let t: MetaSpec = toml::from_str("g1 = 0.7\ng2 = 0.1\ng3 = 0.2\ncc_distance = { smoothed = { radius = 0.5 } }\nouter = \"sgd\"").unwrap();
        assert_eq!((t.cc_distance, t.outer), (Some(Distance::Smoothed { radius: 0.5 }), Some(OuterOptimizer::Sgd)));
    }

    #[test]
    fn a_meta_spec_sets_the_schedule_and_each_change_is_a_new_model() {
        let lab = Lab::new(std::env::temp_dir().join("hoimat-keys"), Profile::Quick, Device::Cpu);
        let base = MetaSpec::weights(0.7, 0.1, 0.2);
        let spec = MetaSpec { human_tasks: 0.5, alpha: Some(0.01), beta: Some(2e-4), iterations: Some(360), tasks: Some(12), ..base.clone() };
        let mut cfg = MamlRalConfig::for_profile(Profile::Quick, 0, Path::new("f.safetensors"));
        spec.apply(&mut cfg);
        assert_eq!((cfg.human_tasks, cfg.alpha, cfg.beta, cfg.iterations, cfg.ckpt_every), (0.5, 0.01, 2e-4, 360, 36));
        assert_eq!(cfg.tasks_per_iteration, 12);
        let mut keys: Vec<String> = [base.clone(), spec, MetaSpec { beta: Some(2e-4), ..base.clone() }, MetaSpec { human_tasks: 0.5, ..base.clone() }, MetaSpec { frozen_bn: true, ..base }]
            .into_iter()
            .map(|m| lab.plan_model(&ModelSpec::MamlRal(m), 0).unwrap().key)
            .collect();
        assert_eq!(keys[0], "maml_ral-s0-f2cc50d147e7b8d1");
        keys.dedup();
        assert_eq!(keys.len(), 5, "{keys:?}");
    }
}
