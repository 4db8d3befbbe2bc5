//! Writing a file so that readers see the old content or the new, never half
//! of it: write `<path>.tmp` beside it, then rename over it (one filesystem,
//! so the rename is atomic). A killed run leaves at most a stale `.tmp`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The temporary name used while writing `path`: `<name>.<ext>.tmp`.
pub fn temporary(path: &Path) -> PathBuf {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    path.with_extension(if ext.is_empty() { "tmp".to_string() } else { format!("{ext}.tmp") })
}

/// Write `bytes` to `path` atomically, creating its folder if needed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let tmp = temporary(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        assert_eq!(temporary(Path::new("a/REPORT.md")), PathBuf::from("a/REPORT.md.tmp"));
        assert_eq!(temporary(Path::new("a/x.log.jsonl")), PathBuf::from("a/x.log.jsonl.tmp"));
        let dir = std::env::temp_dir().join(format!("hoimat-atomic-{}", std::process::id()));
        let p = dir.join("sub/f.txt");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!temporary(&p).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
