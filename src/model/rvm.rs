//! RVM's own checkpoints in and out. `import` reads a `state_dict` saved by
//! RVM's code (`torch.save(model.state_dict())`, the `rvm_mobilenetv3.pth`
//! release format) or a safetensors file with the same keys, checks every
//! key and shape against the network, and writes a hoimat checkpoint;
//! `export` writes the reverse, which RVM's `load_state_dict` takes. The
//! hoimat network carries RVM's key names, so the mapping is the identity
//! but for the `param/` / `buffer/` prefixes and BatchNorm's
//! `num_batches_tracked` counters (kept under `tracked/` so a round trip
//! is bit-identical; PyTorch ignores them when a momentum is set, as here).

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

use super::checkpoint::{self, Sidecar};
use super::matting_net::{MattingNet, ModelConfig};
use super::torch_file;

/// RVM's `state_dict` of a network of `cfg`: every key in RVM's order with
/// the shape and dtype it must have.
pub fn expected_keys(cfg: &ModelConfig) -> Vec<(String, Vec<i64>, Kind)> {
    let net = MattingNet::new(cfg, Device::Cpu, 0);
    let mut out = Vec::new();
    for (n, t) in net.params.iter() {
        out.push((n.clone(), t.size(), Kind::Float));
        // PyTorch lists a BatchNorm's buffers right after its bias.
        if let Some(bn) = n.strip_suffix(".bias").filter(|bn| net.buffers.try_get(&format!("{bn}.running_mean")).is_some()) {
            for b in ["running_mean", "running_var"] {
                out.push((format!("{bn}.{b}"), net.buffers.get(&format!("{bn}.{b}")).size(), Kind::Float));
            }
            out.push((format!("{bn}.num_batches_tracked"), vec![], Kind::Int64));
        }
    }
    out
}

/// The first problem of `tensors` as a state dict of `cfg`, if any.
fn mismatch(cfg: &ModelConfig, tensors: &[(String, Tensor)]) -> Option<String> {
    let want = expected_keys(cfg);
    for (k, shape, _) in &want {
        match tensors.iter().find(|(n, _)| n == k) {
            None => return Some(format!("missing tensor {k} (shape {shape:?})")),
            Some((_, t)) if t.size() != *shape => return Some(format!("tensor {k} has shape {:?}, RVM's network needs {shape:?}", t.size())),
            _ => {}
        }
    }
    tensors.iter().find(|(n, _)| !want.iter().any(|(k, _, _)| k == n)).map(|(n, _)| format!("unexpected tensor {n} (not a key of RVM's MattingNetwork('mobilenetv3'))"))
}

/// Read a state dict from a `.pth` (torch.save), `.safetensors` or `.onnx`
/// file.
pub fn read_any(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return super::rvm_onnx::state_dict(path);
    }
    let mut head = [0u8; 4];
    std::io::Read::read_exact(&mut std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?, &mut head)
        .with_context(|| format!("{}: too short to be a checkpoint", path.display()))?;
    if &head == b"PK\x03\x04" {
        torch_file::read_state_dict(path)
    } else if head[0] == 0x80 {
        bail!("{}: a pickle, i.e. torch.save's legacy format (torch < 1.6); re-save it with a current torch.save", path.display())
    } else {
        Tensor::read_safetensors(path).with_context(|| format!("{}: neither a torch.save zip nor a safetensors file", path.display()))
    }
}

/// An RVM state dict as a hoimat network of the width it fits (`paper`, or
/// the narrow `quick`), plus its `num_batches_tracked` counters. Every key
/// and shape is checked; the error names the file and the first problem.
pub fn from_state_dict(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<(MattingNet, Vec<(String, Tensor)>)> {
    let candidates = [ModelConfig::paper(), ModelConfig::quick()];
    let cfg = match candidates.iter().find(|c| mismatch(c, &tensors).is_none()) {
        Some(c) => c.clone(),
        None => {
            // Report against the width whose stem fits, else RVM's own.
            let stem = tensors.iter().find(|(n, _)| n == "backbone.features.0.0.weight").map(|(_, t)| t.size());
            let c = candidates.iter().find(|c| Some(MattingNet::new(c, Device::Cpu, 0).params.get("backbone.features.0.0.weight").size()) == stem).unwrap_or(&candidates[0]);
            bail!("{}: {}", path.display(), mismatch(c, &tensors).expect("a mismatch was found"));
        }
    };
    let mut net = MattingNet::new(&cfg, Device::Cpu, 0);
    let take = |name: &str| -> Result<Tensor> {
        let t = &tensors.iter().find(|(n, _)| n == name).expect("checked above").1;
        if !t.is_floating_point() {
            bail!("{}: tensor {name} holds {:?} values, not floating point", path.display(), t.kind());
        }
        Ok(t.to_kind(Kind::Float).contiguous())
    };
    let params = net.params.names().iter().map(|n| Ok((n.clone(), take(n)?.set_requires_grad(true)))).collect::<Result<Vec<_>>>()?;
    let buffers = net.buffers.names().iter().map(|n| Ok((n.clone(), take(n)?))).collect::<Result<Vec<_>>>()?;
    net.params = super::ParamSet::from_pairs(params);
    net.buffers = super::ParamSet::from_pairs(buffers);
    let tracked = tensors.into_iter().filter(|(n, _)| n.ends_with(".num_batches_tracked")).map(|(n, t)| (n, t.to_kind(Kind::Int64))).collect();
    Ok((net, tracked))
}

/// The configuration (width) of RVM's checkpoint at `path`.
pub fn config_of(path: &Path) -> Result<ModelConfig> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return super::rvm_onnx::config_of(path);
    }
    Ok(from_state_dict(path, read_any(path)?)?.0.cfg)
}

/// `hoimat import rvm`: RVM's checkpoint at `src` as a hoimat checkpoint at
/// `out` (its sidecar records the source). Returns the network's config.
pub fn import(src: &Path, out: &Path) -> Result<ModelConfig> {
    let tensors = read_any(src)?;
    let (net, tracked) = from_state_dict(src, tensors)?;
    let bytes = std::fs::metadata(src).map(|m| m.len()).unwrap_or(0);
    let prov = serde_json::json!({
        "trainer": "import",
        "imported_from": src.display().to_string(),
        "source_bytes": bytes,
        "source_format": match src.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("safetensors") => "safetensors",
            Some("onnx") => "onnx (BatchNorms unfolded and their statistics measured on the world's frames)",
            _ => "torch.save state_dict",
        },
        "done": true,
        "engine": crate::ENGINE,
        "hoimat_version": env!("CARGO_PKG_VERSION"),
    });
    let extra: Vec<(String, Tensor)> = tracked.into_iter().map(|(n, t)| (format!("tracked/{n}"), t)).collect();
    checkpoint::save_with(&net, out, prov, &extra)?;
    Ok(net.cfg.clone())
}

/// `hoimat export rvm`: a hoimat RVM checkpoint as RVM's state dict
/// (`torch.save` format, or safetensors when `out` ends in `.safetensors`).
pub fn export(ckpt: &Path, out: &Path) -> Result<()> {
    let side: Sidecar = checkpoint::read_sidecar(ckpt)?;
    if let Some(a) = side.arch.filter(|a| *a != super::Arch::Rvm) {
        bail!("{}: holds a {a} model; only RVM's network exports to RVM's format", ckpt.display());
    }
    let file = checkpoint::read_tensors(ckpt)?;
    let find = |k: &str| file.iter().find(|(n, _)| n == k).map(|(_, t)| t.shallow_clone());
    let mut named = Vec::new();
    for (k, shape, kind) in expected_keys(&side.config) {
        let t = if kind == Kind::Int64 {
            find(&format!("tracked/{k}")).unwrap_or_else(|| Tensor::from(0i64))
        } else {
            find(&format!("param/{k}")).or_else(|| find(&format!("buffer/{k}"))).with_context(|| format!("{}: missing tensor {k}", ckpt.display()))?
        };
        if t.size() != shape {
            bail!("{}: tensor {k} has shape {:?}, RVM's network of this width needs {shape:?}", ckpt.display(), t.size());
        }
        named.push((k, t));
    }
    if out.extension().is_some_and(|e| e == "safetensors") {
        checkpoint::write_tensors(out, &named)?;
        Ok(())
    } else {
        torch_file::write_state_dict(out, &named)
    }
}
