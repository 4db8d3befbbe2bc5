//! `hoimat reproduce` and `hoimat run-task`: the same lab, whole or one node.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hoimat::experiments::executor::{self, WorkerArgs};
use hoimat::experiments::pipeline::{self, ReproduceOptions};
use hoimat::experiments::slurm::SlurmOptions;
use hoimat::experiments::Lab;
use hoimat::profile::Profile;

/// What names a lab and its experiments (shared by `reproduce` and `run-task`,
/// so a worker rebuilds exactly the plan its parent made).
#[derive(Args, Clone)]
pub struct LabArgs {
    #[arg(long, default_value = "quick")]
    pub profile: Profile,
    /// Seed of the synthetic world (training seeds are in each experiment's definition).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only these experiments (comma-separated ids, e.g. table2,table4).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// A folder of experiment definitions (<id>.toml) that override or add to the shipped ones.
    #[arg(long)]
    pub definitions: Option<PathBuf>,
    /// Stay on the CPU even when CUDA is available.
    #[arg(long)]
    pub cpu: bool,
    /// Where figures and reports go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Regenerate datasets and re-run experiment runs even when stored (trained models are kept).
    #[arg(long)]
    pub force: bool,
    /// Start from RVM's own checkpoint (torch.save .pth or .safetensors with
    /// RVM's keys) as the factory model instead of training one.
    #[arg(long)]
    pub factory_import: Option<PathBuf>,
}

#[derive(Args)]
pub struct ReproduceArgs {
    #[command(flatten)]
    pub lab: LabArgs,
    /// Where datasets go (a folder per profile is made inside).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// Worker processes for training and scoring (0: one per core on the CPU, at most 4; one on a GPU; 1: all in this process).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Print the plan (every model and run, dependencies, estimated cost) and stop.
    #[arg(long)]
    pub plan: bool,
    /// Write the plan as JSON to this file and stop.
    #[arg(long)]
    pub plan_json: Option<PathBuf>,
    /// Where models and runs compute: worker processes here, or job arrays
    /// on a Slurm cluster (results folder on storage every node shares).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: Executor,
    /// Slurm partition for every job.
    #[arg(long)]
    pub partition: Option<String>,
    /// At most this many array tasks of a level at once (`sbatch --array=...%K`).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// An argument for every `sbatch`, as given (repeatable): --sbatch-arg=--time=4:00:00 --sbatch-arg=--gres=gpu:1
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_arg: Vec<String>,
    /// With Slurm: wait until every job has ended (a bar over the tasks), then fail if any did not complete.
    #[arg(long)]
    pub wait: bool,
    /// The Slurm report job: workers computed the models and runs already.
    #[arg(long, hide = true)]
    pub after_workers: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Executor {
    Local,
    Slurm,
}

#[derive(Args)]
pub struct RunTaskArgs {
    /// A node's key, as `reproduce --plan` prints it (a model key, or <experiment>/<run key>).
    pub key: String,
    #[command(flatten)]
    pub lab: LabArgs,
    /// libtorch threads for this task at the paper profile (smaller profiles always use one).
    #[arg(long)]
    pub threads: Option<i32>,
}

impl LabArgs {
    /// The pipeline's options for this lab, datasets under `data`, all in
    /// this process (`reproduce` adds its workers).
    fn options(&self, data: &std::path::Path) -> ReproduceOptions {
        ReproduceOptions {
            profile: self.profile,
            only: self.only.clone(),
            definitions: self.definitions.clone(),
            force: self.force,
            results: self.results.clone(),
            data: data.to_path_buf(),
            data_seed: self.seed,
            device: hoimat::torch_env::device(self.cpu),
            factory_import: self.factory_import.clone(),
            jobs: 1,
            worker: None,
            after_workers: false,
        }
    }

    /// The lab these arguments name (the one `reproduce` builds too).
    fn lab(&self) -> Lab {
        self.options(std::path::Path::new("data")).lab()
    }

    /// The arguments a worker needs to rebuild this lab (`--force` is added per task).
    fn worker_args(&self) -> Vec<String> {
        let mut a = vec![
            "--profile".into(),
            self.profile.name().into(),
            "--seed".into(),
            self.seed.to_string(),
            "--results".into(),
            path(&self.results),
        ];
        if !self.only.is_empty() {
            a.extend(["--only".into(), self.only.join(",")]);
        }
        if let Some(d) = &self.definitions {
            a.extend(["--definitions".into(), path(d)]);
        }
        if let Some(f) = &self.factory_import {
            a.extend(["--factory-import".into(), path(f)]);
        }
        if self.cpu {
            a.push("--cpu".into());
        }
        a
    }
}

/// A path as an argument for a worker started in the same folder.
fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn reproduce(a: ReproduceArgs) -> Result<()> {
    let l = &a.lab;
    let mut o = l.options(&a.data);
    let jobs = if a.jobs == 0 { executor::auto_jobs(o.device) } else { a.jobs };
    if a.plan || a.plan_json.is_some() {
        let plan = o.lab().plan(&pipeline::experiment_ids(&l.only))?;
        print!("{}", plan.render(jobs));
        if let Some(out) = &a.plan_json {
            hoimat::atomic::write(out, serde_json::to_string_pretty(&plan)?.as_bytes())?;
            println!("plan written to {}", out.display());
        }
        return Ok(());
    }
    let slurm = a.executor == Executor::Slurm;
    if !slurm && (a.partition.is_some() || a.max_parallel.is_some() || !a.sbatch_arg.is_empty() || a.wait) {
        bail!("--partition, --max-parallel, --sbatch-arg and --wait go with --executor slurm");
    }
    if slurm && a.jobs != 0 {
        bail!("--jobs is for the local executor; with Slurm, --max-parallel bounds the tasks of a level that run at once");
    }
    let exe = std::env::current_exe().context("cannot find the hoimat binary to start workers")?;
    o.jobs = jobs;
    o.worker = Some(WorkerArgs { exe, args: l.worker_args() });
    o.after_workers = a.after_workers;
    if !slurm {
        return pipeline::reproduce(&o).map(|_| ());
    }
    let options = SlurmOptions {
        partition: a.partition.clone(),
        max_parallel: a.max_parallel,
        sbatch_args: a.sbatch_arg.clone(),
    };
    // The report job: this reproduction over what the arrays stored.
    let mut report_args = l.worker_args();
    report_args.extend(["--data".into(), path(&a.data), "--jobs".into(), "1".into(), "--after-workers".into()]);
    if l.force {
        report_args.push("--force".into());
    }
    let sub = pipeline::submit_to_slurm(&o, &options, &report_args)?;
    println!("{}", sub.instructions());
    if a.wait {
        sub.wait(std::time::Duration::from_secs(5))?;
        println!("every job completed; report: {}", sub.report.display());
    }
    Ok(())
}

pub fn run_task(a: RunTaskArgs) -> Result<()> {
    let mut lab = a.lab.lab();
    if let Some(t) = a.threads.filter(|_| a.lab.profile == Profile::Paper) {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        tch::set_num_threads(t);
        lab.threads = Some(t);
    }
    lab.run_task(&pipeline::experiment_ids(&a.lab.only), &a.key)
}
