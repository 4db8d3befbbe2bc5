//! Stored rows as a polars `DataFrame` (feature `polars`): the same long
//! format as the Parquet tables (one column per row field and provenance
//! field, absent values as nulls), for slicing in a notebook with the
//! Rust ecosystem's data frame.

use polars::prelude::{Column as PlColumn, DataFrame, NamedFrom, PolarsResult, Series};

use super::results::{to_table, Store};
use super::table::{Column, Table};

impl Table {
    /// This table as a polars frame, column for column.
    pub fn to_polars(&self) -> PolarsResult<DataFrame> {
        let height = self.columns.first().map_or(0, Column::len);
        let columns: Vec<PlColumn> = self
            .names
            .iter()
            .zip(&self.columns)
            .map(|(name, col)| {
                let name = name.as_str().into();
                let series = match col {
                    Column::Str(v) => Series::new(name, v),
                    Column::F64(v) => Series::new(name, v),
                    Column::I64(v) => Series::new(name, v),
                    Column::OptI64(v) => Series::new(name, v),
                };
                series.into()
            })
            .collect();
        DataFrame::new(height, columns)
    }
}

impl Store {
    /// The compacted table of `experiment` as a polars frame.
    pub fn frame(&self, experiment: &str) -> anyhow::Result<DataFrame> {
        let rows = self.load(experiment)?;
        Ok(to_table(&rows)?.to_polars()?)
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::ChunkAgg;

    use super::super::results::{Provenance, ResultRow};
    use super::*;

    /// Shape, nulls and sums against hand-written rows, then the same
    /// stored table read by Python's polars from the Parquet file: the
    /// same per-method sums and null counts.
    #[test]
    fn a_stored_table_as_a_frame_matches_the_rows_and_pythons_polars() {
        let dir = std::env::temp_dir().join(format!("hoimat-frame-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(&dir);
        let rows = [
            ResultRow::new("t2", "rvm", "synvbhoi", "c0", "miou", 0.75),
            ResultRow::new("t2", "rvm", "synvbhoi", "c1", "miou", 0.25),
            ResultRow::new("t2", "maml_ral", "synvbhoi", "c0", "miou", 0.5).at_step(3),
            ResultRow::new("t2", "maml_ral", "synvbhoi", "c1", "mad", f64::NAN),
        ];
        store.write_run("t2", "a-s0-00ff", &rows[..2], &Provenance::for_test(0)).unwrap();
        store.write_run("t2", "b-s1-00ff", &rows[2..], &Provenance::for_test(1)).unwrap();
        store.compact_current("t2", &["00ff".to_string()]).unwrap();
        let df = store.frame("t2").unwrap();
        assert_eq!(df.height(), 4);
        for name in ["experiment", "method", "dataset", "clip", "metric", "value", "step", "repeat", "seed", "config_hash", "wall_s", "timestamp"] {
            assert!(df.column(name).is_ok(), "no column {name}");
        }
        let value = df.column("value").unwrap().f64().unwrap();
        assert_eq!(value.null_count(), 1, "NaN is stored as absent");
        assert!((value.sum().unwrap() - 1.5).abs() < 1e-12);
        assert_eq!(df.column("step").unwrap().null_count(), 3);
        assert_eq!(df.column("seed").unwrap().i64().unwrap().sum(), Some(2));
        // Per method, from our frame.
        let methods = df.column("method").unwrap().str().unwrap();
        let mut ours: Vec<(String, f64)> = ["maml_ral", "rvm"]
            .iter()
            .map(|m| (m.to_string(), methods.iter().zip(value.iter()).filter(|(k, _)| *k == Some(*m)).filter_map(|(_, v)| v).sum()))
            .collect();
        ours.sort_by(|a, b| a.0.cmp(&b.0));
        // Python's polars on the same Parquet file, as an independent reader.
        let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let code = "import sys, polars as pl\n\
                    d = pl.read_parquet(sys.argv[1])\n\
                    g = d.group_by('method').agg(pl.col('value').sum()).sort('method')\n\
                    print(d.height, d['value'].null_count(), *[f'{m}={v!r}' for m, v in g.iter_rows()])";
        let out = std::process::Command::new(&py).arg("-c").arg(code).arg(store.table_path("t2")).output().unwrap();
        assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let expected = format!("4 1 {}", ours.iter().map(|(m, v)| format!("{m}={v:?}")).collect::<Vec<_>>().join(" "));
        assert_eq!(theirs, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
