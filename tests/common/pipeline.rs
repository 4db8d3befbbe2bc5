//! The smoke pipeline's helpers: a scratch folder, in-process reproduction
//! options, every stored number of an experiment, a folder's files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hoimat::experiments::pipeline::ReproduceOptions;
use hoimat::experiments::Lab;
use hoimat::prelude::*;
use tch::Device;

pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-exp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn opts(dir: &Path, only: &[&str]) -> ReproduceOptions {
    ReproduceOptions {
        profile: Profile::Smoke,
        only: only.iter().map(|s| s.to_string()).collect(),
        definitions: None,
        force: false,
        results: dir.join("results"),
        data: dir.join("data"),
        data_seed: 0,
        device: Device::Cpu,
        factory_import: None,
        jobs: 1,
        worker: None,
        after_workers: false,
    }
}

/// Every stored number of an experiment by (method, dataset, clip, metric,
/// step, repeat, seed), timings left out (they differ run to run).
pub fn numbers(results: &Path, id: &str) -> std::collections::BTreeMap<String, u64> {
    let lab = Lab::new(results, Profile::Smoke, Device::Cpu);
    let rows = lab.store().load(id).unwrap();
    rows.iter()
        .filter(|r| !r.row.metric.ends_with("_s"))
        .map(|r| (format!("{}|{}|{}|{}|{:?}|{:?}|{}", r.row.method, r.row.dataset, r.row.clip, r.row.metric, r.row.step, r.row.repeat, r.prov.seed), r.row.value.unwrap_or(f64::NAN).to_bits()))
        .collect()
}

pub fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
