//! The graph of work of a reproduction: every model to train and every run
//! to score, with what each needs first and a rough cost. Models and runs
//! are independent once their inputs exist, so the graph is what the
//! parallel executor (`pipeline::execute`) and `hoimat run-task` work from:
//! a node is named by its key, and running a node whose output is stored is
//! a no-op.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::definition::{Definition, ExperimentKind};
use super::lab::Lab;
use super::models::{is_complete, ModelSpec};
use crate::profile::Profile;

/// What a node does.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Train (or import) one model.
    Model { spec: ModelSpec, seed: u64 },
    /// Score one (method, seed) run of an experiment.
    Run {
        experiment: String,
        method: String,
        seed: u64,
        speed: bool,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// A model's key, or `<experiment>/<run key>` for a run.
    pub key: String,
    pub task: Task,
    /// Keys of the nodes that must be done first.
    pub deps: Vec<String>,
    /// 0 for nodes without dependencies, else one more than the deepest dependency.
    pub level: usize,
    /// Rough seconds on a 2-core CPU (see [`estimate`]).
    pub est_s: f64,
    /// Its output is already stored.
    pub done: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub profile: String,
    pub experiments: Vec<String>,
    pub nodes: Vec<Node>,
}

/// Measured on the 2-core CPU machine at `quick` (one worker per core):
/// seconds per training frame of supervised training, per meta frame of
/// second-order MAML-RAL (inner and outer frames), and per run by kind.
/// Other profiles scale by pixels and width (`scale`). Estimates order the
/// work and size a cluster request; they are not measurements.
const SUPERVISED_S_PER_FRAME: f64 = 0.016;
const META_S_PER_FRAME: f64 = 0.07;
const FIRST_ORDER_SHARE: f64 = 0.4;
const RUN_S: [(ExperimentKind, f64); 3] = [
    (ExperimentKind::Scores, 20.0),
    (ExperimentKind::Adaptation, 80.0),
    (ExperimentKind::Speed, 15.0),
];

/// Cost relative to `quick` on the CPU: smoke has a quarter of the pixels;
/// paper has 16x the pixels and a wider network (measured: a second-order
/// task costs 13x quick's).
fn scale(profile: Profile) -> f64 {
    match profile {
        Profile::Smoke => 0.25,
        Profile::Quick => 1.0,
        Profile::Paper => 13.0,
    }
}

impl Plan {
    pub fn node(&self, key: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.key == key)
    }

    /// What an executor runs, by level, longest first within a level: every
    /// model not stored and every run not stored (every run when `force`),
    /// except speed runs, which need the machine to themselves and are left
    /// to the report pass.
    pub fn pending_levels(&self, force: bool) -> BTreeMap<usize, Vec<&Node>> {
        let mut levels: BTreeMap<usize, Vec<&Node>> = BTreeMap::new();
        for n in &self.nodes {
            let todo = match &n.task {
                Task::Model { .. } => !n.done,
                Task::Run { speed, .. } => !speed && (force || !n.done),
            };
            if todo {
                levels.entry(n.level).or_default().push(n);
            }
        }
        for nodes in levels.values_mut() {
            // Longest first, so a level ends with short tasks.
            nodes.sort_by(|a, b| b.est_s.total_cmp(&a.est_s));
        }
        levels
    }

    /// Seconds of work left, and the same on `workers` parallel workers
    /// (levels in order, each level's nodes spread over the workers).
    pub fn cost_left(&self, workers: usize) -> (f64, f64) {
        let left: Vec<&Node> = self.nodes.iter().filter(|n| !n.done).collect();
        let total = left.iter().map(|n| n.est_s).sum();
        let mut by_level: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for n in &left {
            by_level.entry(n.level).or_default().push(n.est_s);
        }
        let span = by_level
            .values()
            .map(|costs| makespan(costs, workers.max(1)))
            .sum();
        (total, span)
    }

    /// A table for the terminal: one line per node, then totals.
    pub fn render(&self, workers: usize) -> String {
        let mut s = format!(
            "plan for {} at {}: {} nodes\n",
            self.experiments.join(","),
            self.profile,
            self.nodes.len()
        );
        s.push_str(&format!(
            "{:<5} {:<6} {:>8}  {:<52} deps\n",
            "level", "state", "est. s", "key"
        ));
        for n in &self.nodes {
            let state = if n.done { "done" } else { "todo" };
            s.push_str(&format!(
                "{:<5} {:<6} {:>8.0}  {:<52} {}\n",
                n.level,
                state,
                n.est_s,
                n.key,
                n.deps.len()
            ));
        }
        let models = self
            .nodes
            .iter()
            .filter(|n| matches!(n.task, Task::Model { .. }))
            .count();
        let (total, span) = self.cost_left(workers);
        s.push_str(&format!(
            "{models} models, {} runs; {} left: about {:.0} s of work, about {:.0} s on {workers} worker(s) (estimates)\n",
            self.nodes.len() - models,
            self.nodes.iter().filter(|n| !n.done).count(),
            total,
            span
        ));
        s
    }
}

/// Longest-first greedy schedule of `costs` on `workers`: its finishing time.
fn makespan(costs: &[f64], workers: usize) -> f64 {
    let mut sorted = costs.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut load = vec![0.0f64; workers];
    for c in sorted {
        let i = (0..workers)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]))
            .expect("one worker");
        load[i] += c;
    }
    load.into_iter().fold(0.0, f64::max)
}

impl Lab {
    /// The plan of the experiments `ids` (shipped or from the lab's
    /// definitions folder) at the lab's profile.
    pub fn plan(&self, ids: &[String]) -> Result<Plan> {
        let mut nodes: Vec<Node> = vec![];
        let mut index: HashMap<String, usize> = HashMap::new();
        let store = self.store();
        for id in ids {
            let mut def = self.definition(id)?;
            // A definition drawn from another's rows (Fig. 6 from Table II), to any depth.
            let mut depth = 0;
            while let Some(src) = def.source.clone() {
                depth += 1;
                anyhow::ensure!(depth <= 16, "{id}: its `source` chain does not end (a cycle?)");
                def = self.definition(&src).with_context(|| format!("{id}: source experiment {src}"))?;
            }
            for r in self.runs_of(&def)? {
                let key = format!("{}/{}", def.id, r.key);
                if index.contains_key(&key) {
                    continue;
                }
                let mut deps = vec![];
                for (spec, seed) in
                    self.models_of_run(&def, &r.method.spec, r.seed, r.method.one_step)?
                {
                    deps.push(self.add_model(&mut nodes, &mut index, &spec, seed)?);
                }
                deps.sort();
                deps.dedup();
                let level = deps
                    .iter()
                    .map(|d| nodes[index[d]].level + 1)
                    .max()
                    .unwrap_or(0);
                let est = RUN_S
                    .iter()
                    .find(|(k, _)| *k == def.kind)
                    .map_or(20.0, |(_, s)| *s)
                    * scale(self.profile);
                let done = store.has_run(&def.id, &r.key);
                index.insert(key.clone(), nodes.len());
                let task = Task::Run {
                    experiment: def.id.clone(),
                    method: r.method.name.clone(),
                    seed: r.seed,
                    speed: def.kind == ExperimentKind::Speed,
                };
                nodes.push(Node {
                    key,
                    task,
                    deps,
                    level,
                    est_s: est,
                    done,
                });
            }
        }
        Ok(Plan {
            profile: self.profile.name().into(),
            experiments: ids.to_vec(),
            nodes,
        })
    }

    /// The models one run loads.
    fn models_of_run(
        &self,
        def: &Definition,
        spec: &ModelSpec,
        seed: u64,
        one_step: bool,
    ) -> Result<Vec<(ModelSpec, u64)>> {
        Ok(match def.kind {
            ExperimentKind::Speed => vec![],
            ExperimentKind::Scores if one_step => {
                vec![(spec.clone(), seed), (ModelSpec::Factory, seed)]
            }
            ExperimentKind::Scores => vec![(spec.clone(), seed)],
            ExperimentKind::Adaptation => {
                let mut v = vec![(spec.clone(), seed), (ModelSpec::Factory, seed)];
                if self.annotator_model(def)?.is_some() {
                    v.push((super::adaptation::dfimat_spec(), 0));
                }
                v
            }
        })
    }

    /// Add a model node (and its starting model's) once; its key.
    fn add_model(
        &self,
        nodes: &mut Vec<Node>,
        index: &mut HashMap<String, usize>,
        spec: &ModelSpec,
        seed: u64,
    ) -> Result<String> {
        let plan = self.plan_model(spec, seed)?;
        if index.contains_key(&plan.key) {
            return Ok(plan.key);
        }
        let mut deps = vec![];
        if !matches!(spec, ModelSpec::Factory) {
            deps.push(self.add_model(nodes, index, &ModelSpec::Factory, seed)?);
        }
        let level = deps
            .iter()
            .map(|d| nodes[index[d]].level + 1)
            .max()
            .unwrap_or(0);
        let est = estimate(&plan, spec) * scale(self.profile);
        index.insert(plan.key.clone(), nodes.len());
        let seed = if matches!(spec, ModelSpec::Factory) {
            super::models::FACTORY_SEED
        } else {
            seed
        };
        nodes.push(Node {
            key: plan.key.clone(),
            task: Task::Model {
                spec: spec.clone(),
                seed,
            },
            deps,
            level,
            est_s: est,
            done: is_complete(&plan.path),
        });
        Ok(plan.key)
    }

    /// Execute one node of the plan of `ids` (a no-op when its output is stored).
    pub fn run_task(&self, ids: &[String], key: &str) -> Result<()> {
        let plan = self.plan(ids)?;
        let Some(node) = plan.node(key) else {
            bail!(
                "'{key}' is not a node of the plan of {} at {} (see `hoimat reproduce --plan`)",
                ids.join(","),
                self.profile
            )
        };
        match &node.task {
            Task::Model { spec, seed } => {
                self.model(spec, *seed)?;
            }
            Task::Run { experiment, .. } => {
                let def = self.definition(experiment)?;
                let r = self.runs_of(&def)?.into_iter().find(|r| format!("{}/{}", def.id, r.key) == node.key).context("the run left the plan")?;
                self.run_one(&def, &r)?;
            }
        }
        Ok(())
    }
}

/// Seconds at `quick` on the CPU for a model's budget.
fn estimate(plan: &super::models::Planned, spec: &ModelSpec) -> f64 {
    match (plan.budget(), spec) {
        (None, _) => 1.0,
        (Some((_, frames)), ModelSpec::MamlRal(m)) => {
            frames as f64
                * META_S_PER_FRAME
                * if m.first_order {
                    FIRST_ORDER_SHARE
                } else {
                    1.0
                }
        }
        (Some((_, frames)), _) => frames as f64 * SUPERVISED_S_PER_FRAME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makespan_spreads_longest_first() {
        // By hand: 5 and 4 start; the threes go to the lighter worker: 4+3=7, 5+3=8, 7+3=10.
        assert_eq!(makespan(&[3.0, 5.0, 3.0, 4.0, 3.0], 2), 10.0);
        assert_eq!(makespan(&[3.0, 5.0], 1), 8.0);
        assert_eq!(makespan(&[], 3), 0.0);
    }

    #[test]
    fn the_quick_plan_names_every_model_once_with_its_factory_first() {
        let lab = Lab::new(
            std::env::temp_dir().join(format!("hoimat-plan-{}", std::process::id())),
            Profile::Quick,
            tch::Device::Cpu,
        );
        let ids: Vec<String> = ["table2", "table7", "fig6", "table6"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let plan = lab.plan(&ids).unwrap();
        let factory = lab.plan_model(&ModelSpec::Factory, 0).unwrap().key;
        let models: Vec<&Node> = plan
            .nodes
            .iter()
            .filter(|n| matches!(n.task, Task::Model { .. }))
            .collect();
        // One factory at level 0; every other model depends on it alone.
        assert_eq!(
            models
                .iter()
                .filter(|n| n.level == 0)
                .map(|n| n.key.as_str())
                .collect::<Vec<_>>(),
            vec![factory.as_str()]
        );
        assert!(models
            .iter()
            .filter(|n| n.level == 1)
            .all(|n| n.deps == vec![factory.clone()]));
        let mut keys: Vec<&str> = models.iter().map(|n| n.key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), models.len(), "a model key appears twice");
        // Table II: factory, RVM-F x5, MAML-RAL x5, zoo (one seed each at
        // quick); Table VII adds two variants x3 seeds (its full model is Table II's).
        let stem = |s: &str| models.iter().filter(|n| n.key.starts_with(s)).count();
        assert_eq!((stem("rvm_f-"), stem("maml_ral-")), (5, 5 + 6));
        // Fig. 6 draws Table II's rows: no run of its own.
        assert!(plan.nodes.iter().all(|n| !n.key.starts_with("fig6/")));
        // Speed runs need no model; runs of trained models sit above them.
        for n in &plan.nodes {
            match &n.task {
                Task::Run { speed: true, .. } => assert!(n.deps.is_empty() && n.level == 0),
                Task::Run { .. } => assert!(n.level >= 1 && !n.deps.is_empty()),
                Task::Model { .. } => {}
            }
            assert!(!n.done && n.est_s > 0.0);
        }
        let (total, span) = plan.cost_left(2);
        assert!(span < total && span >= total / 2.0, "{span} vs {total}");
    }
}
