//! `hoimat reproduce`: the datasets (written to disk for inspection), then
//! every experiment in report order, printed in the paper's shape and
//! collected in `REPORT.md`, with the time each took.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use tch::Device;

use super::definition::BUILTIN;
use super::executor::{self, WorkerArgs};
use super::lab::Lab;
use super::slurm::{self, SlurmOptions, Submission};
use super::report::{render, write_report, PaperNumbers, Verdict};
use crate::data::export::{self, Format};
use crate::profile::Profile;
use crate::world::{self, SetName};

pub struct ReproduceOptions {
    pub profile: Profile,
    /// Experiment ids to run (all when empty).
    pub only: Vec<String>,
    /// A folder of definitions overriding or adding to the shipped ones.
    pub definitions: Option<PathBuf>,
    pub force: bool,
    pub results: PathBuf,
    pub data: PathBuf,
    pub data_seed: u64,
    pub device: Device,
    /// RVM's checkpoint as the factory model (see `Lab::factory_import`).
    pub factory_import: Option<PathBuf>,
    /// Worker processes for the models and runs (1: everything in this
    /// process, in report order); see `executor`.
    pub jobs: usize,
    /// How to start a worker (`hoimat run-task`); none runs everything here.
    pub worker: Option<WorkerArgs>,
    /// The models and runs were computed by workers already (the Slurm
    /// executor's report job): forced runs are not forced again.
    pub after_workers: bool,
}

pub struct Reproduced {
    pub report: PathBuf,
    pub verdicts: Vec<(String, Verdict)>,
    pub seconds: f64,
}

/// Write the four datasets (skipped when an up-to-date copy exists) and
/// their contact sheets.
pub fn export_datasets(profile: Profile, seed: u64, data_root: &std::path::Path, figures: &std::path::Path, force: bool) -> Result<()> {
    let out = data_root.join(profile.name());
    for set in SetName::ALL {
        let dir = out.join(set.name());
        let current = crate::data::png::read_manifest(&dir)
            .map(|m| m.seed == seed && m.generator_version == world::GENERATOR_VERSION && m.profile == profile.name())
            .unwrap_or(false);
        if current && !force {
            println!("{set}: up to date in {}", dir.display());
        } else {
            let g = export::generate(set, profile, seed, &out, Format::Png).with_context(|| format!("generating {set}"))?;
            println!("{set} ({}): {} clips, {} frames in {:.1} s -> {}", set.stands_for(), g.clips, g.frames, g.seconds, g.path.display());
        }
        let plans = world::plan(set, profile, seed);
        let picked: Vec<_> = plans.iter().take(4).map(world::render).collect();
        crate::data::preview::write_contact_sheet(&picked, 4, &figures.join(format!("world_{set}_{profile}.png")))?;
    }
    Ok(())
}

/// Draw and save an experiment's charts; Markdown image links to them
/// (relative to the profile's folder). A chart that cannot be drawn is
/// reported in the text and does not stop the run.
pub fn figure_links(lab: &Lab, outcome: &super::Outcome) -> String {
    let mut md = String::new();
    match lab.draw_figures(outcome) {
        Ok(figs) => {
            for f in figs {
                match f.save(&lab.figures()) {
                    Ok(png) => {
                        println!("figure: {}", png.display());
                        md.push_str(&format!("![{}](figures/{}.png)\n\n", f.title, f.stem));
                    }
                    Err(e) => md.push_str(&format!("_Figure {} could not be written: {e:#}_\n\n", f.stem)),
                }
            }
        }
        Err(e) => {
            eprintln!("warning: {}: charts failed: {e:#}", outcome.definition.id);
            md.push_str(&format!("_Charts of {} could not be drawn: {e:#}_\n\n", outcome.definition.id));
        }
    }
    md
}

/// `REPORT.md` for a full reproduction; a partial one (`--only`) writes
/// `REPORT-<ids>.md` beside it, so an investigation never replaces the
/// paper's report (more than three ids: `REPORT-partial.md`).
pub fn report_name(only: &[String]) -> String {
    match only.len() {
        0 => "REPORT.md".into(),
        1..=3 => format!("REPORT-{}.md", only.join("+")),
        _ => "REPORT-partial.md".into(),
    }
}

/// The experiments to run: `only`, or every shipped one in report order.
pub fn experiment_ids(only: &[String]) -> Vec<String> {
    if only.is_empty() {
        BUILTIN.iter().map(|(k, _)| k.to_string()).collect()
    } else {
        only.to_vec()
    }
}

impl ReproduceOptions {
    pub fn lab(&self) -> Lab {
        let mut lab = Lab::new(&self.results, self.profile, self.device);
        lab.force = self.force;
        lab.data_seed = self.data_seed;
        lab.definitions = self.definitions.clone();
        lab.factory_import = self.factory_import.clone();
        lab
    }
}

/// What every reproduction says first: where it computes and writes, and
/// that the data are synthetic.
fn banner(o: &ReproduceOptions, how: &str, lab: &Lab) {
    println!("hoimat reproduce: profile {}, {how}, results in {}", o.profile, lab.root.display());
    println!("All data are synthetic stand-ins for the paper's private datasets (hoimat's procedural HOI world).");
}

/// Submit the reproduction to Slurm (see `slurm`): every pending model and
/// run as job arrays by level, then a report job that runs `hoimat
/// reproduce report_args` over the stored results. Returns at once.
pub fn submit_to_slurm(o: &ReproduceOptions, s: &SlurmOptions, report_args: &[String]) -> Result<Submission> {
    let lab = o.lab();
    let worker = o.worker.as_ref().context("the Slurm executor needs the hoimat binary to start tasks")?;
    banner(o, "submitting to Slurm", &lab);
    let plan = lab.plan(&experiment_ids(&o.only))?;
    let levels = plan.pending_levels(o.force);
    let pending: usize = levels.values().map(Vec::len).sum();
    let work: f64 = levels.values().flatten().map(|n| n.est_s).sum();
    println!("plan: {} nodes, {pending} to compute in {} array(s) (about {work:.0} s of work on a 2-core CPU, estimated)", plan.nodes.len(), levels.len());
    slurm::submit(&lab, &plan, o.force, worker, report_args, &lab.root.join(report_name(&o.only)), s)
}

pub fn reproduce(o: &ReproduceOptions) -> Result<Reproduced> {
    let start = Instant::now();
    let mut lab = o.lab();
    banner(o, &format!("device {}", lab.device_name()), &lab);
    export_datasets(o.profile, o.data_seed, &o.data, &lab.figures(), o.force)?;
    let ids = experiment_ids(&o.only);
    let mut executed = None;
    lab.forced_already = o.force && o.after_workers;
    if let (true, Some(worker)) = (o.jobs > 1, &o.worker) {
        let plan = lab.plan(&ids)?;
        let (work, span) = plan.cost_left(o.jobs);
        println!("plan: {} nodes; estimated {:.0} s of work, about {:.0} s on {} workers", plan.nodes.len(), work, span, o.jobs);
        let n = executor::execute(&lab, &plan, o.jobs, o.force, worker)?;
        println!("{n} tasks executed by workers in {:.0} s; rendering", start.elapsed().as_secs_f64());
        executed = Some((n, o.jobs, start.elapsed().as_secs_f64()));
        // Forced runs were re-run by the workers; only speed runs are left to force.
        lab.forced_already = o.force;
    }
    let paper = PaperNumbers::builtin();
    let (mut parts, mut verdicts, mut timing) = (vec![], vec![], vec![]);
    for id in &ids {
        let t = Instant::now();
        let def = lab.definition(id)?;
        println!("\n== {}: {}", def.id, def.title);
        let outcome = lab.run(&def).with_context(|| format!("experiment {id}"))?;
        let (mut md, v) = render(&outcome, &paper);
        println!("{md}");
        md.push_str(&figure_links(&lab, &outcome));
        parts.push(md);
        verdicts.extend(v.into_iter().map(|v| (id.clone(), v)));
        timing.push((id.clone(), t.elapsed().as_secs_f64()));
    }
    let total = start.elapsed().as_secs_f64();
    let mut summary = String::from("## Time per experiment\n\n| experiment | seconds |\n|---|---|\n");
    for (id, s) in &timing {
        summary.push_str(&format!("| {id} | {s:.0} |\n"));
        println!("{id}: {s:.0} s");
    }
    match executed {
        Some((n, jobs, s)) if n > 0 => summary.push_str(&format!(
            "\n{n} models and runs were computed first by {jobs} worker processes in {s:.0} s (datasets included); the times above are the pass that read them back and rendered, plus the speed runs, which run alone.\n"
        )),
        _ if o.after_workers => summary.push_str("\nThe models and runs were computed first by Slurm array jobs; the times above are this report job's pass, which read them back and rendered, plus the speed runs.\n"),
        _ => summary.push_str("\nModels are trained once and shared; the first experiment that needs one pays for its training.\n"),
    }
    parts.push(summary);
    let report = lab.root.join(report_name(&o.only));
    write_report(&report, o.profile.name(), &parts, total, &lab.device_name())?;
    // The latest full reproduction is also the top-level report.
    if o.only.is_empty() {
        let top = o.results.join("REPORT.md");
        let text = std::fs::read_to_string(&report).with_context(|| format!("{}: cannot read", report.display()))?;
        let text = text.replace("](figures/", &format!("]({}/figures/", o.profile.name()));
        crate::atomic::write(&top, text.as_bytes())?;
    }
    let held = verdicts.iter().filter(|(_, v)| v.held() == Some(true)).count();
    println!("claims held: {held} of {}; report: {}; total {:.0} s", verdicts.len(), report.display(), total);
    Ok(Reproduced { report, verdicts, seconds: total })
}
