//! The kernel's build cache: evcxr compiles cells (and, once, the hoimat
//! library) in a directory of its own. Two live kernels must not share one
//! (they would clobber each other's builds), so the cache is a set of slots,
//! each held with an exclusive file lock for the kernel's lifetime; a new
//! slot is seeded by copying the most recently used one, so the library
//! compiles once per machine rather than once per kernel.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// A locked cache slot (unlocked when dropped).
pub struct Slot {
    pub dir: PathBuf,
    _lock: File,
}

/// The cache root: `$HOIMAT_KERNEL_CACHE`, else `$XDG_CACHE_HOME/hoimat-kernel`,
/// else `~/.cache/hoimat-kernel`. Outside any cargo workspace on purpose.
pub fn root() -> PathBuf {
    if let Some(p) = std::env::var_os("HOIMAT_KERNEL_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hoimat-kernel")
}

fn used_at(dir: &Path) -> SystemTime {
    std::fs::metadata(dir.join("target")).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Lock the first free slot under `root`, creating (and seeding) one when
/// all are taken. With no warm slot under `root`, a new slot is seeded from
/// `fallback`'s (the polars flavour starts from the plain one's build, so
/// only the library and polars compile).
pub fn acquire(root: &Path, fallback: Option<&Path>) -> Result<Slot> {
    std::fs::create_dir_all(root).with_context(|| format!("{}: cannot create the kernel cache", root.display()))?;
    for i in 0..64 {
        let dir = root.join(format!("slot-{i}"));
        let lock_path = root.join(format!("slot-{i}.lock"));
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).with_context(|| format!("{}: cannot open", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {
                if !dir.join("target").is_dir() && !seed(root, &dir)? {
                    if let Some(f) = fallback {
                        seed(f, &dir)?;
                    }
                }
                std::fs::create_dir_all(&dir)?;
                return Ok(Slot { dir, _lock: lock });
            }
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("{}: cannot lock", lock_path.display())),
        }
    }
    bail!("{}: all 64 kernel cache slots are in use", root.display())
}

/// Copy the most recently used warm slot under `root` into `dir`; false
/// when there is none. Idle slots first (a slot a live kernel holds may be
/// mid-build; it is still taken when no other is warm, since a full cold
/// compile costs minutes). Best effort: the copy goes to a temporary
/// folder renamed into place only when complete (a half copy is never
/// taken for a warm slot), and a failed copy is reported and skipped, since
/// a cold slot still works.
fn seed(root: &Path, dir: &Path) -> Result<bool> {
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(false) };
    let mut warm: Vec<(bool, PathBuf, Option<File>)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != dir && is_slot(p) && p.join("target").is_dir())
        .map(|p| {
            // Held while we copy, when we can: no kernel starts building in it meanwhile.
            let lock = File::options().create(true).truncate(false).write(true).open(p.with_extension("lock")).ok().filter(|l| l.try_lock().is_ok());
            (lock.is_none(), p, lock)
        })
        .collect();
    warm.sort_by_key(|(busy, p, _)| (*busy, std::cmp::Reverse(used_at(p))));
    for (_, from, _lock) in &warm {
        let tmp = dir.with_file_name(format!(".{}.seeding-{}", dir.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let copied = std::process::Command::new("cp").arg("-a").arg(from).arg(&tmp).status().is_ok_and(|s| s.success());
        if copied {
            let _ = std::fs::remove_dir_all(dir);
            if std::fs::rename(&tmp, dir).is_ok() {
                return Ok(true);
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        eprintln!("hoimat-kernel: could not seed {} from {}; trying another or starting it cold", dir.display(), from.display());
    }
    Ok(false)
}

/// `slot-<n>`, not a lock file or a copy in progress.
fn is_slot(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("slot-")).is_some_and(|n| n.parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_slots_are_exclusive_and_new_ones_are_seeded() {
        let root = std::env::temp_dir().join(format!("hoimat-kcache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let a = acquire(&root, None).unwrap();
        assert!(a.dir.ends_with("slot-0"));
        std::fs::create_dir_all(a.dir.join("target")).unwrap();
        std::fs::write(a.dir.join("target/built"), b"x").unwrap();
        let b = acquire(&root, None).unwrap();
        assert!(b.dir.ends_with("slot-1"), "a held slot is not handed out twice");
        assert_eq!(std::fs::read(b.dir.join("target/built")).unwrap(), b"x", "seeded from the warm slot");
        drop(a);
        let c = acquire(&root, None).unwrap();
        assert!(c.dir.ends_with("slot-0"), "a released slot is reused");
        // Another flavour's root with no warm slot starts from this one's.
        let other = acquire(&root.join("polars"), Some(&root)).unwrap();
        assert_eq!(std::fs::read(other.dir.join("target/built")).unwrap(), b"x", "seeded from the fallback root");
        drop((b, c, other));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
