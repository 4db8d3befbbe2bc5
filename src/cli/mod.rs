//! The `hoimat` binary's command groups (the binary's own modules; the
//! library is `src/lib.rs`). Each is a thin layer over the library.

pub mod adapt;
pub mod bench;
pub mod data;
pub mod diagnose;
pub mod eval;
pub mod infer;
pub mod reproduce;
pub mod train;

/// `--input-resize WxH`.
pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    use anyhow::Context;
    let (w, h) = s.split_once('x').with_context(|| format!("--input-resize {s}: expected WxH"))?;
    Ok((w.parse().with_context(|| format!("--input-resize {s}: width"))?, h.parse().with_context(|| format!("--input-resize {s}: height"))?))
}
