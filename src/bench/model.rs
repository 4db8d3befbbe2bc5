//! Model speed: inference frames/s (recurrent state carried between calls)
//! and training-step time, for the quick and paper widths at 512x288 and at
//! the quick profile's size; and the same architecture in PyTorch eager
//! (`benches/reference_torch.py`) timed in the same run, as a ratio.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use crate::model::{Matter, MattingNet, ModelConfig};
use crate::profile::Profile;

/// Median of timings (the upper middle for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median milliseconds per inference call of B x T frames.
pub fn time_infer(net: &dyn Matter, b: i64, t: i64, h: i64, w: i64, iters: usize, device: Device) -> f64 {
    time_infer_at(net, b, t, h, w, iters, device, 1.0)
}

/// [`time_infer`] at RVM's `downsample_ratio` (the refiner path below 1).
#[allow(clippy::too_many_arguments)]
pub fn time_infer_at(net: &dyn Matter, b: i64, t: i64, h: i64, w: i64, iters: usize, device: Device, ratio: f64) -> f64 {
    // Interactive models also read their prompt maps (empty here: the
    // network's cost does not depend on where the clicks are).
    let src = Tensor::cat(&[super::uniform("frames", &[b, t, 3, h, w], device), Tensor::zeros([b, t, net.prompt_channels(), h, w], (Kind::Float, device))], 2);
    tch::no_grad(|| {
        let mut rec: Option<Vec<Tensor>> = None;
        let mut times = vec![];
        for i in 0..iters + 2 {
            let t0 = Instant::now();
            let out = net.run_at(net.params(), &src, rec.as_deref(), ratio);
            let _ = out.pha.sum(Kind::Float).double_value(&[]);
            if i >= 2 {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            rec = Some(out.state);
        }
        median(times)
    })
}

/// Median milliseconds per training step (forward, loss, backward, SGD).
pub fn time_train(net: &MattingNet, b: i64, t: i64, h: i64, w: i64, iters: usize, device: Device) -> f64 {
    let src = super::uniform("frames", &[b, t, 3, h, w], device);
    let params: Vec<&Tensor> = net.params.tensors().iter().collect();
    let mut times = vec![];
    for i in 0..iters + 2 {
        let t0 = Instant::now();
        let out = net.forward(&src, None, true);
        let loss = (&out.pha - 0.5).abs().mean(Kind::Float) + (&out.fgr - 0.5).abs().mean(Kind::Float);
        let grads = Tensor::run_backward(&[&loss], &params, false, false);
        net.params.descend(&grads, 1e-3);
        let _ = loss.double_value(&[]);
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    median(times)
}

#[allow(clippy::too_many_arguments)]
fn reference(config: &str, mode: &str, b: i64, t: i64, h: i64, w: i64, iters: usize, ratio: f64) -> Option<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join("reference_torch.py");
    if !script.is_file() {
        return None;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let threads = tch::get_num_threads().to_string();
    let out = Command::new(python)
        .arg(&script)
        .args(["--config", config, "--mode", mode, "--batch", &b.to_string(), "--seq", &t.to_string()])
        .args(["--height", &h.to_string(), "--width", &w.to_string(), "--iters", &iters.to_string(), "--warmup", "2", "--threads", &threads, "--ratio", &ratio.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("reference_torch.py failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last()?).ok()?;
    v["median_ms"].as_f64()
}

pub fn run(device: Device, with_reference: bool) -> Result<()> {
    let (qw, qh) = Profile::Quick.frame_size();
    println!("model speed on {device:?}, {} libtorch threads; medians; ratio = ours / PyTorch eager (< 1 is faster)", tch::get_num_threads());
    println!("{:<7} {:>9} {:>9} {:>6} {:>10} {:>6} {:>8} {:>10} {:>10} {:>7}", "config", "params", "size", "dsr", "GFLOP/fr", "mode", "B x T", "ours ms", "torch ms", "ratio");
    for (name, cfg) in [("quick", ModelConfig::quick()), ("paper", ModelConfig::paper())] {
        let net = MattingNet::new(&cfg, device, 0);
        // (w, h, downsample_ratio, modes): the profile size, 512x288, and
        // for RVM's own width the high-resolution refiner path at 1080p.
        let mut sizes = vec![(qw as i64, qh as i64, 1.0, vec![("infer", 1, 1), ("train", 2, 4)]), (512, 288, 1.0, vec![("infer", 1, 1), ("train", 2, 4)])];
        if name == "paper" {
            sizes.push((1920, 1080, 0.25, vec![("infer", 1, 1)]));
        }
        for (w, h, dsr, modes) in sizes {
            let gflop = if dsr == 1.0 { format!("{:.3}", net.flops_per_frame(h, w) as f64 / 1e9) } else { "-".into() };
            for (mode, b, t) in modes {
                let big = name == "paper" && w >= 512;
                let iters = if big && mode == "train" { 3 } else if big { 5 } else { 10 };
                let ours = if mode == "infer" { time_infer_at(&net, b, t, h, w, iters, device, dsr) } else { time_train(&net, b, t, h, w, iters, device) };
                let theirs = if with_reference && device == Device::Cpu { reference(name, mode, b, t, h, w, iters, dsr) } else { None };
                let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
                println!(
                    "{:<7} {:>9} {:>9} {:>6} {:>10} {:>6} {:>8} {:>10.1} {:>10} {:>7}",
                    name,
                    net.num_params(),
                    format!("{w}x{h}"),
                    dsr,
                    gflop,
                    mode,
                    format!("{b} x {t}"),
                    ours,
                    fmt(theirs),
                    theirs.map_or("-".into(), |x| format!("{:.2}", ours / x))
                );
                if mode == "infer" {
                    println!("{:>60} {:.1} frames/s", "", 1e3 * (b * t) as f64 / ours);
                }
            }
        }
    }
    Ok(())
}
