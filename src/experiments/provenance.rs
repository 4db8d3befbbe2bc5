//! Provenance helpers: a stable configuration hash (the cache key of
//! models and runs), the git commit of the source, and a UTC timestamp.

use std::path::Path;

/// FNV-1a 64 of a JSON value's canonical text, as 16 hex digits. serde_json
/// writes struct fields in declaration order and maps sorted (BTreeMap), so
/// the same configuration always gives the same text and hash.
pub fn config_hash(v: &serde_json::Value) -> String {
    fnv1a(serde_json::to_string(v).expect("JSON value serialises").as_bytes())
}

/// FNV-1a 64 of some bytes, as 16 hex digits.
pub fn fnv1a(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a_u64(bytes))
}

/// FNV-1a 64 of some bytes.
pub fn fnv1a_u64(bytes: &[u8]) -> u64 {
    fnv1a_from(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a 64 continued from the state `h` over more bytes.
fn fnv1a_from(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a 64 of a file's bytes, or of a folder's frames (the image files
/// a recording or its labels are read from: names and contents, in name
/// order; other files such as notes or `.DS_Store` do not count): what a
/// user's recording contributes to a run's key, so a changed frame or
/// label is a new run and a moved folder is not. Remembered per file by
/// size and modification time, since every plan hashes its recordings for
/// each method and seed, and streamed (a phone video is hundreds of MB).
pub fn content_hash(path: &Path) -> anyhow::Result<String> {
    use anyhow::Context;
    if path.is_dir() {
        let mut text = String::new();
        for f in crate::data::png::list_frames(path).map_err(|e| anyhow::anyhow!("{e}"))? {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            text.push_str(&format!("{name}\0{}\n", content_hash(&f)?));
        }
        return Ok(fnv1a(text.as_bytes()));
    }
    type Seen = std::collections::HashMap<(std::path::PathBuf, u64, Option<std::time::SystemTime>), String>;
    static SEEN: std::sync::OnceLock<std::sync::Mutex<Seen>> = std::sync::OnceLock::new();
    let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let seen = SEEN.get_or_init(Default::default);
    if let Some(h) = seen.lock().expect("hash cache").get(&key) {
        return Ok(h.clone());
    }
    let mut file = std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 0 {
            break;
        }
        h = fnv1a_from(h, &buf[..n]);
    }
    let hex = format!("{h:016x}");
    seen.lock().expect("hash cache").insert(key, hex.clone());
    Ok(hex)
}

/// The commit the library was built from, with `-dirty` when tracked files
/// differ from it; "unknown" outside a git checkout.
pub fn git_commit() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        std::process::Command::new("git").arg("-C").arg(dir).args(args).output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{c}-dirty") } else { c }
        }
        None => "unknown".into(),
    }
}

/// Now, as RFC 3339 UTC with seconds.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format_utc(secs)
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector);
    /// a folder counts its frames only, and a changed frame changes it.
    #[test]
    fn content_hash_of_a_file_and_of_a_folders_frames() {
        let d = std::env::temp_dir().join(format!("hoimat-content-hash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.bin"), b"a").unwrap();
        assert_eq!(super::content_hash(&d.join("a.bin")).unwrap(), "af63dc4c8601ec8c");
        let f = d.join("frames");
        std::fs::create_dir_all(&f).unwrap();
        std::fs::write(f.join("000000.png"), b"one").unwrap();
        let h = super::content_hash(&f).unwrap();
        std::fs::write(f.join("notes.txt"), b"not a frame").unwrap();
        assert_eq!(super::content_hash(&f).unwrap(), h, "other files do not count");
        std::fs::write(f.join("000000.png"), b"two!").unwrap();
        assert_ne!(super::content_hash(&f).unwrap(), h);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn utc_dates_and_hash_stability() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_798_761_599), "2026-12-31T23:59:59Z");
        let a = config_hash(&serde_json::json!({"lr": 0.1, "steps": 3}));
        assert_eq!(a, config_hash(&serde_json::json!({"lr": 0.1, "steps": 3})));
        assert_ne!(a, config_hash(&serde_json::json!({"lr": 0.1, "steps": 4})));
        assert_eq!(a.len(), 16);
        // FNV-1a 64 of the two bytes "{}", computed independently.
        assert_eq!(config_hash(&serde_json::json!({})), "08f44b07b5901a25");
    }
}
