//! The local parallel executor: the plan's models and runs (speed runs
//! excepted) executed level by level by worker processes, each a
//! `hoimat run-task KEY`. At `quick` one second-order meta-iteration takes
//! the same time on one thread as on two (measured: 1.53 s vs 1.63 s), so
//! two single-threaded workers do twice the work of one process on a 2-core
//! machine, and give the same numbers (`Profile::cpu_threads`). Workers write what the
//! sequential pass would (model checkpoints under per-key locks, run files
//! written atomically), so the pass that follows finds everything stored
//! and only renders; a worker's output goes to `<lab>/logs/<key>.log`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::lab::Lab;
use super::plan::{Node, Plan};

/// What a worker process needs to rebuild the lab (`hoimat run-task` arguments).
pub struct WorkerArgs {
    pub exe: PathBuf,
    /// `--profile ... --results ...` and the rest, without the key and `--threads`.
    pub args: Vec<String>,
}

/// Worker processes by default: one per core on the CPU, at most four (at
/// `paper` a worker is memory-bound and its threads still help); one on a GPU.
pub fn auto_jobs(device: tch::Device) -> usize {
    match device {
        tch::Device::Cpu => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4),
        _ => 1,
    }
}

/// A key as a file name (its log under `<lab>/logs/`).
pub fn log_name(key: &str) -> String {
    key.replace('/', "__") + ".log"
}

/// Execute every node of `plan` that is not stored (every run when
/// `force`) except speed runs, which need the machine to themselves.
pub fn execute(
    lab: &Lab,
    plan: &Plan,
    jobs: usize,
    force: bool,
    worker: &WorkerArgs,
) -> Result<usize> {
    let levels = plan.pending_levels(force);
    let total: usize = levels.values().map(Vec::len).sum();
    if total == 0 {
        return Ok(0);
    }
    let logs = lab.root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("{}: cannot create", logs.display()))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // At paper each worker takes a fixed share of the cores (the count is
    // in each checkpoint's provenance); smaller profiles always compute on
    // one thread (`Profile::cpu_threads`).
    let threads = (lab.profile == crate::profile::Profile::Paper).then_some((cores / jobs.max(1)).max(1));
    let bar = crate::progress::bar(total as u64, "tasks");
    lab.say(&format!("executing {total} tasks on {jobs} worker processes (logs in {})", logs.display()));
    let mut failed: Vec<String> = vec![];
    let mut running: Vec<(Child, &Node, Instant)> = vec![];
    let outcome = (|| -> Result<()> {
        for (_, nodes) in levels {
            let mut queue = nodes.into_iter();
            loop {
                while failed.is_empty() && running.len() < jobs.max(1) {
                    let Some(n) = queue.next() else { break };
                    running.push((spawn(worker, &n.key, threads, force, &logs.join(log_name(&n.key)))?, n, Instant::now()));
                }
                if running.is_empty() {
                    break;
                }
                bar.set_message(running.iter().map(|(_, n, _)| n.key.as_str()).collect::<Vec<_>>().join(" "));
                std::thread::sleep(Duration::from_millis(200));
                let mut i = 0;
                while i < running.len() {
                    let Some(status) = running[i].0.try_wait().with_context(|| format!("worker for {}", running[i].1.key))? else {
                        i += 1;
                        continue;
                    };
                    let (_, n, t) = running.swap_remove(i);
                    bar.inc(1);
                    let line = if status.success() {
                        format!("  done {} in {:.0} s ({}/{total})", n.key, t.elapsed().as_secs_f64(), bar.position())
                    } else {
                        let log = logs.join(log_name(&n.key));
                        failed.push(n.key.clone());
                        format!("  FAILED {} ({status}); its log, {}:\n{}", n.key, log.display(), tail(&log, 20))
                    };
                    // Plain lines where no bar is drawn (logs, notebooks).
                    if bar.is_hidden() {
                        lab.say(&line);
                    } else {
                        bar.println(line);
                    }
                }
            }
            if !failed.is_empty() {
                break;
            }
        }
        Ok(())
    })();
    // On an error of our own, no worker outlives it.
    for (child, _, _) in &mut running {
        let _ = child.kill();
        let _ = child.wait();
    }
    outcome?;
    bar.finish_and_clear();
    if !failed.is_empty() {
        bail!(
            "{} task(s) failed: {} (logs under {})",
            failed.len(),
            failed.join(", "),
            logs.display()
        );
    }
    Ok(total)
}

fn spawn(
    worker: &WorkerArgs,
    key: &str,
    threads: Option<usize>,
    force: bool,
    log: &Path,
) -> Result<Child> {
    // Appended: a retried task keeps the failed attempt's output above it.
    let out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("{}: cannot open", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("{}: cannot share", log.display()))?;
    let mut cmd = Command::new(&worker.exe);
    cmd.arg("run-task").arg(key).args(&worker.args);
    if let Some(t) = threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    if force {
        cmd.arg("--force");
    }
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // A worker dies with its parent (a killed reproduction leaves no
    // orphans training on); locks and atomic writes keep its work safe.
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe and touch only this process.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The parent died before the request took effect.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the reproduction that started this worker has exited"));
                }
                Ok(())
            });
        }
    }
    cmd.spawn()
        .with_context(|| format!("cannot start {} run-task {key}", worker.exe.display()))
}

/// The last `n` lines of a log.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
