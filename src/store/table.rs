//! A small columnar table (strings, floats, integers) with atomic Parquet
//! writes: the file is written beside its target under a temporary name and
//! renamed into place, so an interrupted write never leaves a corrupt table.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("column {name}: {problem}")]
    Column { name: String, problem: String },
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> TableError {
    TableError::File { path: path.display().to_string(), problem: e.to_string() }
}

/// Remove temporary files (`.<name>.<n>.<nonce>.tmp-<host>-<ns>-<pid>`)
/// left in `dir` by writers that were killed. One written on this host in
/// this PID namespace goes once its process no longer runs; any other goes
/// once it is a day old (another machine's or container's process ids mean
/// nothing here, and older versions' names carry no host). A live writer's
/// file is kept. (Liveness is read from /proc; elsewhere only day-old
/// temporaries are removed.)
pub fn sweep_stale_temporaries(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let proc = Path::new("/proc/self").exists();
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') || !name.contains(".tmp-") {
            continue;
        }
        let age = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).unwrap_or_default();
        let stale = match crate::atomic::writer_of(&name) {
            Some((host, ns, pid)) if proc && host == crate::atomic::host() && ns == crate::atomic::pid_namespace() => age > day || !Path::new(&format!("/proc/{pid}")).exists(),
            _ => age > day,
        };
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Str(Vec<String>),
    F64(Vec<Option<f64>>),
    I64(Vec<i64>),
    /// Integers that may be absent (an epoch or a repeat index on some rows only).
    OptI64(Vec<Option<i64>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Str(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::OptI64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn to_arrow(&self) -> (DataType, ArrayRef) {
        match self {
            Column::Str(v) => (DataType::Utf8, Arc::new(StringArray::from_iter_values(v))),
            Column::F64(v) => (DataType::Float64, Arc::new(Float64Array::from(v.clone()))),
            Column::I64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
            Column::OptI64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
        }
    }
}

/// Named columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Column>,
}

impl Table {
    pub fn new() -> Self {
        Table::default()
    }

    /// Add a column; all columns must have the same length.
    pub fn with(mut self, name: &str, col: Column) -> Result<Self, TableError> {
        if let Some(first) = self.columns.first() {
            if first.len() != col.len() {
                return Err(TableError::Column { name: name.into(), problem: format!("{} rows, the table has {}", col.len(), first.len()) });
            }
        }
        if self.names.iter().any(|n| n == name) {
            return Err(TableError::Column { name: name.into(), problem: "duplicate name".into() });
        }
        self.names.push(name.into());
        self.columns.push(col);
        Ok(self)
    }

    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.names.iter().position(|n| n == name).map(|i| &self.columns[i])
    }

    fn batch(&self) -> Result<RecordBatch, TableError> {
        let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = self
            .names
            .iter()
            .zip(&self.columns)
            .map(|(n, c)| {
                let (t, a) = c.to_arrow();
                (Field::new(n, t, matches!(c, Column::F64(_) | Column::OptI64(_))), a)
            })
            .unzip();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| TableError::Column { name: "*".into(), problem: e.to_string() })
    }

    /// Write atomically (a unique temporary in the same folder, synced,
    /// then renamed: `atomic::write_with`).
    pub fn write_parquet(&self, path: &Path) -> Result<(), TableError> {
        let batch = self.batch()?;
        crate::atomic::write_with(path, |f| {
            let mut w = ArrowWriter::try_new(f, batch.schema(), None)?;
            w.write(&batch)?;
            w.close()?;
            Ok(())
        })
        .map_err(|e| file_err(path, format!("{e:#}")))
    }

    pub fn read_parquet(path: &Path) -> Result<Table, TableError> {
        let f = File::open(path).map_err(|e| file_err(path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| file_err(path, format!("not a readable Parquet file: {e}")))?
            .build()
            .map_err(|e| file_err(path, e))?;
        let mut table: Option<Table> = None;
        for batch in reader {
            let batch = batch.map_err(|e| file_err(path, e))?;
            let mut part = Table::new();
            for (field, arr) in batch.schema().fields().iter().zip(batch.columns()) {
                let col = match field.data_type() {
                    DataType::Utf8 => {
                        let a = arr.as_any().downcast_ref::<StringArray>().expect("utf8 array");
                        Column::Str((0..a.len()).map(|i| a.value(i).to_string()).collect())
                    }
                    DataType::Float64 => {
                        let a = arr.as_any().downcast_ref::<Float64Array>().expect("f64 array");
                        Column::F64((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
                    }
                    DataType::Int64 if field.is_nullable() => {
                        let a = arr.as_any().downcast_ref::<Int64Array>().expect("i64 array");
                        Column::OptI64((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
                    }
                    DataType::Int64 => {
                        let a = arr.as_any().downcast_ref::<Int64Array>().expect("i64 array");
                        Column::I64(a.values().to_vec())
                    }
                    t => return Err(file_err(path, format!("column {} has unsupported type {t}", field.name()))),
                };
                part = part.with(field.name(), col)?;
            }
            table = Some(match table {
                None => part,
                Some(mut t) => {
                    for (c, p) in t.columns.iter_mut().zip(part.columns) {
                        match (c, p) {
                            (Column::Str(a), Column::Str(b)) => a.extend(b),
                            (Column::F64(a), Column::F64(b)) => a.extend(b),
                            (Column::I64(a), Column::I64(b)) => a.extend(b),
                            (Column::OptI64(a), Column::OptI64(b)) => a.extend(b),
                            _ => return Err(file_err(path, "column types change between row groups")),
                        }
                    }
                    t
                }
            });
        }
        Ok(table.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead writer's temporary from this host and PID namespace goes; a
    /// live one's stays; another host's or namespace's, or an old-format
    /// name, stays until it is a day old.
    #[test]
    fn sweeps_only_temporaries_known_to_be_abandoned() {
        let dir = std::env::temp_dir().join(format!("hoimat-sweep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (host, ns) = (crate::atomic::host(), crate::atomic::pid_namespace());
        let names = [
            format!(".a.parquet.0.0badcafe.tmp-{host}-{ns}-4294967295"),
            format!(".a.parquet.1.0badcafe.tmp-{host}-{ns}-{}", std::process::id()),
            format!(".a.parquet.2.0badcafe.tmp-{host}-{}-4294967295", ns + 1),
            ".a.parquet.3.0badcafe.tmp-elsewhere-7-1-1".to_string(),
            ".a.parquet.4.0badcafe.tmp-elsewhere-7-1-2".to_string(),
            ".a.parquet.tmp-1234".to_string(),
            "a.parquet".to_string(),
        ];
        for n in &names {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
        std::fs::File::options().write(true).open(dir.join(&names[4])).unwrap().set_modified(old).unwrap();
        sweep_stale_temporaries(&dir);
        let left: Vec<bool> = names.iter().map(|n| dir.join(n).exists()).collect();
        // ours and dead: gone; ours and live, another namespace's, another host's (fresh): kept;
        // another host's a day old: gone; an older version's (fresh) and the table: kept.
        assert_eq!(left, [false, true, true, true, false, true, true]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parquet_round_trip_and_no_temp_left() {
        let dir = std::env::temp_dir().join(format!("hoimat-table-{}", std::process::id()));
        let path = dir.join("t.parquet");
        let t = Table::new()
            .with("clip", Column::Str(vec!["a".into(), "b".into()]))
            .unwrap()
            .with("mad", Column::F64(vec![Some(1.5), None]))
            .unwrap()
            .with("frames", Column::I64(vec![3, 4]))
            .unwrap()
            .with("epoch", Column::OptI64(vec![None, Some(7)]))
            .unwrap();
        t.write_parquet(&path).unwrap();
        assert_eq!(Table::read_parquet(&path).unwrap(), t);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "only the table remains: {names:?}");
        assert!(Table::new().with("x", Column::I64(vec![1])).unwrap().with("y", Column::I64(vec![])).is_err());
        std::fs::write(dir.join("bad.parquet"), b"nope").unwrap();
        let e = Table::read_parquet(&dir.join("bad.parquet")).unwrap_err().to_string();
        assert!(e.contains("bad.parquet") && e.contains("Parquet"), "{e}");
    }
}
