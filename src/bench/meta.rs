//! Cost of one MAML-RAL meta-iteration (paper Alg. 1): time and peak memory
//! for second order (the default, through the Hessian-vector product) and
//! first order (FOMAML), at the quick and paper widths. Random weights and
//! inputs: cost does not depend on their values.

use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind};

use crate::loss::matting_loss;
use crate::meta::constraints::FcConfig;
use crate::meta::hoi_loss::{hoi_loss, HoiWeights};
use crate::meta::maml::meta_gradient;
use crate::model::{BnMode, MattingNet, ModelConfig};
use crate::train::batch::Batch;

/// Peak resident memory of this process in MiB since the last reset (Linux);
/// `reset_peak` starts a new window.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn batch(t: i64, h: i64, w: i64, device: Device) -> Batch {
    let src = super::uniform("frames", &[1, t, 3, h, w], device);
    let pha = super::uniform("alpha", &[1, t, 1, h, w], device);
    Batch::new(src.shallow_clone(), pha, src)
}

/// Seconds and peak MiB of `iters` meta-iterations of `tasks` tasks each.
pub fn time_meta(cfg: &ModelConfig, h: i64, w: i64, seq: i64, tasks: usize, first_order: bool, iters: usize, device: Device) -> (f64, Option<f64>) {
    let factory = MattingNet::new(cfg, device, 0);
    let net = factory.duplicate();
    let (weights, fc) = (HoiWeights::default(), FcConfig::default());
    let mut times = vec![];
    reset_peak();
    for _ in 0..iters + 1 {
        let t0 = Instant::now();
        for _ in 0..tasks {
            let (a, b) = (batch(seq, h, w, device), batch(seq, h, w, device));
            let inner = |p: &crate::model::ParamSet| hoi_loss(&net, p, &factory, &a, &weights, &fc, BnMode::Batch).total;
            let outer = |p: &crate::model::ParamSet| {
                let o = net.forward_bn(p, &b.src, None, BnMode::Batch);
                matting_loss(&o.pha, &o.fgr, &b.pha, &b.fgr).total
            };
            let step = meta_gradient(&net.params, &inner, &outer, 0.05, 1, first_order);
            let _ = step.grads[0].sum(Kind::Float).double_value(&[]);
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    times.remove(0); // warm-up
    (super::model::median(times), if device == Device::Cpu { peak_rss_mib() } else { None })
}

pub fn run(device: Device) -> Result<()> {
    println!("MAML-RAL meta-iteration cost on {device:?}, {} threads; median seconds; peak RSS of the process (CPU only)", tch::get_num_threads());
    println!("{:<6} {:>9} {:>8} {:>5} {:>6} {:>7} {:>10} {:>10}", "width", "params", "size", "T", "tasks", "order", "s/iter", "peak MiB");
    let rows = [("quick", ModelConfig::quick(), 128, 72, 3, 4), ("quick", ModelConfig::quick(), 512, 288, 3, 1), ("paper", ModelConfig::paper(), 512, 288, 3, 1)];
    let mut ratio = vec![];
    for (name, cfg, w, h, seq, tasks) in rows {
        let mut pair = vec![];
        for first in [false, true] {
            let iters = if w >= 512 { 1 } else { 3 };
            let (s, mem) = time_meta(&cfg, h, w, seq, tasks, first, iters, device);
            let params = MattingNet::new(&cfg, Device::Cpu, 0).num_params();
            println!(
                "{:<6} {:>9} {:>8} {:>5} {:>6} {:>7} {:>10.2} {:>10}",
                name,
                params,
                format!("{w}x{h}"),
                seq,
                tasks,
                if first { "first" } else { "second" },
                s,
                mem.map_or("-".into(), |m| format!("{m:.0}"))
            );
            pair.push(s);
        }
        ratio.push(format!("{name} {w}x{h}: second/first = {:.2}", pair[0] / pair[1]));
    }
    println!("{}", ratio.join("; "));
    Ok(())
}
