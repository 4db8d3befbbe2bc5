//! Turning a definition into runs. A run is one (method, seed) of an
//! experiment; its key hashes everything that determines its numbers, and a
//! run already in the store is not repeated unless the lab is forced. Models
//! come from [`Lab::model`], so they are trained once and shared.

use std::time::Instant;

use anyhow::{Context, Result};

use super::definition::{Definition, ExperimentKind, MethodDef};
use super::lab::Lab;
use super::provenance::{config_hash, content_hash, git_commit, timestamp};
use super::score::score;
use crate::bench::model::time_infer;
use crate::model::{checkpoint, zoo, ModelConfig};
use crate::store::results::{run_key, Provenance, ResultRow, StoredRow};

/// Bump when scoring changes in a way that changes numbers (invalidates runs).
pub const SCORER_VERSION: u32 = 2;

/// Timings per method in a speed experiment.
pub const SPEED_REPEATS: i64 = 5;

/// What running a definition did.
/// One run of a definition, resolved (nothing run yet).
#[derive(Clone, Debug)]
pub struct RunPlan {
    pub method: MethodDef,
    pub seed: u64,
    pub config_hash: String,
    /// The run's file name in the store (`<method>-s<seed>-<hash>`).
    pub key: String,
}

pub struct Outcome {
    pub definition: Definition,
    pub rows: Vec<StoredRow>,
    pub runs_done: usize,
    pub runs_cached: usize,
    pub seconds: f64,
}

impl Lab {
    /// A definition by id (shipped, or from the lab's definitions folder), at the lab's profile.
    pub fn definition(&self, id: &str) -> Result<Definition> {
        Ok(Definition::named(id, self.definitions.as_deref())?.at_profile(self.profile))
    }

    /// Run every missing run of `def`, then compact and return its rows.
    pub fn run(&self, def: &Definition) -> Result<Outcome> {
        let t0 = Instant::now();
        if let Some(src) = &def.source {
            let o = self.run(&self.definition(src).with_context(|| format!("{}: source experiment", def.id))?)?;
            return Ok(Outcome { definition: def.clone(), rows: o.rows, runs_done: o.runs_done, runs_cached: o.runs_cached, seconds: t0.elapsed().as_secs_f64() });
        }
        let (mut done, mut cached) = (0, 0);
        let runs = self.runs_of(def)?;
        for r in &runs {
            if self.run_one(def, r)? {
                done += 1;
            } else {
                cached += 1;
            }
        }
        let current: Vec<String> = runs.iter().map(|r| r.config_hash.clone()).collect();
        let store = self.store();
        // Only rows of this definition's current runs (an edited definition
        // or a retrained model leaves older run files under `runs/`).
        let rows = store.compact_current(&def.id, &current).with_context(|| format!("compacting the {} table", def.id))?;
        Ok(Outcome { definition: def.clone(), rows, runs_done: done, runs_cached: cached, seconds: t0.elapsed().as_secs_f64() })
    }

    /// Every run of a definition (its method, seed, configuration hash and
    /// store key), in the order they run.
    pub fn runs_of(&self, def: &Definition) -> Result<Vec<RunPlan>> {
        let mut out = vec![];
        for name in &def.methods {
            let method = def.method(name)?;
            let seeds: Vec<u64> = if def.kind == ExperimentKind::Speed { vec![0] } else { def.seeds_of(&method.name).to_vec() };
            for seed in seeds {
                let config_hash = config_hash(&self.run_config(def, &method, seed)?);
                let key = run_key(&method.name, seed as i64, &config_hash);
                out.push(RunPlan { method: method.clone(), seed, config_hash, key });
            }
        }
        Ok(out)
    }

    /// Run one run of `def` unless the store has it (or the lab is forced);
    /// true when it ran.
    pub fn run_one(&self, def: &Definition, r: &RunPlan) -> Result<bool> {
        let store = self.store();
        let forced = self.force && !(self.forced_already && def.kind != ExperimentKind::Speed);
        if store.has_run(&def.id, &r.key) && !forced {
            return Ok(false);
        }
        let (m, seed) = (&r.method, r.seed);
        let config = self.run_config(def, m, seed)?;
        let t = Instant::now();
        let rows = match def.kind {
            ExperimentKind::Scores => self.score_rows(def, m, seed)?,
            ExperimentKind::Speed => self.speed_rows(def, m)?,
            ExperimentKind::Adaptation => self.adaptation_rows(def, m, seed)?,
        };
        let prov = Provenance {
            config: serde_json::to_string(&config)?,
            config_hash: r.config_hash.clone(),
            seed: seed as i64,
            profile: self.profile.name().into(),
            device: self.device_name(),
            git_commit: git_commit(),
            hoimat_version: env!("CARGO_PKG_VERSION").into(),
            wall_s: t.elapsed().as_secs_f64(),
            timestamp: timestamp(),
        };
        store.write_run(&def.id, &r.key, &rows, &prov)?;
        self.say(&format!("{}: {} seed {seed}: {} rows in {:.1} s", def.id, m.name, rows.len(), prov.wall_s));
        Ok(true)
    }

    /// Everything that determines a run's numbers. (serde_json's map is
    /// sorted, so the order fields are added in does not change the hash.)
    fn run_config(&self, def: &Definition, m: &MethodDef, seed: u64) -> Result<serde_json::Value> {
        if def.kind == ExperimentKind::Speed {
            return Ok(serde_json::json!({
                "experiment": def.id,
                "kind": def.kind,
                "method": m.spec,
                "profile": self.profile,
                "device": self.device_name(),
                "repeats": SPEED_REPEATS,
            }));
        }
        // What scores and adaptation runs share: the model, the data, the scorer.
        let mut j = serde_json::json!({
            "experiment": def.id,
            "kind": def.kind,
            "method": m.spec,
            "model": self.plan_model(&m.spec, seed)?.key,
            "datasets": def.datasets,
            "profile": self.profile,
            "data_seed": self.data_seed,
            "world": crate::world::GENERATOR_VERSION,
            "scorer": SCORER_VERSION,
        });
        if def.kind == ExperimentKind::Adaptation {
            j["factory"] = serde_json::json!(self.plan_model(&super::ModelSpec::Factory, seed)?.key);
            j["adaptation"] = serde_json::json!(def.adaptation);
            // A recording counts by its contents, not where it lies.
            if let Some(a) = def.adaptation.as_ref().filter(|a| !a.recordings.is_empty()) {
                let mut recs = vec![];
                for r in &a.recordings {
                    let hash = |p: &std::path::Path| content_hash(p).with_context(|| format!("{}: recording {}", def.id, r.name()));
                    recs.push(serde_json::json!({"name": r.name(), "clip": hash(&r.clip)?, "labels": hash(&r.labels)?, "holdout": r.holdout, "resize": r.resize, "max_frames": r.max_frames}));
                }
                j["adaptation"]["recordings"] = serde_json::Value::Array(recs);
            }
            j["arms"] = serde_json::json!(def.adaptation.as_ref().map(|a| a.arms.iter().map(|arm| self.arm_config(arm, 0)).collect::<Vec<_>>()));
            // Only when an arm labels with a model (earlier runs keep their keys).
            if let Some(key) = self.annotator_model(def)? {
                j["annotator_model"] = serde_json::Value::String(key);
            }
        } else {
            j["metrics"] = serde_json::json!(def.metrics);
            if m.one_step {
                j["one_step"] = serde_json::json!(super::one_step::VERSION);
            }
        }
        Ok(j)
    }

    /// The key of the model that labels frames, when an arm uses one.
    pub(super) fn annotator_model(&self, def: &Definition) -> Result<Option<String>> {
        let uses = def.adaptation.as_ref().is_some_and(|a| a.arms.iter().any(|arm| arm.annotator == Some(super::definition::AnnotatorKind::Dfimat)));
        Ok(if uses { Some(self.plan_model(&super::adaptation::dfimat_spec(), 0)?.key) } else { None })
    }

    fn score_rows(&self, def: &Definition, m: &MethodDef, seed: u64) -> Result<Vec<ResultRow>> {
        let ckpt = self.model(&m.spec, seed)?;
        let (net, _) = checkpoint::load_model(&ckpt, self.device)?;
        // theta' needs the recipe's inner step and its factory model.
        let one_step = if m.one_step {
            let plan = self.plan_model(&m.spec, seed)?;
            let cfg = plan.meta_config().with_context(|| format!("method '{}': one_step needs a MAML-RAL recipe", m.name))?.clone();
            Some((checkpoint::load(&ckpt, self.device)?.0, checkpoint::load(&cfg.factory, self.device)?.0, cfg))
        } else {
            None
        };
        let mut rows = vec![];
        let regions = def.metrics.iter().any(|m| m == "regions");
        for ds in &def.datasets {
            let set = self.dataset(ds)?;
            super::score::require(&def.metrics, &set, ds).with_context(|| format!("definition '{}'", def.id))?;
            let scored = match &one_step {
                Some((meta, factory, cfg)) => super::one_step::score_one_step(meta, factory, cfg, &set, self.device)?,
                None => score(net.as_ref(), &set, self.device)?,
            };
            for c in scored {
                for (metric, v) in c.values {
                    if def.metrics.iter().any(|x| x == metric) || (regions && metric.contains('@')) {
                        if let Some(v) = v {
                            rows.push(ResultRow::new(&def.id, &m.name, ds, &c.clip, metric, v));
                        }
                    }
                }
            }
        }
        Ok(rows)
    }

    /// Frames per second of one-frame recurrent inference at the profile's
    /// frame size and at the paper's 512x288 (weights do not change speed,
    /// so an untrained network of the method's architecture is timed).
    fn speed_rows(&self, def: &Definition, m: &MethodDef) -> Result<Vec<ResultRow>> {
        let net = zoo::build(m.spec.arch(), &ModelConfig::for_profile(self.profile), self.device, 0);
        let (pw, ph) = self.profile.frame_size();
        let mut sizes = vec![(pw as i64, ph as i64)];
        if (pw, ph) != (512, 288) {
            sizes.push((512, 288));
        }
        let mut rows = vec![];
        // Repeated timings, so that a speed claim has a spread to judge.
        for repeat in 0..SPEED_REPEATS {
            for &(w, h) in &sizes {
                let iters = if w >= 512 { 5 } else { 20 };
                let ms = time_infer(net.as_ref(), 1, 1, h, w, iters, self.device);
                rows.push(ResultRow::new(&def.id, &m.name, "*", "*", &format!("fps_{w}x{h}"), 1e3 / ms).at_repeat(repeat));
            }
        }
        Ok(rows)
    }
}
