//! RVM's ONNX export as RVM's state dict: its weights unfolded from the
//! graph (`model::onnx_file`), and BatchNorm statistics measured again,
//! since the exporter folded them into the convolutions.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

use super::matting_net::ModelConfig;
use super::matter::Matter;
use super::rvm::{expected_keys, from_state_dict};

/// Bumped when [`calibrate`]'s frames or method change (it is part of an
/// imported factory model's key).
pub const CALIBRATION_VERSION: u32 = 1;

/// RVM's ONNX export (`rvm_mobilenetv3_fp32.onnx`) as RVM's state dict.
/// The exporter kept the names of the convolutions that stand alone
/// (squeeze-excitation, ConvGRU, heads, the refiner's box filter) and folded
/// every BatchNorm into the convolution before it, under numbered names.
/// The folded ones are matched, in graph order, to the network's
/// convolutions that a BatchNorm follows, in state-dict order (the forward
/// pass runs them in that order), each shape checked; the BatchNorm then
/// becomes the identity that keeps the folded result (weight 1, bias the
/// folded bias, mean 0, variance 1 - eps), exact for inference, and is
/// then given statistics measured on the world's frames ([`calibrate`]) so
/// that training mode behaves too. The segmentation head (`project_seg`),
/// which matting never runs, is not exported and becomes zeros.
pub fn state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let tensors = from_onnx_graph(path, &super::onnx_file::read(path)?)?;
    calibrate(path, tensors)
}

/// The width (config) of RVM's ONNX export, without the calibration
/// (planning asks for it often).
pub fn config_of(path: &Path) -> Result<ModelConfig> {
    let tensors = from_onnx_graph(path, &super::onnx_file::read(path)?)?;
    Ok(from_state_dict(path, tensors)?.0.cfg)
}

/// [`state_dict`] before calibration, on a parsed graph (`path` names it
/// in errors).
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

/// Statistics for the unfolded BatchNorms. With mean 0 and variance 1 a
/// BatchNorm is exact in inference but not in training, where it divides
/// each channel by its batch statistics and so drops the folded scale
/// (measured: local adaptation from it collapsed, held-out mIoU 0.43 ->
/// 0.19). Each BatchNorm's input is measured over frames of the world
/// (four `synvm` training clips at 128x72, two at ratio 1 and two at 256x144
/// through the refiner, the state carried), and the layer rewritten with
/// that mean m and variance v as its statistics, weight sqrt(v + eps) and
/// bias m + c (c the folded bias): the same function in inference (to
/// float rounding), and in training on frames like these the batch
/// statistics are close to m and v, so the layer stays close to it too.
///
/// One thread, so that the same file gives the same checkpoint bit for bit
/// whatever the caller's thread count (the model's key is the file's hash;
/// the CPU's instruction set and libtorch's version can still move the last
/// bits, as for any trained model).
fn calibrate(path: &Path, mut tensors: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
    let (net, _) = from_state_dict(path, tensors.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect())?;
    let plans: Vec<_> = crate::world::plan(crate::world::SetName::SynVm, crate::profile::Profile::Quick, 0).into_iter().filter(|p| p.meta.split == "train").take(4).collect();
    anyhow::ensure!(plans.len() == 4, "the world has fewer than four synvm training clips");
    let clips: Vec<crate::frame::Clip> = plans.iter().map(crate::world::render).collect();
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let (_, stats) = super::layers::record_bn_inputs(|| {
        tch::no_grad(|| {
            for (k, clip) in clips.iter().enumerate() {
                let (w, h) = clip.frames[0].size();
                let frames: Vec<Tensor> = clip.frames.iter().map(|f| Tensor::from_slice(&f.com.data).view([h as i64, w as i64, 3]).permute([2, 0, 1])).collect();
                let mut src = Tensor::stack(&frames, 0).unsqueeze(0);
                let ratio = if k < 2 { 1.0 } else { 0.5 };
                if ratio < 1.0 {
                    src = src.squeeze_dim(0).upsample_bilinear2d([2 * h as i64, 2 * w as i64], false, None, None).unsqueeze(0);
                }
                let mut state: Option<Vec<Tensor>> = None;
                for t in 0..src.size()[1] {
                    let p = net.run_at(&net.params, &src.narrow(1, t, 1), state.as_deref(), ratio);
                    state = Some(p.state);
                }
            }
        })
    });
    tch::set_num_threads(threads);
    let eps = |bn: &str| if bn.starts_with("backbone.") { super::encoder::EPS } else { 1e-5 };
    let bns: Vec<String> = tensors.iter().filter_map(|(n, _)| n.strip_suffix(".running_mean").map(String::from)).collect();
    for bn in bns {
        let Some((m, v)) = stats.get(&bn) else { bail!("{}: BatchNorm {bn} never ran while measuring", path.display()) };
        let finite = |t: &Tensor| t.isfinite().all().int64_value(&[]) == 1;
        anyhow::ensure!(finite(m) && finite(v), "{}: BatchNorm {bn}'s measured statistics are not finite", path.display());
        let c = tensors.iter().find(|(n, _)| *n == format!("{bn}.bias")).expect("a BatchNorm bias").1.detach();
        let mut set = |key: &str, t: Tensor| {
            let slot = tensors.iter_mut().find(|(n, _)| *n == format!("{bn}.{key}")).expect("a BatchNorm key");
            slot.1 = t;
        };
        set("weight", (v + eps(&bn)).sqrt());
        set("bias", m + c);
        set("running_mean", m.shallow_clone());
        set("running_var", v.shallow_clone());
    }
    Ok(tensors)
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
