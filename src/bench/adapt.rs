//! Cost of local adaptation: the time of one SGD step of the HOI loss on a
//! k-frame sequence (the unit every epoch is made of), at the quick width
//! (128x72) and the paper width (512x288), and the time per clip it implies
//! for each profile's defaults (steps per epoch x epochs; SGT and normal
//! training cost the same per epoch by construction).

use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use crate::adapt::sgt::sgd_step;
use crate::adapt::{AdaptConfig, SamplingKind};
use crate::meta::constraints::FcConfig;
use crate::meta::hoi_loss::HoiWeights;
use crate::model::{MattingNet, ModelConfig};
use crate::profile::Profile;
use crate::train::batch::Batch;

/// Median seconds of one adaptation step.
pub fn time_step(cfg: &ModelConfig, k: i64, h: i64, w: i64, iters: usize, device: Device) -> f64 {
    let net = MattingNet::new(cfg, device, 0);
    let factory = net.duplicate();
    let src = Tensor::rand([1, k, 3, h, w], (Kind::Float, device));
    let b = Batch::new(src.shallow_clone(), src.narrow(2, 0, 1).round(), src.shallow_clone());
    let theta = net.params.detached(true);
    let mut t = vec![];
    for i in 0..iters + 1 {
        let t0 = Instant::now();
        sgd_step(&net, &theta, &factory, &b, &HoiWeights::default(), &FcConfig::default(), 1e-3);
        if i > 0 {
            t.push(t0.elapsed().as_secs_f64());
        }
    }
    super::model::median(t)
}

pub fn run(device: Device) -> Result<()> {
    println!("local adaptation cost on {device:?}, {} threads (median of a few steps; per-clip time = steps x step time, evaluation excluded)", tch::get_num_threads());
    println!("{:<8} {:<6} {:>8} {:>4} {:>9} {:>7} {:>7} {:>11} {:>11}", "profile", "width", "size", "k", "s/step", "groups", "epochs", "random s", "sequential s");
    for p in [Profile::Quick, Profile::Paper] {
        let a = AdaptConfig::for_profile(p);
        let (w, h) = p.frame_size();
        let mc = ModelConfig::for_profile(p);
        let iters = if p == Profile::Paper { 2 } else { 5 };
        let s = time_step(&mc, a.seq_len as i64, h as i64, w as i64, iters, device);
        let per_epoch = |kind: SamplingKind| {
            let windows = match kind {
                SamplingKind::Random => 1,
                SamplingKind::Sequential => a.frames.div_ceil(a.seq_len),
            };
            (windows * a.groups.max(1)) as f64 * s
        };
        println!(
            "{:<8} {:<6} {:>8} {:>4} {:>9.3} {:>7} {:>7} {:>11.1} {:>11.1}",
            p.name(),
            if p == Profile::Paper { "paper" } else { "quick" },
            format!("{w}x{h}"),
            a.seq_len,
            s,
            a.groups,
            a.epochs,
            per_epoch(SamplingKind::Random) * a.epochs as f64,
            per_epoch(SamplingKind::Sequential) * a.epochs as f64
        );
    }
    Ok(())
}
