//! The experiment pipeline at the smoke profile: the whole paper runs end to
//! end, a second run takes every result from the store (same numbers), a
//! killed run leaves readable tables and resumes, and Python's pandas,
//! pyarrow and polars read the store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod common;

use common::pipeline::{numbers, opts, scratch, walk};
use hoimat::experiments::pipeline::reproduce;
use hoimat::experiments::Lab;
use hoimat::prelude::*;
use hoimat::store::summarize;
use tch::Device;


#[test]
fn smoke_pipeline_end_to_end_then_fully_cached() {
    let dir = scratch("e2e");
    let first = reproduce(&opts(&dir, &[])).unwrap();
    let report = std::fs::read_to_string(&first.report).unwrap();
    for id in ["table2", "table3", "table4", "table5", "table6", "table7", "fig6", "fig7", "fig8", "fig9", "annotators", "twin"] {
        assert!(report.contains(&format!("## {id}:")), "{id} missing from the report");
        // Every experiment has charts, both as SVG and PNG, linked from the report.
        let figs = dir.join("results/smoke/figures");
        let pngs: Vec<PathBuf> = walk(&figs).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{id}_")) && p.extension().unwrap() == "png").collect();
        assert!(!pngs.is_empty(), "{id}: no figure");
        for png in pngs {
            let img = image::open(&png).unwrap();
            assert!(img.width() > 300 && img.height() > 200);
            assert!(png.with_extension("svg").is_file(), "{}: no svg twin", png.display());
            let name = png.file_name().unwrap().to_string_lossy().to_string();
            assert!(report.contains(&format!("](figures/{name})")), "{name} not linked from the report");
        }
    }
    // Fig. 6 reads Table II's rows: the CDF's per-clip numbers are Table II's.
    let top = std::fs::read_to_string(dir.join("results/REPORT.md")).unwrap();
    assert!(top.contains("](smoke/figures/fig6_cdf_miou.png)"), "top-level report links into the profile folder");
    assert!(report.contains("synthetic"), "the report says the data are synthetic");
    assert!(dir.join("results/REPORT.md").is_file());
    // Every verdict was decidable (all numbers present).
    assert!(first.verdicts.iter().all(|(_, v)| v.gain.is_some()), "{:?}", first.verdicts.iter().map(|(_, v)| v.line()).collect::<Vec<_>>());

    // The second run computes nothing and reports the same numbers.
    let lab = Lab::new(dir.join("results"), Profile::Smoke, Device::Cpu);
    let def = lab.definition("table2").unwrap();
    let stored = summarize(&lab.store().load("table2").unwrap());
    let again = lab.run(&def).unwrap();
    // RVM, RVM-F, MAML-RAL, its theta' row, RVM under the zoo's recipe and the five zoo models.
    assert_eq!((again.runs_done, again.runs_cached), (0, 10));
    assert_eq!(summarize(&again.rows), stored);
    // Provenance on every row.
    for r in &again.rows {
        assert_eq!(r.prov.profile, "smoke");
        assert!(!r.prov.config_hash.is_empty() && !r.prov.git_commit.is_empty() && r.prov.config.starts_with('{'));
        assert!(r.prov.wall_s >= 0.0 && r.prov.timestamp.ends_with('Z'));
    }
    // Ten methods x (number of synvbhoi clips) x metrics, held-object metrics only where a held object shows.
    let clips = lab.dataset("synvbhoi").unwrap().clips.len();
    let miou_rows = again.rows.iter().filter(|r| r.row.metric == "miou").count();
    assert_eq!(miou_rows, 10 * clips);
    let held = again.rows.iter().filter(|r| r.row.metric == "held_iou").count();
    assert!(held > 0 && held <= 10 * clips, "{held} held-object rows");
    // The error by region is stored per clip and shown under Table II.
    assert!(again.rows.iter().any(|r| r.row.metric == "fp@background"));
    assert!(report.contains("Error by region on synthetic `synvbhoi`"));
    assert!(report.contains("95% CI ["), "verdicts print their interval");

    // Python reads the compacted table and the run files.
    // Adaptation rows: a curve per clip (step = epoch) and derived numbers.
    let t5 = lab.store().load("table5").unwrap();
    assert!(t5.iter().any(|r| r.row.metric == "miou" && r.row.step == Some(0)));
    assert!(t5.iter().any(|r| r.row.metric == "miou_after" && r.row.method == "maml_ral+la"));
    let f9 = lab.store().load("fig9").unwrap();
    assert!(f9.iter().any(|r| r.row.metric == "probe_mad" && r.row.repeat == Some(1)), "fig9 has repeats and probe curves");

    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let table = dir.join("results/smoke/store/table2.parquet");
    let code = "import sys, pandas, pyarrow.parquet as pq, polars as pl\n\
                p = sys.argv[1]\n\
                a = pandas.read_parquet(p); b = pq.read_table(p); c = pl.read_parquet(p)\n\
                assert len(a) == b.num_rows == c.height > 0\n\
                cols = {'experiment','method','dataset','clip','metric','value','step','repeat','seed','profile','device','git_commit','hoimat_version','config_hash','wall_s','timestamp','config'}\n\
                assert cols <= set(a.columns), set(a.columns)\n\
                m = a[(a.metric == 'miou')].groupby('method').value.mean()\n\
                print(len(a), m.to_dict())";
    let out = Command::new(&py).arg("-c").arg(code).arg(&table).output().unwrap();
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_killed_reproduction_leaves_readable_tables_and_resumes() {
    let dir = scratch("kill");
    let bin = env!("CARGO_BIN_EXE_hoimat");
    let args = |d: &Path| {
        let mut c = Command::new(bin);
        c.args(["reproduce", "--profile", "smoke", "--cpu", "--only", "table4,table2", "--results"]).arg(d.join("results")).arg("--data").arg(d.join("data"));
        c
    };
    // Kill it repeatedly at different moments; after each kill every table
    // file that exists must read.
    for wait_ms in [1500u64, 4000, 9000] {
        let mut child = args(&dir).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        let _ = child.kill();
        let _ = child.wait();
        for f in walk(&dir.join("results")) {
            if f.extension().is_some_and(|e| e == "parquet") {
                hoimat::store::Table::read_parquet(&f).unwrap_or_else(|e| panic!("after a kill at {wait_ms} ms: {e}"));
            }
        }
    }
    let out = args(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A partial run reports beside the paper's report, never over it.
    assert!(dir.join("results/smoke/REPORT-table4+table2.md").is_file());
    assert!(!dir.join("results/smoke/REPORT.md").exists() && !dir.join("results/REPORT.md").exists());
    let lab = Lab::new(dir.join("results"), Profile::Smoke, Device::Cpu);
    let rows = lab.store().load("table4").unwrap();
    assert_eq!(summarize(&rows).iter().filter(|s| s.metric == "mad").count(), 3);
    // No temporary files are left where the store reads.
    let stray: Vec<_> = walk(&dir.join("results/smoke/store")).into_iter().filter(|f| f.to_string_lossy().contains(".tmp")).collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// Worker processes (`--jobs 2`, `hoimat run-task` per model and run), two
/// of those reproductions started at once on one results folder, and one
/// process doing everything: the same stored numbers, bit for bit.
#[test]
fn workers_and_concurrent_reproductions_store_what_one_process_stores() {
    let dir = scratch("jobs");
    reproduce(&opts(&dir.join("one"), &["table2", "table5"])).unwrap();
    let shared = dir.join("two");
    // Output to files: a full pipe would stall a process (and the other behind its locks).
    let start = |name: &str| {
        let log = std::fs::File::create(dir.join(name)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hoimat"))
            .args(["reproduce", "--profile", "smoke", "--cpu", "--jobs", "2", "--only", "table2,table5", "--results"])
            .arg(shared.join("results"))
            .arg("--data")
            .arg(shared.join("data"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        (child, dir.join(name))
    };
    let runs = [start("a.log"), start("b.log")];
    for (mut child, log) in runs {
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(status.success(), "{text}");
        assert!(text.contains("tasks executed by workers"), "the executor ran: {text}");
        // The plan missed nothing: the report pass trained and scored nothing itself.
        let after = &text[text.find("rendering").unwrap()..];
        assert!(!after.contains("training ") && !after.contains(" rows in "), "the report pass computed something:\n{after}");
    }
    // Workers left their logs.
    assert!(walk(&shared.join("results/smoke/logs")).iter().any(|f| f.to_string_lossy().contains("factory-s0-")));
    for id in ["table2", "table5"] {
        let (one, two) = (numbers(&dir.join("one/results"), id), numbers(&shared.join("results"), id));
        assert!(!one.is_empty());
        assert_eq!(one, two, "{id}: workers and one process stored different numbers");
    }
}

