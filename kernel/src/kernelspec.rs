//! `hoimat-kernel install`: the kernelspec Jupyter uses to start us, with
//! the environment the kernel needs baked in (libtorch's library folder on
//! the loader path, the project's `.venv` and cargo on `PATH`), since
//! Jupyter starts kernels with its own environment, not the project's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

/// Variables copied from the installing environment into the kernelspec.
const CARRIED: [&str; 9] = ["PATH", "LD_LIBRARY_PATH", "LIBTORCH_USE_PYTORCH", "HOIMAT_TORCH_LIB", "VIRTUAL_ENV", "CARGO_HOME", "RUSTUP_HOME", "RAYON_NUM_THREADS", "HOIMAT_KERNEL_CACHE"];

/// Where the kernelspec goes: `<prefix>/share/jupyter/kernels/<name>`, or
/// the user's Jupyter data folder.
pub fn target_dir(prefix: Option<&Path>, name: &str) -> Result<PathBuf> {
    let base = match prefix {
        Some(p) => p.join("share/jupyter"),
        None => match std::env::var_os("JUPYTER_DATA_DIR") {
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set; pass --prefix")?).join(".local/share/jupyter"),
        },
    };
    Ok(base.join("kernels").join(name))
}

/// The kernelspec; `polars` makes the flavour that preloads the library's
/// `polars` feature (`hoimat (Rust, polars)`).
pub fn spec(exe: &Path, root: &Path, polars: bool) -> Value {
    let mut env = Map::new();
    for k in CARRIED {
        if let Some(v) = std::env::var_os(k) {
            env.insert(k.into(), Value::String(v.to_string_lossy().into()));
        }
    }
    env.insert("HOIMAT_ROOT".into(), Value::String(root.display().to_string()));
    let mut argv = vec![exe.display().to_string(), "start".into(), "--connection-file".into(), "{connection_file}".into()];
    if polars {
        argv.push("--polars".into());
    }
    json!({
        "argv": argv,
        "display_name": if polars { "hoimat (Rust, polars)" } else { "hoimat (Rust)" },
        "language": "rust",
        "interrupt_mode": "message",
        "env": env,
        "metadata": { "debugger": false },
    })
}

/// Write `kernel.json` and return the kernelspec's folder.
pub fn install(prefix: Option<&Path>, name: &str, polars: bool) -> Result<PathBuf> {
    let dir = target_dir(prefix, name)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let exe = std::env::current_exe()?.canonicalize()?;
    let root = crate::session::hoimat_root().canonicalize().context("the hoimat checkout")?;
    let path = dir.join("kernel.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec(&exe, &root, polars))?).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_starts_us_with_the_connection_file_and_interrupts_by_message() {
        let s = spec(Path::new("/x/hoimat-kernel"), Path::new("/repo"), false);
        assert_eq!(s["argv"][0], "/x/hoimat-kernel");
        assert_eq!(s["argv"][3], "{connection_file}");
        assert_eq!(s["argv"].as_array().unwrap().len(), 4);
        let p = spec(Path::new("/x/hoimat-kernel"), Path::new("/repo"), true);
        assert_eq!(p["argv"][4], "--polars");
        assert_eq!(p["display_name"], "hoimat (Rust, polars)");
        assert_eq!(s["interrupt_mode"], "message");
        assert_eq!(s["env"]["HOIMAT_ROOT"], "/repo");
        assert_eq!(target_dir(Some(Path::new("/p")), "hoimat").unwrap(), PathBuf::from("/p/share/jupyter/kernels/hoimat"));
    }
}
