//! Link-time fixes for libtorch (see ../shared/STACK.md in the project notes):
//! 1. embed libtorch's folder as the run path, so `target/*/hoimat` finds
//!    `libtorch_cpu.so` without a wrapper (LD_LIBRARY_PATH still wins, which
//!    is how a carried binary uses another machine's torch);
//! 2. force `libtorch_cuda.so` into the link: with as-needed linking it is
//!    dropped (nothing references it directly) and CUDA then reports
//!    unavailable on a GPU machine.
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=PYTHON");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    let Some(dir) = torch_lib_dir() else {
        println!("cargo:warning=libtorch not found via python; run the build through ./run");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    let cuda = dir.join("libtorch_cuda.so");
    if cuda.exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,{},--as-needed", cuda.display());
    }
}
