//! The device check (`hoimat bench gpu`, driven by `benches/gpu_check.sh`
//! on a lent GPU machine): is CUDA found and used, does a CUDA forward of
//! RVM's network agree with the CPU's, and what it costs there (inference
//! frames/s at 512x288 and at 1920x1080 through the refiner, one
//! second-order meta-iteration at the paper width). Prints one JSON line per
//! figure, so the script (and a test of its dry run) can read them. With
//! `dry_run` it runs the same code on the CPU at small sizes.

use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::meta::time_meta;
use super::model::time_infer_at;
use crate::model::{BnMode, MattingNet, ModelConfig};

fn emit(v: serde_json::Value) {
    println!("{v}");
}

/// Give a random network soft outputs, as data-dependent initialisation
/// does (alpha about 0.5 +- 0.25 on `src`), and a refiner that does work,
/// so parity compares real values, not mattes clamped flat. The alpha
/// row's raw output is read through `project_seg` (the same 1x1 conv over
/// the same hidden map) by copying the row there first.
fn soften(net: &mut MattingNet, src: &Tensor) {
    tch::no_grad(|| {
        let g = Tensor::randn([4, net.cfg.decoder[3], 1, 1], (Kind::Float, Device::Cpu)) * 0.05;
        let _ = net.params.get("refiner.conv.6.weight").shallow_clone().copy_(&g);
        let (w, b) = (net.params.get("project_mat.conv.weight").narrow(0, 3, 1), net.params.get("project_mat.conv.bias").narrow(0, 3, 1));
        let _ = net.params.get("project_seg.conv.weight").shallow_clone().copy_(&w);
        let _ = net.params.get("project_seg.conv.bias").shallow_clone().copy_(&b);
        let (raw, _) = net.segment(&net.params, src, None, BnMode::Running);
        let (mean, std) = (raw.mean(Kind::Float).double_value(&[]), raw.std(true).double_value(&[]).max(1e-6));
        let _ = w.shallow_clone().g_mul_scalar_(0.25 / std);
        let _ = b.shallow_clone().g_sub_scalar_(mean).g_mul_scalar_(0.25 / std).g_add_scalar_(0.5);
    });
}

pub fn run(dry_run: bool) -> Result<()> {
    let info = crate::torch_env::info();
    let device = if dry_run { Device::Cpu } else { Device::cuda_if_available() };
    emit(serde_json::json!({"check": "device", "cuda_available": info.cuda_available, "cuda_devices": info.cuda_devices, "cudnn": info.cudnn_available, "used": format!("{device:?}"), "dry_run": dry_run}));
    if !dry_run && device == Device::Cpu {
        anyhow::bail!("CUDA is not available to this binary (libtorch_cuda not loaded, or no GPU): see benches/gpu_check.sh for the loader path");
    }
    // Sizes: the real ones on a GPU, small ones in a dry run.
    let (cfg, small, big, meta) = if dry_run {
        (ModelConfig::quick(), (64, 36), (192, 108), (64, 36))
    } else {
        (ModelConfig::paper(), (512, 288), (1920, 1080), (512, 288))
    };
    // Parity: the same weights on the CPU and on the device.
    let mut cpu_net = MattingNet::new(&cfg, Device::Cpu, 0);
    tch::manual_seed(1);
    let src = Tensor::rand([1, 3, 3, small.1, small.0], (Kind::Float, Device::Cpu));
    soften(&mut cpu_net, &src);
    let mut dev_net = MattingNet::new(&cfg, device, 0);
    dev_net.params = cpu_net.params.to_device(device);
    dev_net.buffers = cpu_net.buffers.to_device(device);
    for ratio in [1.0, 0.5] {
        let (a, b) = tch::no_grad(|| {
            let a = cpu_net.forward_at(&cpu_net.params, &src, None, BnMode::Running, ratio);
            let b = dev_net.forward_at(&dev_net.params, &src.to_device(device), None, BnMode::Running, ratio);
            (a, b)
        });
        let d = (&a.pha - b.pha.to_device(Device::Cpu)).abs().max().double_value(&[]);
        let df = (&a.fgr - b.fgr.to_device(Device::Cpu)).abs().max().double_value(&[]);
        // The share of alpha strictly inside (0, 1): parity on clamped values proves nothing.
        let soft = a.pha.gt(0.01).logical_and(&a.pha.lt(0.99)).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        emit(serde_json::json!({"check": "parity", "ratio": ratio, "size": format!("{}x{}", small.0, small.1), "max_abs_alpha": d, "max_abs_fgr": df, "soft_alpha_share": soft, "within_1e-3": d < 1e-3 && df < 1e-3, "tf32": std::env::var("NVIDIA_TF32_OVERRIDE").map_or("libtorch default", |v| if v == "0" { "off" } else { "on" })}));
    }
    let iters = if dry_run { 2 } else { 20 };
    for ((w, h), ratio) in [(small, 1.0), (big, 0.25)] {
        let ms = time_infer_at(&dev_net, 1, 1, h, w, iters, device, ratio);
        emit(serde_json::json!({"check": "inference", "width": cfg.width, "size": format!("{w}x{h}"), "downsample_ratio": ratio, "ms": ms, "frames_per_s": 1e3 / ms}));
    }
    let t0 = Instant::now();
    let (s, _) = time_meta(&cfg, meta.1, meta.0, 3, 1, false, 1, device);
    emit(serde_json::json!({"check": "meta_iteration", "order": "second", "size": format!("{}x{}", meta.0, meta.1), "tasks": 1, "seq": 3, "seconds": s, "wall_s": t0.elapsed().as_secs_f64()}));
    Ok(())
}
