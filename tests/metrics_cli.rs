//! The evaluator end to end: agreement with the RVM-style Python reference on
//! a real tree, the `hoimat eval` command (JSON and per-clip Parquet, read back
//! by us and by pyarrow), and clear errors for bad trees.

use std::process::Command;

use hoimat::bench::eval::{max_rel_diff, reference, write_tree};
use hoimat::metrics::{evaluate_dirs, EvalOptions};
use hoimat::profile::Profile;
use hoimat::store::{Column, Table};

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-metrics-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn agrees_with_the_python_reference() {
    let root = scratch("ref");
    let (pred, truth) = write_tree(&root, "synvbhoi", Profile::Smoke, 1, 4, 8).unwrap();
    let ours = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap();
    let (theirs, _) = reference(&pred, &truth).unwrap();
    let rel = max_rel_diff(&ours, &theirs).unwrap();
    assert!(rel < 1e-4, "relative difference {rel}: ours {ours:?} vs {theirs}");
    // the degraded prediction is imperfect but not absurd
    assert!(ours.pha_mad > 1.0 && ours.miou < 1.0 && ours.miou > 0.5, "{ours:?}");
    assert!(ours.fgr_mad.is_some());
}

#[test]
fn eval_command_prints_json_and_writes_parquet() {
    let root = scratch("cli");
    let (pred, truth) = write_tree(&root, "synvbhoi", Profile::Smoke, 2, 3, 5).unwrap();
    let table = root.join("per_clip.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_hoimat"))
        .args(["eval", "--json", "--pred-dir"])
        .arg(&pred)
        .arg("--true-dir")
        .arg(&truth)
        .arg("--per-clip")
        .arg(&table)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["pha_mad", "pha_mse", "pha_grad", "pha_conn", "pha_dtssd", "miou", "fgr_mad", "fgr_mse"] {
        assert!(v[k].is_number(), "missing {k} in {v}");
    }
    let t = Table::read_parquet(&table).unwrap();
    assert_eq!(t.n_rows(), 3);
    let Some(Column::I64(n)) = t.column("n_frames") else { panic!("n_frames column") };
    assert_eq!(n, &vec![5, 5, 5]);
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(py)
        .args(["-c", "import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); print(t.num_rows, t.column('miou_fraction')[0].as_py())"])
        .arg(&table)
        .output()
        .unwrap();
    assert!(o.status.success(), "pyarrow: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let mut parts = text.split_whitespace();
    assert_eq!(parts.next(), Some("3"));
    let miou: f64 = parts.next().unwrap().parse().unwrap();
    let Some(Column::F64(m)) = t.column("miou_fraction") else { panic!("miou column") };
    assert_eq!(Some(miou), m[0]);
}

#[test]
fn eval_command_names_the_bad_file() {
    let root = scratch("bad");
    let (pred, truth) = write_tree(&root, "synvbhoi", Profile::Smoke, 3, 2, 4).unwrap();
    let clip = std::fs::read_dir(pred.join("synvbhoi")).unwrap().next().unwrap().unwrap().path();
    let victim = clip.join("pha").join("0002.png");
    std::fs::remove_file(&victim).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoimat")).args(["eval", "--pred-dir"]).arg(&pred).arg("--true-dir").arg(&truth).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0002.png"), "{err}");
}
