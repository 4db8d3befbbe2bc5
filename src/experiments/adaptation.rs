//! Adaptation experiments (Table V, Figs 7-9): every arm (strategy,
//! sampling, constraints) adapts the method's model to each clip; rows hold
//! the per-epoch curve (`step` = epoch) and, per clip, the derived numbers
//! the tables and claims use:
//!
//! - `miou_before`, `miou_after`, `mad_after`: held-out scores at epoch 0 and
//!   at the last epoch;
//! - `epochs_to`: first epoch with held-out mIoU >= the threshold, censored
//!   at epochs + 1 when never reached (so means stay finite), and
//!   `reached` (1 or 0);
//! - `fluctuation`: mean absolute epoch-to-epoch mIoU change over the second
//!   half of the epochs;
//! - `adapt_s`: training seconds; `probe_mad_after`: the forgetting probe's
//!   MAD (x1e3) after the last epoch, when the definition has a probe.

use anyhow::{Context, Result};
use tch::Tensor;

use super::definition::{AdaptationDef, AnnotatorKind, Definition, MethodDef};
use super::lab::Lab;
use crate::adapt::{adapt, adapt_capture, epochs_to, fluctuation, AdaptConfig, AdaptRun, Annotator, DfimatAnnotator, NoisyAnnotator};
use crate::model::zoo::dfimat;
use crate::model::Arch;

/// The recipe of the annotating model (seed 0: one annotator for every
/// seed's adaptation, as one tool would be).
pub fn dfimat_spec() -> super::ModelSpec {
    super::ModelSpec::Zoo { arch: Arch::Dfimat }
}
use crate::model::{checkpoint, MattingNet, ParamSet};
use crate::store::results::ResultRow;
use crate::train::batch::ClipTensors;
use crate::train::validate::validate;

impl Lab {
    /// The adaptation configuration of an arm at the lab's profile.
    pub fn arm_config(&self, arm: &super::definition::Arm, repeat: usize) -> AdaptConfig {
        let mut cfg = AdaptConfig::for_profile(self.profile);
        cfg.strategy = arm.strategy;
        cfg.sampling = arm.sampling;
        cfg.epochs = arm.epochs.unwrap_or(cfg.epochs);
        if !arm.constraints {
            cfg.weights.g2 = 0.0;
            cfg.weights.g3 = 0.0;
        }
        cfg.seed = repeat as u64;
        cfg
    }

    pub(super) fn adaptation_rows(&self, def: &Definition, m: &MethodDef, seed: u64) -> Result<Vec<ResultRow>> {
        let a = def.adaptation.as_ref().context("an adaptation experiment needs an [adaptation] table")?;
        let (model, _) = checkpoint::load(&self.model(&m.spec, seed)?, self.device)?;
        let (factory, _) = checkpoint::load(&self.model(&super::ModelSpec::Factory, seed)?, self.device)?;
        let backgrounds: Vec<Tensor> = self.dataset("synvm:train")?.clips.iter().filter_map(|c| ClipTensors::from_clip(c).bgr).collect();
        let probe_clip: Option<Vec<ClipTensors>> = match &a.probe {
            Some(p) => Some(vec![ClipTensors::from_clip(self.dataset(p)?.clips.first().with_context(|| format!("{p}: no clips"))?)]),
            None => None,
        };
        let probe_fn = |net: &MattingNet, params: &ParamSet| validate(net, params, probe_clip.as_ref().expect("probe"), self.device).mad;
        let noisy = NoisyAnnotator { noise: a.noise };
        let dfimat = if a.arms.iter().any(|arm| arm.annotator == Some(AnnotatorKind::Dfimat)) {
            let (net, _) = checkpoint::load_model(&self.model(&dfimat_spec(), 0)?, self.device)?;
            Some(DfimatAnnotator { net, rounds: dfimat::ROUNDS, clicks: dfimat::CLICKS })
        } else {
            None
        };
        // The recordings first: a bad label or holdout fails before any
        // synthetic clip is adapted.
        let mut recordings = vec![];
        for r in &a.recordings {
            let context = || format!("{}: recording {}", def.id, r.name());
            let footage = crate::adapt::footage::load(&r.clip, &r.labels, r.resize, r.max_frames).with_context(context)?;
            let holdout = r.holdout.unwrap_or(footage.default_holdout());
            anyhow::ensure!(holdout > 0, "{}: {} label(s); two at least, so that one trains and one is scored", context(), footage.labelled.len());
            footage.capture(holdout).with_context(context)?;
            recordings.push((r, footage, holdout));
        }
        let mut rows = vec![];
        for ds in &def.datasets {
            let set = self.dataset(ds)?;
            let n = if a.clips == 0 { set.clips.len() } else { a.clips.min(set.clips.len()) };
            for arm in &a.arms {
                let key = format!("{}+{}", m.name, arm.name);
                for clip in &set.clips[..n] {
                    for rep in 0..a.repeats {
                        let cfg = self.arm_config(arm, rep);
                        let annotator: &dyn Annotator = match (arm.annotator, &dfimat) {
                            (Some(AnnotatorKind::Dfimat), Some(d)) => d,
                            _ => &noisy,
                        };
                        let run = adapt(
                            &model,
                            &factory,
                            clip,
                            annotator,
                            &backgrounds,
                            &cfg,
                            probe_clip.as_ref().map(|_| &probe_fn as &dyn Fn(&MattingNet, &ParamSet) -> f64),
                            |_| {},
                        );
                        rows.extend(run_rows(def, a, &key, ds, &clip.meta.name, rep, &cfg, &run));
                    }
                }
                self.say(&format!("{}: {key} on {n} {ds} clips", def.id));
            }
        }
        for (r, footage, holdout) in &recordings {
            let (w, h) = footage.clip.frames[0].size();
            // Background replacement needs backgrounds of the recording's size.
            let pool: &[Tensor] = if self.profile.frame_size() == (w, h) { &backgrounds } else { &[] };
            for arm in &a.arms {
                let key = format!("{}+{}", m.name, arm.name);
                for rep in 0..a.repeats {
                    let cfg = self.arm_config(arm, rep);
                    let capture = footage.capture(*holdout)?;
                    let probe = probe_clip.as_ref().map(|_| &probe_fn as &dyn Fn(&MattingNet, &ParamSet) -> f64);
                    let run = adapt_capture(&model, &factory, &footage.clip, capture, pool, &cfg, probe, |_| {});
                    rows.extend(run_rows(def, a, &key, RECORDING, &r.name(), rep, &cfg, &run));
                }
                self.say(&format!("{}: {key} on recording {} ({} frames of {w}x{h}, {} labels{})", def.id, r.name(), footage.clip.frames.len(), footage.labelled.len(), if pool.is_empty() { ", no background replacement: not the profile's size" } else { "" }));
            }
        }
        Ok(rows)
    }
}

/// The dataset name of the rows of users' recordings.
pub const RECORDING: &str = "recording";

/// The rows of one adaptation run: the per-epoch curve and the derived
/// numbers (module doc). A recording's labels have no truth to be held
/// against, so its runs have no `label_*` rows.
#[allow(clippy::too_many_arguments)]
fn run_rows(def: &Definition, a: &AdaptationDef, key: &str, ds: &str, clip: &str, rep: usize, cfg: &AdaptConfig, run: &AdaptRun) -> Vec<ResultRow> {
    let mut rows = vec![];
    let row = |metric: &str, v: f64| {
        let r = ResultRow::new(&def.id, key, ds, clip, metric, v);
        if a.repeats > 1 { r.at_repeat(rep as i64) } else { r }
    };
    for l in &run.log {
        rows.push(row("miou", l.miou).at_step(l.epoch as i64));
        rows.push(row("mad", l.mad).at_step(l.epoch as i64));
        rows.push(row("train_s", l.train_s).at_step(l.epoch as i64));
        if let Some(p) = l.probe {
            rows.push(row("probe_mad", p).at_step(l.epoch as i64));
        }
    }
    let (first, last) = (&run.log[0], run.log.last().expect("epoch 0"));
    let reach = epochs_to(&run.log, a.threshold);
    rows.push(row("miou_before", first.miou));
    rows.push(row("miou_after", last.miou));
    rows.push(row("mad_after", last.mad));
    rows.push(row("epochs_to", reach.unwrap_or(cfg.epochs + 1) as f64));
    rows.push(row("reached", reach.is_some() as u8 as f64));
    rows.push(row("fluctuation", fluctuation(&run.log)));
    rows.push(row("adapt_s", last.train_s));
    if ds != RECORDING {
        rows.push(row("label_mad", run.label_mad));
        rows.push(row("label_miou", run.label_miou));
    }
    if let Some(p) = last.probe {
        rows.push(row("probe_mad_after", p));
    }
    rows
}
