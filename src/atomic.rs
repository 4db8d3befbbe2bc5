//! Writing a file so that readers see the old content or the new, never half
//! of it: write a temporary beside it (unique to this process and call, so
//! concurrent writers never share one), sync it to disk, then rename over
//! the target (one filesystem, so the rename is atomic). A killed run leaves
//! at most a stale `.<name>.<n>.<nonce>.tmp-<host>-<pid namespace>-<pid>`, which
//! `store::table::sweep_stale_temporaries` removes once the process is gone.
//! The host is in the name because on a cluster many machines write one
//! shared results folder, and a process id means something only on its own
//! machine.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// This machine's name as it appears in temporary names (`-` and `.` kept,
/// anything unusual replaced, so the name stays one path component).
pub fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer outlives the call and its length is passed.
        let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name: String = String::from_utf8_lossy(&buf[..end])
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        if ok && !name.is_empty() { name } else { "localhost".into() }
    })
}

/// This process's PID namespace (the inode of `/proc/self/ns/pid`; 0 where
/// there is none): containers on one node may share its host name and
/// reuse process ids, so a process id is read only in its own namespace.
pub fn pid_namespace() -> u64 {
    static NS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NS.get_or_init(|| {
        std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .and_then(|l| l.to_string_lossy().trim_start_matches("pid:[").trim_end_matches(']').parse().ok())
            .unwrap_or(0)
    })
}

/// A fresh temporary name for writing `path`:
/// `.<name>.<n>.<nonce>.tmp-<host>-<pid namespace>-<pid>`. The nonce is
/// random per process, so two writers never share a name.
pub fn temporary(path: &Path) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    static NONCE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let nonce = *NONCE.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish() as u32);
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{n}.{nonce:08x}.tmp-{}-{}-{}", host(), pid_namespace(), std::process::id()))
}

/// The writer of a temporary made by [`temporary`]: its host, PID
/// namespace and process id.
pub fn writer_of(temporary: &str) -> Option<(&str, u64, u32)> {
    let (_, who) = temporary.rsplit_once(".tmp-")?;
    let (rest, pid) = who.rsplit_once('-')?;
    let (host, ns) = rest.rsplit_once('-')?;
    Some((host, ns.parse().ok()?, pid.parse().ok()?))
}
/// Write `bytes` to `path` atomically, creating its folder if needed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |f| {
        use std::io::Write;
        f.write_all(bytes)?;
        Ok(())
    })
}

/// Write `path` atomically with `fill` writing (and seeking in) the file.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let tmp = temporary(path);
    let result = (|| {
        let mut f = File::create(&tmp).with_context(|| format!("{}: cannot write", tmp.display()))?;
        fill(&mut f).with_context(|| format!("{}: cannot write", path.display()))?;
        f.sync_all().with_context(|| format!("{}: cannot sync", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let (a, b) = (temporary(Path::new("d/REPORT.md")), temporary(Path::new("d/REPORT.md")));
        assert_ne!(a, b, "every call gets its own temporary");
        let pid = std::process::id();
        assert!(a.to_string_lossy().starts_with("d/.REPORT.md.") && a.to_string_lossy().ends_with(&format!(".tmp-{}-{}-{pid}", host(), pid_namespace())), "{a:?}");
        assert_eq!(writer_of(&a.to_string_lossy()), Some((host(), pid_namespace(), pid)));
        assert_eq!(writer_of(".t2.parquet.7.0badcafe.tmp-node-a-17.cluster-4026531836-4242"), Some(("node-a-17.cluster", 4026531836, 4242)));
        assert_eq!(writer_of(".t2.parquet.tmp-4242"), None, "an older version's name");
        assert_eq!(writer_of(".t2.parquet"), None);
        let dir = std::env::temp_dir().join(format!("hoimat-atomic-{pid}"));
        let p = dir.join("sub/f.txt");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1, "no temporary left");
        // A failing writer leaves the old file and no temporary.
        assert!(write_with(&p, |_| anyhow::bail!("boom")).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
