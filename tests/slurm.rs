//! The Slurm executor against a real Slurm: a single-node cluster started
//! in a scratch folder by `tests/slurm/cluster.sh` (Debian's slurmctld,
//! slurmd, slurm-client and munge, which `./run test` installs), stopped
//! when the test ends. Without them the test fails and says why.
//! A failed level cancels what waits on it and `--wait` names the tasks;
//! submitting again resumes.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::pipeline::{numbers, opts, scratch, walk};
use hoimat::experiments::pipeline::reproduce;

/// A running single-node cluster; stopped on drop, pass or fail.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh");
        let out = Command::new("bash").arg(&script).arg("start").arg(dir).output().unwrap();
        let cluster = Cluster { dir: dir.to_path_buf(), conf: String::from_utf8_lossy(&out.stdout).trim().to_string() };
        assert!(
            out.status.success(),
            "could not start a single-node Slurm cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(&self.dir).status();
    }
}

/// `reproduce --executor slurm --wait` at smoke: the arrays compute every
/// model and run, the report job only renders, and the stored numbers are
/// bit-identical to one process doing everything.
#[test]
fn slurm_executor_stores_what_one_process_stores() {
    let dir = scratch("slurm");
    let cluster = Cluster::start(&dir.join("cluster"));
    let shared = dir.join("shared");
    let submit = || {
        let out = Command::new(env!("CARGO_BIN_EXE_hoimat"))
            .args(["reproduce", "--profile", "smoke", "--cpu", "--only", "table2,table5", "--executor", "slurm", "--wait", "--max-parallel", "2"])
            .arg("--sbatch-arg=--time=30:00")
            .arg("--results")
            .arg(shared.join("results"))
            .arg("--data")
            .arg(shared.join("data"))
            .env("SLURM_CONF", &cluster.conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };

    // A level that fails cancels everything after it, and `--wait` names
    // each task with its state. (The factory's log path is made a folder,
    // so its task cannot write its log and fails.)
    let plan_json = dir.join("plan.json");
    let status = Command::new(env!("CARGO_BIN_EXE_hoimat"))
        .args(["reproduce", "--profile", "smoke", "--cpu", "--only", "table2,table5", "--results"])
        .arg(shared.join("results"))
        .arg("--plan-json")
        .arg(&plan_json)
        .status()
        .unwrap();
    assert!(status.success());
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan_json).unwrap()).unwrap();
    let factory = plan["nodes"].as_array().unwrap().iter().find(|n| n["level"] == 0 && n["key"].as_str().unwrap().starts_with("factory-")).unwrap()["key"].as_str().unwrap().to_string();
    let blocker = shared.join("results/smoke/logs").join(format!("{factory}.log"));
    std::fs::create_dir_all(&blocker).unwrap();
    let (ok, text) = submit();
    assert!(!ok, "a failed task must fail the submission:\n{text}");
    assert!(text.contains("did not complete") && text.contains(&format!("{factory} (FAILED")), "{text}");
    assert!(text.contains("CANCELLED"), "what waited on the failed level was cancelled: {text}");
    std::fs::remove_dir(&blocker).unwrap();

    // Submitting again resumes and completes.
    let (ok, text) = submit();
    assert!(ok, "{text}\nslurmctld log:\n{}", std::fs::read_to_string(dir.join("cluster/slurmctld.log")).unwrap_or_default());
    assert!(text.contains("as job array") && text.contains("every job completed"), "{text}");
    // What was submitted is kept: scripts per level, the report job's, the ids.
    let subs: Vec<PathBuf> = walk(&shared.join("results/smoke/slurm"));
    assert!(subs.iter().any(|p| p.ends_with("level-0.sh")) && subs.iter().any(|p| p.ends_with("jobs.json")), "{subs:?}");
    // The report job found everything stored: it trained and scored nothing.
    // (Stamps sort by time: the last submission's is the last.)
    let mut outs: Vec<&PathBuf> = subs.iter().filter(|p| p.ends_with("report.out")).collect();
    outs.sort();
    let report_out = outs.last().expect("the report job's output");
    let report = std::fs::read_to_string(report_out).unwrap();
    assert!(report.contains("claims held:"), "{report}");
    assert!(!report.contains("training ") && !report.contains(" rows in "), "the report job computed something:\n{report}");
    assert!(shared.join("results/smoke/REPORT-table2+table5.md").is_file());
    // Each task logged under its key, as with the local executor.
    assert!(walk(&shared.join("results/smoke/logs")).iter().any(|f| f.to_string_lossy().contains("factory-s0-")));

    reproduce(&opts(&dir.join("one"), &["table2", "table5"])).unwrap();
    for id in ["table2", "table5"] {
        let (one, two) = (numbers(&dir.join("one/results"), id), numbers(&shared.join("results"), id));
        assert!(!one.is_empty());
        assert_eq!(one, two, "{id}: Slurm and one process stored different numbers");
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
