//! The Slurm executor: the plan submitted as job arrays, one array per
//! dependency level (one array task per model or run, each a
//! `hoimat run-task KEY`), each level `afterok` on the one before, then one
//! job that runs `hoimat reproduce` over the stored results: it exports the
//! datasets, runs the speed runs (alone on its node), compacts the store,
//! draws the charts and writes the report. Nothing computes on the machine
//! that submits.
//!
//! The results folder must be on a filesystem that every node sees at the
//! same path (the submission's working directory is each job's), with
//! `flock` locks that work across nodes (NFSv4, Lustre mounted with
//! `flock`, GPFS): a model key is trained by one job at a time, and every
//! file is written under a unique temporary name and renamed.
//!
//! What was submitted is kept under `<results>/<profile>/slurm/<stamp>/`:
//! one script per level (the keys are in it), the report job's script,
//! `jobs.json`, and Slurm's own output files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::executor::{log_name, WorkerArgs};
use super::lab::Lab;
use super::plan::Plan;

/// What the user asks of Slurm (`reproduce --executor slurm ...`).
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// At most this many array tasks of a level at once (`--array=...%K`).
    pub max_parallel: Option<usize>,
    /// Passed to every `sbatch` as given (`--time=4:00:00`, `--gres=gpu:1`, `--mem=16G`).
    pub sbatch_args: Vec<String>,
}

impl SlurmOptions {
    /// `--sbatch-arg`s may add to a job (time, memory, GPUs, account, QOS,
    /// constraints) but not undo what the chain depends on: the array
    /// index to key mapping, the `afterok` chain, the working directory,
    /// the output files and the parsable job id.
    pub fn check(&self) -> Result<()> {
        const OURS: [&str; 11] = ["--array", "-a", "--dependency", "-d", "--chdir", "-D", "--output", "-o", "--parsable", "--kill-on-invalid-dep", "--wrap"];
        for arg in &self.sbatch_args {
            let name = arg.split('=').next().unwrap_or(arg);
            let short = OURS.iter().any(|o| o.len() == 2 && arg.starts_with(o));
            if OURS.contains(&name) || short {
                bail!("--sbatch-arg={arg}: hoimat sets {name} itself (the array per level, the afterok chain, the working directory and the outputs); give other sbatch options only");
            }
        }
        if self.max_parallel == Some(0) {
            bail!("--max-parallel must be at least 1");
        }
        Ok(())
    }
}

/// One `sbatch` submission.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: String,
    /// `level N` or `report`.
    pub what: String,
    /// The keys of an array's tasks, in array-index order (none for the report job).
    pub keys: Vec<String>,
    pub script: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct Submission {
    /// Where the scripts, `jobs.json` and Slurm's output files are.
    pub dir: PathBuf,
    pub jobs: Vec<Job>,
    /// Each task's output (`<key>.log`), as with the local executor.
    pub logs: PathBuf,
    /// The report the last job writes.
    pub report: PathBuf,
}

/// Single quotes for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn header(what: &str) -> String {
    format!("#!/usr/bin/env bash\n# hoimat reproduce --executor slurm: {what}.\nset -euo pipefail\n")
}

/// The batch script of one level: array task `i` runs `run-task` on the
/// `i`-th key, its output appended to that key's log, like the local executor's.
pub fn level_script(level: usize, keys: &[&str], worker: &WorkerArgs, force: bool, logs: &Path) -> String {
    let mut s = header(&format!("level {level} of the plan, one array task per key"));
    s.push_str("keys=(\n");
    for k in keys {
        s.push_str(&format!("  {}\n", quote(k)));
    }
    s.push_str(")\nkey=\"${keys[$SLURM_ARRAY_TASK_ID]}\"\n");
    s.push_str(&format!("logs={}\n", quote(&logs.to_string_lossy())));
    s.push_str("log=\"$logs/$(printf '%s' \"$key\" | sed 's|/|__|g').log\"\n");
    s.push_str("echo \"$key on $(hostname), job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}; log: $log\"\n");
    let mut cmd = vec![quote(&worker.exe.to_string_lossy()), "run-task".into(), "\"$key\"".into()];
    cmd.extend(worker.args.iter().map(|a| quote(a)));
    if force {
        cmd.push("--force".into());
    }
    // At `paper` a task computes on the CPUs Slurm gave it (smaller profiles use one).
    cmd.push("${SLURM_CPUS_PER_TASK:+--threads \"$SLURM_CPUS_PER_TASK\"}".into());
    s.push_str(&format!("{} >> \"$log\" 2>&1 || {{ status=$?; tail -n 20 \"$log\"; exit $status; }}\n", cmd.join(" ")));
    s
}

/// The last job's script: `hoimat reproduce` over the stored results.
pub fn report_script(worker: &WorkerArgs, reproduce_args: &[String]) -> String {
    let mut s = header("the report (datasets, speed runs, compaction, charts, REPORT)");
    let mut cmd = vec![quote(&worker.exe.to_string_lossy()), "reproduce".into()];
    cmd.extend(reproduce_args.iter().map(|a| quote(a)));
    s.push_str(&format!("exec {}\n", cmd.join(" ")));
    s
}

/// The `sbatch` arguments of a job but its dependency: array, name,
/// output, partition, then the user's own (checked by
/// [`SlurmOptions::check`] not to undo ours).
fn sbatch_args(o: &SlurmOptions, name: &str, array: Option<usize>, out_dir: &Path, out_pattern: &str, cwd: &Path) -> Vec<String> {
    // Slurm expands `%` in file names (`%a` is the array index): a literal one is `%%`.
    let output = format!("{}/{out_pattern}", out_dir.to_string_lossy().replace('%', "%%"));
    let mut a = vec![
        "--parsable".to_string(),
        format!("--job-name={name}"),
        format!("--chdir={}", cwd.display()),
        format!("--output={output}"),
        // A failed level cancels what waits on it instead of leaving it pending forever.
        "--kill-on-invalid-dep=yes".into(),
    ];
    if let Some(n) = array {
        let limit = o.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
        a.push(format!("--array=0-{}{limit}", n - 1));
    }
    if let Some(p) = &o.partition {
        a.push(format!("--partition={p}"));
    }
    a.extend(o.sbatch_args.iter().cloned());
    a
}

/// `sbatch ARGS SCRIPT`: the job id.
fn sbatch(args: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .args(args)
        .arg(script)
        .output()
        .context("cannot run sbatch: is Slurm's client installed and on PATH (Debian: slurm-client)?")?;
    if !out.status.success() {
        bail!(
            "sbatch {} {} failed ({}): {}",
            args.join(" "),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // `--parsable` prints `id` or `id;cluster`.
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id for {}: {text:?}", script.display());
    }
    Ok(id)
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    crate::atomic::write(path, text.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("{}: cannot make executable", path.display()))
}

/// Submit every pending node of `plan` (see [`Plan::pending_levels`]) and
/// the report job. `reproduce_args` are the report job's `hoimat reproduce`
/// arguments; `report` is the file it writes. Every script is written
/// before the first `sbatch`; a failure after it cancels what was submitted.
pub fn submit(lab: &Lab, plan: &Plan, force: bool, worker: &WorkerArgs, reproduce_args: &[String], report: &Path, o: &SlurmOptions) -> Result<Submission> {
    o.check()?;
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    // `20261207T031500Z-<pid>`: sorts by time, unique per submitting process.
    let stamp = format!("{}-{}", super::provenance::timestamp().replace(['-', ':'], ""), std::process::id());
    let dir = std::path::absolute(lab.root.join("slurm").join(stamp)).context("cannot make the submission folder absolute")?;
    let logs = std::path::absolute(lab.root.join("logs")).context("cannot make the logs folder absolute")?;
    let report = std::path::absolute(report).context("cannot make the report path absolute")?;
    for d in [&dir, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("{}: cannot create", d.display()))?;
    }
    let profile = lab.profile.name();
    // (what, keys, script, sbatch arguments but the dependency)
    let mut planned: Vec<(String, Vec<String>, PathBuf, Vec<String>)> = vec![];
    for (level, nodes) in plan.pending_levels(force) {
        let keys: Vec<&str> = nodes.iter().map(|n| n.key.as_str()).collect();
        let script = dir.join(format!("level-{level}.sh"));
        write_script(&script, &level_script(level, &keys, worker, force, &logs))?;
        let args = sbatch_args(o, &format!("hoimat-{profile}-L{level}"), Some(keys.len()), &dir, &format!("level-{level}-%a.out"), &cwd);
        planned.push((format!("level {level}"), keys.iter().map(|k| k.to_string()).collect(), script, args));
    }
    let script = dir.join("report.sh");
    write_script(&script, &report_script(worker, reproduce_args))?;
    let mut args = sbatch_args(o, &format!("hoimat-{profile}-report"), None, &dir, "report.out", &cwd);
    // The speed runs in it time the node: nobody else's jobs beside them.
    args.push("--exclusive".into());
    planned.push(("report".into(), vec![], script, args));

    let mut jobs: Vec<Job> = vec![];
    let outcome = (|| -> Result<()> {
        for (what, keys, script, mut args) in planned {
            if let Some(prev) = jobs.last() {
                args.push(format!("--dependency=afterok:{}", prev.id));
            }
            let id = sbatch(&args, &script)?;
            lab.say(&if keys.is_empty() { format!("submitted the {what} job {id}") } else { format!("submitted {what}: {} task(s) as job array {id}", keys.len()) });
            jobs.push(Job { id, what, keys, script });
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        return Err(cancel_on_error(&jobs, e));
    }
    let sub = Submission { dir: dir.clone(), jobs, logs, report };
    if let Err(e) = crate::atomic::write(&dir.join("jobs.json"), serde_json::to_string_pretty(&sub)?.as_bytes()) {
        return Err(cancel_on_error(&sub.jobs, e));
    }
    Ok(sub)
}

/// A submission that failed half way takes back what it submitted.
fn cancel_on_error(jobs: &[Job], e: anyhow::Error) -> anyhow::Error {
    if jobs.is_empty() {
        return e;
    }
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    match Command::new("scancel").args(&ids).status() {
        Ok(s) if s.success() => e.context(format!("submission stopped; jobs {} cancelled", ids.join(" "))),
        Ok(s) => e.context(format!("submission stopped; `scancel {}` failed ({s}): cancel them by hand", ids.join(" "))),
        Err(err) => e.context(format!("submission stopped; could not run scancel ({err}): cancel jobs {} by hand", ids.join(" "))),
    }
}

impl Submission {
    pub fn ids(&self) -> Vec<&str> {
        self.jobs.iter().map(|j| j.id.as_str()).collect()
    }

    /// How to follow and cancel it, for the terminal.
    pub fn instructions(&self) -> String {
        let ids = self.ids().join(",");
        let tasks: usize = self.jobs.iter().map(|j| j.keys.len()).sum();
        format!(
            "submitted {} job(s) ({tasks} array tasks and the report job): {}\n\
             follow:  squeue -j {ids}    (each task's output: {}/<key>.log; Slurm's: {})\n\
             cancel:  scancel {}\n\
             the report appears at {} when job {} ends",
            self.jobs.len(),
            self.jobs.iter().map(|j| format!("{} {}", j.what, j.id)).collect::<Vec<_>>().join(", "),
            self.logs.display(),
            self.dir.display(),
            self.ids().join(" "),
            self.report.display(),
            self.jobs.last().map_or("", |j| j.id.as_str()),
        )
    }

    /// Wait until no job of the submission is queued or running, with a
    /// bar over its array tasks. Success is the report job's: every level
    /// before it is chained `afterok`, so it completes only if they all
    /// did. Otherwise each task that did not complete is named with its
    /// log (a job Slurm has already forgotten, after `MinJobAge`, is said to
    /// be unknown).
    pub fn wait(&self, poll: Duration) -> Result<()> {
        let total: usize = self.jobs.iter().map(|j| j.keys.len().max(1)).sum();
        let bar = crate::progress::bar(total as u64, "slurm tasks");
        let ids = self.ids().join(",");
        let start = Instant::now();
        let mut failures = 0;
        loop {
            // `-r`: one line per array task, pending ones included.
            let out = Command::new("squeue").args(["-h", "-r", "-o", "%i %T", "-j", &ids]).output().context("cannot run squeue")?;
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            let left = if out.status.success() {
                failures = 0;
                String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
            } else if err.contains("Invalid job id") {
                // Every id is unknown: all ended, and Slurm has forgotten them.
                0
            } else {
                // The controller busy or restarting: ask again, a while.
                failures += 1;
                if failures > 30 {
                    bail!("squeue -j {ids} failed {failures} times in a row: {}", err.trim());
                }
                std::thread::sleep(poll);
                continue;
            };
            bar.set_position(total.saturating_sub(left) as u64);
            bar.set_message(format!("{left} queued or running, {:.0} s", start.elapsed().as_secs_f64()));
            if left == 0 {
                break;
            }
            std::thread::sleep(poll);
        }
        bar.finish_and_clear();
        let report = self.jobs.last().context("an empty submission")?;
        if job_states(&report.id).is_some_and(|s| s.iter().all(|(_, st)| st == "COMPLETED")) {
            return Ok(());
        }
        let mut failed = vec![];
        for job in &self.jobs {
            let states = job_states(&job.id).unwrap_or_else(|| vec![(None, "UNKNOWN (forgotten by Slurm)".into())]);
            for (task, state) in states {
                if state != "COMPLETED" {
                    failed.push(match task.and_then(|i| job.keys.get(i)) {
                        Some(key) => format!("{key} ({state}; log {})", self.logs.join(log_name(key)).display()),
                        None => format!("{} job {} ({state}; Slurm's output in {})", job.what, job.id, self.dir.display()),
                    });
                }
            }
        }
        bail!("the report job {} did not complete; {} Slurm task(s) did not: {}", report.id, failed.len(), failed.join("; "))
    }
}

/// Each task's final state (`COMPLETED`, `FAILED`, `CANCELLED`, ...) by
/// array index (none for a plain job or a range never started), from
/// `scontrol show job`; none when Slurm no longer knows the job.
fn job_states(id: &str) -> Option<Vec<(Option<usize>, String)>> {
    let out = Command::new("scontrol").args(["show", "job", "-o", id]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let field = |line: &str, name: &str| -> Option<String> {
        line.split_whitespace().find_map(|w| w.strip_prefix(name).map(str::to_string))
    };
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| (field(l, "ArrayTaskId=").and_then(|t| t.parse().ok()), field(l, "JobState=").unwrap_or_else(|| "UNKNOWN".into())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> WorkerArgs {
        WorkerArgs { exe: "/opt/hoimat bin/hoimat".into(), args: vec!["--profile".into(), "smoke".into(), "--results".into(), "it's here".into()] }
    }

    /// The script bash actually runs: the right key per index, quoting intact.
    #[test]
    fn a_level_script_runs_the_indexed_key_with_quoted_arguments() {
        let dir = std::env::temp_dir().join(format!("hoimat-slurm-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = level_script(3, &["factory-s0-ab", "table2/rvm-s1-cd"], &worker(), true, &dir);
        // Replace the binary by a printer of its arguments, one per line.
        let script = script.replace("'/opt/hoimat bin/hoimat'", "printf '%s\\n'");
        let path = dir.join("level.sh");
        std::fs::write(&path, script).unwrap();
        let run = |index: &str, cpus: Option<&str>| {
            let mut c = Command::new("bash");
            c.arg(&path).env("SLURM_ARRAY_TASK_ID", index).env("SLURM_ARRAY_JOB_ID", "7").env_remove("SLURM_CPUS_PER_TASK");
            if let Some(n) = cpus {
                c.env("SLURM_CPUS_PER_TASK", n);
            }
            let out = c.output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert!(run("1", None).contains("table2/rvm-s1-cd on "));
        let log = std::fs::read_to_string(dir.join("table2__rvm-s1-cd.log")).unwrap();
        assert_eq!(log, "run-task\ntable2/rvm-s1-cd\n--profile\nsmoke\n--results\nit's here\n--force\n");
        run("0", Some("8"));
        let log = std::fs::read_to_string(dir.join("factory-s0-ab.log")).unwrap();
        assert!(log.starts_with("run-task\nfactory-s0-ab\n") && log.ends_with("--force\n--threads\n8\n"), "{log}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn job_arguments_and_what_the_user_may_add() {
        let o = SlurmOptions { partition: Some("gpu".into()), max_parallel: Some(4), sbatch_args: vec!["--time=1:00:00".into()] };
        o.check().unwrap();
        let a = sbatch_args(&o, "hoimat-quick-L1", Some(12), Path::new("/r/100%/slurm"), "level-1-%a.out", Path::new("/w"));
        assert!(a.contains(&"--array=0-11%4".to_string()) && a.contains(&"--partition=gpu".to_string()), "{a:?}");
        assert!(a.contains(&"--output=/r/100%%/slurm/level-1-%a.out".to_string()), "a literal % is escaped, the pattern kept: {a:?}");
        assert_eq!(a.last().unwrap(), "--time=1:00:00");
        let b = sbatch_args(&SlurmOptions::default(), "r", None, Path::new("/r"), "report.out", Path::new("/w"));
        assert!(!b.iter().any(|x| x.starts_with("--array") || x.starts_with("--dependency") || x.starts_with("--partition")));
        for bad in ["--dependency=afterany:1", "--array=0-3", "-o", "--output=x", "--chdir=/tmp", "-D/tmp", "--parsable", "--wrap=true"] {
            let o = SlurmOptions { sbatch_args: vec![bad.into()], ..Default::default() };
            let e = o.check().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        for fine in ["--account=lab", "-A", "lab", "--gres=gpu:1", "--exclusive", "--mem=16G", "--qos=long", "--open-mode=append"] {
            SlurmOptions { sbatch_args: vec![fine.into()], ..Default::default() }.check().unwrap();
        }
        assert!(SlurmOptions { max_parallel: Some(0), ..Default::default() }.check().is_err());
    }
}
