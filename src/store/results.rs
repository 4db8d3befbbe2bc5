//! The result store: long-format rows (one per experiment, method, dataset,
//! clip, metric and optional step/repeat), each carrying its provenance.
//!
//! Layout under a store root (`results/<profile>/store/`):
//! - `<experiment>/runs/<run key>.parquet`: one file per run, written
//!   atomically when the run has finished. Its presence is the cache: a run
//!   whose key (method, seed, config hash) is there is not run again unless
//!   forced. Concurrent runs write different files, so they cannot clobber
//!   each other.
//! - `<experiment>.parquet`: the compacted table, rebuilt (atomically) from
//!   the run files after each experiment.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::table::{Column, Table, TableError};

/// Where a row came from. Every row carries all of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The run's full configuration as JSON.
    pub config: String,
    /// Hash of `config` (hex), the cache key.
    pub config_hash: String,
    pub seed: i64,
    pub profile: String,
    pub device: String,
    pub git_commit: String,
    pub hoimat_version: String,
    /// Seconds the run took (training of shared models excluded).
    pub wall_s: f64,
    /// When the run finished, RFC 3339 (UTC).
    pub timestamp: String,
}

#[cfg(test)]
impl Provenance {
    /// A filled-in provenance at `seed` (tests that write runs).
    pub(crate) fn for_test(seed: i64) -> Provenance {
        Provenance {
            config: "{\"a\":1}".into(),
            config_hash: "00ff".into(),
            seed,
            profile: "smoke".into(),
            device: "cpu".into(),
            git_commit: "abc".into(),
            hoimat_version: "0.1.0".into(),
            wall_s: 1.5,
            timestamp: "2026-01-01T00:00:00Z".into(),
        }
    }
}

#[cfg(test)]
impl StoredRow {
    /// A row at `seed` with otherwise blank provenance (tests of queries).
    pub(crate) fn for_test(row: ResultRow, seed: i64) -> StoredRow {
        let prov = Provenance {
            config: String::new(),
            config_hash: String::new(),
            seed,
            profile: "smoke".into(),
            device: "cpu".into(),
            git_commit: String::new(),
            hoimat_version: String::new(),
            wall_s: 0.0,
            timestamp: String::new(),
        };
        StoredRow { row, prov }
    }
}

/// One measured number.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    pub experiment: String,
    pub method: String,
    pub dataset: String,
    /// The clip (or image, or "*" for a whole-set number such as FPS).
    pub clip: String,
    pub metric: String,
    pub value: Option<f64>,
    /// Epoch of local adaptation, meta-iteration, ...: absent when not a curve.
    pub step: Option<i64>,
    /// Repeat index (Fig. 9's 5 repeats): absent when not repeated.
    pub repeat: Option<i64>,
}

impl ResultRow {
    pub fn new(experiment: &str, method: &str, dataset: &str, clip: &str, metric: &str, value: f64) -> Self {
        ResultRow {
            experiment: experiment.into(),
            method: method.into(),
            dataset: dataset.into(),
            clip: clip.into(),
            metric: metric.into(),
            value: value.is_finite().then_some(value),
            step: None,
            repeat: None,
        }
    }
    pub fn at_step(mut self, step: i64) -> Self {
        self.step = Some(step);
        self
    }
    pub fn at_repeat(mut self, repeat: i64) -> Self {
        self.repeat = Some(repeat);
        self
    }
}

/// Rows with their provenance (as stored).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRow {
    pub row: ResultRow,
    pub prov: Provenance,
}

/// A store rooted at a folder.
#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
}

/// A file-name-safe run key: `<method>-s<seed>-<hash>`.
pub fn run_key(method: &str, seed: i64, config_hash: &str) -> String {
    let safe: String = method.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    format!("{safe}-s{seed}-{config_hash}")
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn run_path(&self, experiment: &str, key: &str) -> PathBuf {
        self.root.join(experiment).join("runs").join(format!("{key}.parquet"))
    }

    pub fn table_path(&self, experiment: &str) -> PathBuf {
        self.root.join(format!("{experiment}.parquet"))
    }

    pub fn has_run(&self, experiment: &str, key: &str) -> bool {
        self.run_path(experiment, key).is_file()
    }

    /// Write one finished run's rows (atomically).
    pub fn write_run(&self, experiment: &str, key: &str, rows: &[ResultRow], prov: &Provenance) -> Result<PathBuf, TableError> {
        let stored: Vec<StoredRow> = rows.iter().map(|r| StoredRow { row: r.clone(), prov: prov.clone() }).collect();
        let path = self.run_path(experiment, key);
        to_table(&stored)?.write_parquet(&path)?;
        Ok(path)
    }

    /// Every stored row of an experiment, read from its run files (sorted by
    /// file name, so the order is stable).
    pub fn load_runs(&self, experiment: &str) -> Result<Vec<StoredRow>, TableError> {
        let dir = self.root.join(experiment).join("runs");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect(),
            Err(_) => return Ok(vec![]),
        };
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(from_table(&Table::read_parquet(&f)?, &f)?);
        }
        Ok(out)
    }

    /// Rebuild `<experiment>.parquet` from the runs whose configuration hash
    /// is in `current` (the runs of the definition as it stands), so the
    /// table a user reads holds no numbers of models or settings since
    /// replaced; older run files stay under `runs/`, still readable with
    /// [`Store::load_runs`]. Returns the table's rows.
    pub fn compact_current(&self, experiment: &str, current: &[String]) -> Result<Vec<StoredRow>, TableError> {
        super::table::sweep_stale_temporaries(&self.root.join(experiment).join("runs"));
        super::table::sweep_stale_temporaries(&self.root);
        let rows: Vec<StoredRow> = self.load_runs(experiment)?.into_iter().filter(|r| current.contains(&r.prov.config_hash)).collect();
        to_table(&rows)?.write_parquet(&self.table_path(experiment))?;
        Ok(rows)
    }

    /// The compacted table of an experiment.
    pub fn load(&self, experiment: &str) -> Result<Vec<StoredRow>, TableError> {
        let p = self.table_path(experiment);
        from_table(&Table::read_parquet(&p)?, &p)
    }
}

/// The long-format table: row columns then provenance columns.
pub fn to_table(rows: &[StoredRow]) -> Result<Table, TableError> {
    let s = |f: &dyn Fn(&StoredRow) -> String| Column::Str(rows.iter().map(f).collect());
    Table::new()
        .with("experiment", s(&|r| r.row.experiment.clone()))?
        .with("method", s(&|r| r.row.method.clone()))?
        .with("dataset", s(&|r| r.row.dataset.clone()))?
        .with("clip", s(&|r| r.row.clip.clone()))?
        .with("metric", s(&|r| r.row.metric.clone()))?
        .with("value", Column::F64(rows.iter().map(|r| r.row.value).collect()))?
        .with("step", Column::OptI64(rows.iter().map(|r| r.row.step).collect()))?
        .with("repeat", Column::OptI64(rows.iter().map(|r| r.row.repeat).collect()))?
        .with("seed", Column::I64(rows.iter().map(|r| r.prov.seed).collect()))?
        .with("profile", s(&|r| r.prov.profile.clone()))?
        .with("device", s(&|r| r.prov.device.clone()))?
        .with("git_commit", s(&|r| r.prov.git_commit.clone()))?
        .with("hoimat_version", s(&|r| r.prov.hoimat_version.clone()))?
        .with("config_hash", s(&|r| r.prov.config_hash.clone()))?
        .with("wall_s", Column::F64(rows.iter().map(|r| Some(r.prov.wall_s)).collect()))?
        .with("timestamp", s(&|r| r.prov.timestamp.clone()))?
        .with("config", s(&|r| r.prov.config.clone()))
}

fn from_table(t: &Table, path: &Path) -> Result<Vec<StoredRow>, TableError> {
    let bad = |what: &str| TableError::File { path: path.display().to_string(), problem: format!("not a result table: {what}") };
    let st = |n: &str| match t.column(n) {
        Some(Column::Str(v)) => Ok(v),
        _ => Err(bad(&format!("missing text column {n}"))),
    };
    let f = |n: &str| match t.column(n) {
        Some(Column::F64(v)) => Ok(v),
        _ => Err(bad(&format!("missing float column {n}"))),
    };
    let oi = |n: &str| match t.column(n) {
        Some(Column::OptI64(v)) => Ok(v.clone()),
        Some(Column::I64(v)) => Ok(v.iter().map(|x| Some(*x)).collect()),
        _ => Err(bad(&format!("missing integer column {n}"))),
    };
    let (exp, method, dataset, clip, metric) = (st("experiment")?, st("method")?, st("dataset")?, st("clip")?, st("metric")?);
    let (value, wall) = (f("value")?, f("wall_s")?);
    let (step, repeat, seed) = (oi("step")?, oi("repeat")?, oi("seed")?);
    let (profile, device, git, ver, hash, ts, config) =
        (st("profile")?, st("device")?, st("git_commit")?, st("hoimat_version")?, st("config_hash")?, st("timestamp")?, st("config")?);
    Ok((0..t.n_rows())
        .map(|i| StoredRow {
            row: ResultRow {
                experiment: exp[i].clone(),
                method: method[i].clone(),
                dataset: dataset[i].clone(),
                clip: clip[i].clone(),
                metric: metric[i].clone(),
                value: value[i],
                step: step[i],
                repeat: repeat[i],
            },
            prov: Provenance {
                config: config[i].clone(),
                config_hash: hash[i].clone(),
                seed: seed[i].unwrap_or(0),
                profile: profile[i].clone(),
                device: device[i].clone(),
                git_commit: git[i].clone(),
                hoimat_version: ver[i].clone(),
                wall_s: wall[i].unwrap_or(f64::NAN),
                timestamp: ts[i].clone(),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;


    #[test]
    fn runs_round_trip_and_compact() {
        let dir = std::env::temp_dir().join(format!("hoimat-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(&dir);
        let rows = vec![ResultRow::new("t2", "rvm", "synvbhoi", "c0", "miou", 0.75), ResultRow::new("t2", "rvm", "synvbhoi", "c0", "mad", f64::NAN).at_step(3)];
        assert!(!store.has_run("t2", "rvm-s0-00ff"));
        store.write_run("t2", "rvm-s0-00ff", &rows, &Provenance::for_test(0)).unwrap();
        store.write_run("t2", &run_key("a/b", 1, "00ff"), &rows[..1], &Provenance::for_test(1)).unwrap();
        assert!(store.has_run("t2", "rvm-s0-00ff"));
        let all = store.compact_current("t2", &["00ff".to_string()]).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(store.load("t2").unwrap(), all);
        let r = all.iter().find(|r| r.row.metric == "mad").unwrap();
        assert_eq!((r.row.value, r.row.step, r.row.repeat), (None, Some(3), None));
        assert_eq!(all.iter().filter(|r| r.prov.seed == 1).count(), 1);
        // A run of a replaced configuration leaves the table but not the store.
        store.write_run("t2", "rvm-s0-0aaa", &rows[..1], &Provenance { config_hash: "0aaa".into(), ..Provenance::for_test(0) }).unwrap();
        assert_eq!(store.compact_current("t2", &["00ff".to_string(), "0aaa".to_string()]).unwrap().len(), 4);
        let current = store.compact_current("t2", &["00ff".to_string()]).unwrap();
        assert_eq!(current, all);
        assert_eq!(store.load("t2").unwrap(), all);
        assert_eq!(store.load_runs("t2").unwrap().len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
