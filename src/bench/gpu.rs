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
    let cpu_net = MattingNet::new(&cfg, Device::Cpu, 0);
    let mut dev_net = MattingNet::new(&cfg, device, 0);
    dev_net.params = cpu_net.params.to_device(device);
    dev_net.buffers = cpu_net.buffers.to_device(device);
    tch::manual_seed(1);
    let src = Tensor::rand([1, 3, 3, small.1, small.0], (Kind::Float, Device::Cpu));
    for ratio in [1.0, 0.5] {
        let (a, b) = tch::no_grad(|| {
            let a = cpu_net.forward_at(&cpu_net.params, &src, None, BnMode::Running, ratio);
            let b = dev_net.forward_at(&dev_net.params, &src.to_device(device), None, BnMode::Running, ratio);
            (a, b)
        });
        let d = (&a.pha - b.pha.to_device(Device::Cpu)).abs().max().double_value(&[]);
        let df = (&a.fgr - b.fgr.to_device(Device::Cpu)).abs().max().double_value(&[]);
        emit(serde_json::json!({"check": "parity", "ratio": ratio, "size": format!("{}x{}", small.0, small.1), "max_abs_alpha": d, "max_abs_fgr": df, "within_1e-3": d < 1e-3 && df < 1e-3}));
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
