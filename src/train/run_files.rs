//! The files a training run keeps beside its checkpoint, shared by every
//! trainer (factory, RVM-F, MAML-RAL): the output folder and the JSON-lines
//! log, replaced atomically so a killed run never leaves half a log.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Create the folder `out` will be written to.
pub fn prepare_output(out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the output folder", dir.display()))?;
    }
    Ok(())
}

/// Write `lines` as JSON lines to `path` (temporary file, then rename).
pub fn write_log<T: Serialize>(path: &Path, lines: &[T]) -> Result<()> {
    let text: String = lines.iter().map(|l| serde_json::to_string(l).expect("log line serialises") + "\n").collect();
    crate::atomic::write(path, text.as_bytes()).context("cannot write the training log")
}

/// Append one JSON line to `path`, so a long run's log can be followed as it
/// goes. A line half-written by a killed process is skipped on resume
/// (readers parse line by line) and the next checkpoint's [`write_log`]
/// replaces the file whole.
pub fn append_log<T: Serialize>(path: &Path, line: &T) -> Result<()> {
    use std::io::Write;
    let text = serde_json::to_string(line).expect("log line serialises") + "\n";
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("{}: cannot open the training log", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("{}: cannot append to the training log", path.display()))
}
