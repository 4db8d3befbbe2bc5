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

/// RVM's ONNX export (`rvm_mobilenetv3_fp32.onnx`) as RVM's state dict.
/// The exporter kept the names of the convolutions that stand alone
/// (squeeze-excitation, ConvGRU, heads, the refiner's box filter) and folded
/// every BatchNorm into the convolution before it, under numbered names.
/// The folded ones are matched, in graph order, to the network's
/// convolutions that a BatchNorm follows, in state-dict order (the forward
/// pass runs them in that order), each shape checked; the BatchNorm then
/// becomes the identity that keeps the folded result (weight 1, bias the
/// folded bias, mean 0, variance 1 - eps), exact for inference. Training
/// from it differs from training from the `.pth`: batch statistics see the
/// folded per-channel scales, and the original statistics are not in the
/// file. The segmentation head (`project_seg`), which matting never runs,
/// is not exported and becomes zeros.
pub fn state_dict_from_onnx(path: &Path) -> Result<Vec<(String, Tensor)>> {
    from_onnx_graph(path, &super::onnx_file::read(path)?)
}

/// [`state_dict_from_onnx`] on a parsed graph (`path` names it in errors).
fn from_onnx_graph(path: &Path, g: &super::onnx_file::OnnxGraph) -> Result<Vec<(String, Tensor)>> {
    // RVM's release is the paper width; the error is the paper width's
    // unless the narrow one's stem fits.
    if let Some(t) = g.initializers.iter().find(|t| t.data_type != super::onnx_file::FLOAT && g.nodes.iter().any(|n| n.op_type == "Conv" && n.inputs.get(1) == Some(&t.name))) {
        bail!("{}: convolution weights of ONNX data type {} ({}); hoimat imports RVM's float32 export (rvm_mobilenetv3_fp32.onnx)", path.display(), t.data_type, if t.data_type == 10 { "float16" } else { "not float32" });
    }
    match unfold(g, &ModelConfig::paper()) {
        Ok(t) => Ok(t),
        Err(e) => unfold(g, &ModelConfig::quick()).or(Err(e)).with_context(|| format!("{}: not RVM's MattingNetwork('mobilenetv3') as ONNX", path.display())),
    }
}

fn unfold(g: &super::onnx_file::OnnxGraph, cfg: &ModelConfig) -> Result<Vec<(String, Tensor)>> {
    let keys = expected_keys(cfg);
    let is_key = |k: &str| keys.iter().any(|(n, _, _)| n == k);
    // Convolutions a BatchNorm follows: (conv weight key, BatchNorm prefix).
    let folded: Vec<(String, String)> = keys
        .windows(2)
        .filter_map(|w| {
            let bn = w[1].0.strip_suffix(".weight")?;
            (w[0].1.len() == 4 && is_key(&format!("{bn}.running_mean"))).then(|| (w[0].0.clone(), bn.to_string()))
        })
        .collect();
    let tensor = |i: &super::onnx_file::Initializer| Tensor::from_slice(&i.data).view(i.dims.as_slice());
    let mut out: Vec<(String, Tensor)> = vec![];
    let mut next = folded.iter();
    for node in g.nodes.iter().filter(|n| n.op_type == "Conv") {
        let Some(w) = node.inputs.get(1).and_then(|n| g.initializer(n)) else { continue };
        let bias = node.inputs.get(2).and_then(|n| g.initializer(n));
        if is_key(&w.name) {
            // A named convolution may run more than once (the refiner's box
            // filter smooths several maps).
            for t in std::iter::once(w).chain(bias.filter(|b| is_key(&b.name))) {
                if !out.iter().any(|(n, _)| *n == t.name) {
                    out.push((t.name.clone(), tensor(t)));
                }
            }
            continue;
        }
        let Some((conv, bn)) = next.next() else { bail!("more folded convolutions than RVM's network has ({})", folded.len()) };
        let want = &keys.iter().find(|(n, _, _)| n == conv).expect("a key").1;
        anyhow::ensure!(&w.dims == want, "convolution {} of the graph is {:?}; the {} in this place is {want:?}", w.name, w.dims, conv);
        let c = want[0];
        let eps = if conv.starts_with("backbone.") { super::encoder::EPS } else { 1e-5 };
        out.push((conv.clone(), tensor(w)));
        out.push((format!("{bn}.weight"), Tensor::ones([c], (Kind::Float, Device::Cpu))));
        out.push((format!("{bn}.bias"), bias.map_or_else(|| Tensor::zeros([c], (Kind::Float, Device::Cpu)), tensor)));
        out.push((format!("{bn}.running_mean"), Tensor::zeros([c], (Kind::Float, Device::Cpu))));
        out.push((format!("{bn}.running_var"), Tensor::full([c], 1.0 - eps, (Kind::Float, Device::Cpu))));
        out.push((format!("{bn}.num_batches_tracked"), Tensor::from(0i64)));
    }
    anyhow::ensure!(next.next().is_none(), "fewer folded convolutions than RVM's network has ({})", folded.len());
    // The segmentation head trains on segmentation data and matting never
    // runs it, so the export leaves it out: zeros stand in.
    let absent: Vec<_> = keys.iter().filter(|(k, _, _)| k.starts_with("project_seg.") && !out.iter().any(|(n, _)| n == k)).collect();
    for (k, shape, _) in absent {
        out.push((k.clone(), Tensor::zeros(shape.as_slice(), (Kind::Float, Device::Cpu))));
    }
    if let Some((k, shape, _)) = keys.iter().find(|(k, _, _)| !out.iter().any(|(n, _)| n == k)) {
        bail!("missing tensor {k} (shape {shape:?})");
    }
    Ok(out)
}

/// Read a state dict from a `.pth` (torch.save), `.safetensors` or `.onnx`
/// file.
pub fn read_any(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return state_dict_from_onnx(path);
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
            Some("onnx") => "onnx (BatchNorm folded into the convolutions)",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::onnx_file::{Initializer, Node, OnnxGraph};

    /// RVM's float16 export is refused with its reason, naming the file.
    #[test]
    fn a_float16_export_is_refused_with_the_reason() {
        let g = OnnxGraph {
            nodes: vec![Node { op_type: "Conv".into(), inputs: vec!["src".into(), "824".into(), "825".into()] }],
            initializers: vec![Initializer { name: "824".into(), dims: vec![16, 3, 3, 3], data_type: 10, data: vec![] }],
        };
        let e = format!("{:#}", from_onnx_graph(Path::new("rvm_mobilenetv3_fp16.onnx"), &g).unwrap_err());
        assert!(e.contains("rvm_mobilenetv3_fp16.onnx") && e.contains("float16") && e.contains("fp32"), "{e}");
    }
}
