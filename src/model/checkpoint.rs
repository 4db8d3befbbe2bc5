//! Checkpoints: parameters and BatchNorm buffers as safetensors (readable by
//! Python's `safetensors`), plus a JSON sidecar with the model configuration
//! and how the weights were made. Written to temporary names and renamed, so
//! a killed run leaves the previous checkpoint intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::matter::{Arch, Matter};
use super::matting_net::{MattingNet, ModelConfig};
use super::params::ParamSet;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sidecar {
    pub format: String,
    pub config: ModelConfig,
    /// The architecture (absent: RVM, the target model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// Free-form provenance: what trained it, profile, seed, steps, git commit...
    pub provenance: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
}

fn err(path: &Path, problem: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::File { path: path.to_path_buf(), problem: problem.to_string() }
}

pub fn sidecar_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// Write named tensors atomically.
pub fn write_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<(), CheckpointError> {
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| err(d, e))?;
    }
    let tmp = crate::atomic::temporary(path);
    let cpu: Vec<(String, Tensor)> = named.iter().map(|(n, t)| (n.clone(), t.detach().to_device(Device::Cpu).contiguous())).collect();
    let written = Tensor::write_safetensors(&cpu, &tmp).map_err(|e| err(path, e)).and_then(|_| {
        // On disk before the rename makes it visible.
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| err(path, e))
    });
    let placed = written.and_then(|_| std::fs::rename(&tmp, path).map_err(|e| err(path, e)));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>, CheckpointError> {
    if !path.is_file() {
        return Err(err(path, "no such checkpoint file"));
    }
    Tensor::read_safetensors(path).map_err(|e| err(path, format!("not a readable safetensors file: {e}")))
}

fn named(params: &ParamSet, buffers: &ParamSet) -> Vec<(String, Tensor)> {
    params
        .iter()
        .map(|(n, t)| (format!("param/{n}"), t.shallow_clone()))
        .chain(buffers.iter().map(|(n, t)| (format!("buffer/{n}"), t.shallow_clone())))
        .collect()
}

/// Save a model (`path` = `NAME.safetensors`, sidecar `NAME.json`).
pub fn save(net: &dyn Matter, path: &Path, provenance: serde_json::Value) -> Result<(), CheckpointError> {
    save_with(net, path, provenance, &[])
}

/// Save a model with extra tensors (optimizer state) in the same file, so
/// weights and the state that continues them are replaced together.
pub fn save_with(net: &dyn Matter, path: &Path, provenance: serde_json::Value, extra: &[(String, Tensor)]) -> Result<(), CheckpointError> {
    let arch = (net.arch() != Arch::Rvm).then_some(net.arch());
    let side = Sidecar { format: "hoimat-matting-net/1".into(), config: net.config().clone(), arch, provenance };
    let sp = sidecar_path(path);
    let mut all = named(net.params(), net.buffers());
    all.extend(extra.iter().map(|(n, t)| (n.clone(), t.shallow_clone())));
    write_tensors(path, &all)?;
    crate::atomic::write(&sp, (serde_json::to_string_pretty(&side).expect("sidecar serialises") + "\n").as_bytes()).map_err(|e| err(&sp, format!("{e:#}")))
}

pub fn read_sidecar(path: &Path) -> Result<Sidecar, CheckpointError> {
    let sp = sidecar_path(path);
    let text = std::fs::read_to_string(&sp).map_err(|e| err(&sp, e))?;
    serde_json::from_str(&text).map_err(|e| {
        // A checkpoint of an older engine has another model configuration:
        // say so rather than only that a field is unknown.
        let old = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["provenance"]["engine"].as_u64()).filter(|e| *e != crate::ENGINE as u64);
        match old {
            Some(engine) => err(&sp, format!("written by engine {engine}, whose network differs from this build's (engine {}: RVM's network layer for layer); retrain it, or import RVM's weights with `hoimat import rvm` ({e})", crate::ENGINE)),
            None => err(&sp, format!("not a hoimat checkpoint sidecar: {e}")),
        }
    })
}

/// Load an RVM checkpoint (the factory model, RVM-F, MAML-RAL) onto `device`.
pub fn load(path: &Path, device: Device) -> Result<(MattingNet, Sidecar), CheckpointError> {
    let side = read_sidecar(path)?;
    if let Some(a) = side.arch.filter(|a| *a != Arch::Rvm) {
        return Err(err(path, format!("holds a {a} model, not RVM (this step needs RVM's architecture)")));
    }
    let mut net = MattingNet::new(&side.config, device, 0);
    fill(&mut net, path, device)?;
    Ok((net, side))
}

/// Load a checkpoint of any architecture onto `device`.
pub fn load_model(path: &Path, device: Device) -> Result<(Box<dyn Matter>, Sidecar), CheckpointError> {
    let side = read_sidecar(path)?;
    let mut net = super::zoo::build(side.arch.unwrap_or(Arch::Rvm), &side.config, device, 0);
    fill(net.as_mut(), path, device)?;
    Ok((net, side))
}

/// Replace a freshly built model's weights with the file's, checking that
/// every tensor is there with the shape the architecture needs.
fn fill(net: &mut dyn Matter, path: &Path, device: Device) -> Result<(), CheckpointError> {
    let tensors = read_tensors(path)?;
    let find = |key: String| -> Result<Tensor, CheckpointError> {
        tensors.iter().find(|(n, _)| *n == key).map(|(_, t)| t.shallow_clone()).ok_or_else(|| err(path, format!("missing tensor {key}")))
    };
    let mut params = Vec::new();
    for (n, t) in net.params().iter() {
        let v = find(format!("param/{n}"))?;
        if v.size() != t.size() {
            return Err(err(path, format!("tensor param/{n} has shape {:?}, the config needs {:?}", v.size(), t.size())));
        }
        params.push((n.clone(), v.to_device(device).set_requires_grad(true)));
    }
    let mut buffers = Vec::new();
    for (n, _) in net.buffers().iter() {
        buffers.push((n.clone(), find(format!("buffer/{n}"))?.to_device(device)));
    }
    net.set_weights(ParamSet::from_pairs(params), ParamSet::from_pairs(buffers));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_2_sidecar_is_refused_naming_its_engine() {
        let dir = std::env::temp_dir().join(format!("hoimat-ckpt-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ckpt = dir.join("old.safetensors");
        let side = r#"{"format": "hoimat-matting-net/1", "config": {"width": 0.5, "depth": "lite", "last": 256, "aspp": 32, "decoder": [24, 16, 12, 8]}, "provenance": {"engine": 2}}"#;
        std::fs::write(sidecar_path(&ckpt), side).unwrap();
        let e = read_sidecar(&ckpt).unwrap_err().to_string();
        assert!(e.contains("old.json") && e.contains("written by engine 2") && e.contains("hoimat import rvm"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
