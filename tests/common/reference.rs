//! Running a Python reference from `.venv` and reading what it wrote: the
//! tests that check hoimat's network against PyTorch's twin and against
//! onnxruntime share these.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use hoimat::train::batch::ClipTensors;
use tch::{Device, Kind, Tensor};

/// `$PYTHON args...` (`.venv`'s, as `./run` sets); its stdout. A failure
/// fails the test with Python's stderr.
pub fn python(args: &[&std::ffi::OsStr]) -> String {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(py).args(args).output().expect("python runs");
    assert!(o.status.success(), "python {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Frames [T, 3, H, W] as a clip to predict (its alpha unused).
pub fn clip_of(src: &Tensor, name: &str) -> ClipTensors {
    let s = src.size();
    ClipTensors { name: name.into(), com: src.shallow_clone(), pha: Tensor::zeros([s[0], 1, s[2], s[3]], (Kind::Float, Device::Cpu)), fgr: src.shallow_clone(), bgr: None, object: None, labels: None }
}

/// The reference's `pha` and `fgr` from the .npz it wrote.
pub fn pha_fgr(npz: &Path) -> (Tensor, Tensor) {
    let theirs = Tensor::read_npz(npz).unwrap();
    let get = |k: &str| theirs.iter().find(|(n, _)| n == k).unwrap_or_else(|| panic!("{}: no {k}", npz.display())).1.shallow_clone();
    (get("pha"), get("fgr"))
}
