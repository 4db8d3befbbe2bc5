//! The zoo side by side with RVM: parameters, FLOPs per frame, inference
//! frames/s (state carried) and a training step with each model's own loss,
//! all measured in one run, with ratios to RVM (Table VI's question: what
//! does each architecture cost?).

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::model::{median, time_infer};
use crate::loss::{model_loss, Targets};
use crate::model::layers::count_flops;
use crate::model::{zoo, Arch, Matter, ModelConfig};
use crate::profile::Profile;
use crate::train::supervised::gradients;

/// FLOPs (2 x multiply-adds of the convolutions) of one frame at h x w.
pub fn flops_per_frame(net: &dyn Matter, h: i64, w: i64) -> u64 {
    let src = Tensor::zeros([1, 1, 3 + net.prompt_channels(), h, w], (Kind::Float, net.params().device()));
    tch::no_grad(|| count_flops(|| net.run(net.params(), &src, None, false))).1
}

/// Median milliseconds of a training step (forward, the model's own loss on
/// random targets with label maps, backward, an SGD update).
pub fn time_train_step(net: &dyn Matter, b: i64, t: i64, h: i64, w: i64, iters: usize, device: Device) -> f64 {
    let opts = (Kind::Float, device);
    let src = Tensor::cat(&[super::uniform("frames", &[b, t, 3, h, w], device), Tensor::zeros([b, t, net.prompt_channels(), h, w], opts)], 2);
    let pha = super::uniform("alpha", &[b, t, 1, h, w], device).gt(0.5).to_kind(Kind::Float);
    let fgr = super::uniform("foreground", &[b, t, 3, h, w], device);
    let labels = (super::uniform("labels", &[b, t, 1, h, w], device) * 5.0).floor();
    let mut times = vec![];
    for i in 0..iters + 2 {
        let t0 = std::time::Instant::now();
        let out = net.run(net.params(), &src, None, true);
        let loss = model_loss(net.arch(), &out, &Targets { pha: &pha, fgr: &fgr, labels: Some(&labels) });
        let grads = gradients(&loss, net.params());
        net.params().descend(&grads, 1e-4);
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    median(times)
}

pub fn run(device: Device, archs: &[Arch]) -> Result<()> {
    let cfg = ModelConfig::quick();
    let (qw, qh) = Profile::Quick.frame_size();
    let (qw, qh) = (qw as i64, qh as i64);
    println!("zoo at the quick width on {device:?}, {} libtorch threads; medians; x RVM = this model's cost / RVM's in this run", tch::get_num_threads());
    println!("{:<17} {:>9} {:>9} {:>10} {:>8} {:>10} {:>8} {:>12} {:>8}", "model", "params", "GFLOP/fr", "fps 128x72", "x RVM", "fps 512x288", "x RVM", "train ms", "x RVM");
    let mut base: Option<(f64, f64, f64)> = None;
    let mut list = vec![Arch::Rvm];
    list.extend(archs.iter().copied().filter(|a| *a != Arch::Rvm));
    for arch in list {
        let net = zoo::build(arch, &cfg, device, 0);
        let gflop = flops_per_frame(net.as_ref(), qh, qw) as f64 / 1e9;
        let small = time_infer(net.as_ref(), 1, 1, qh, qw, 20, device);
        let big = time_infer(net.as_ref(), 1, 1, 288, 512, 5, device);
        let train = time_train_step(net.as_ref(), 4, 4, qh, qw, 5, device);
        let (s0, b0, t0) = *base.get_or_insert((small, big, train));
        println!(
            "{:<17} {:>9} {:>9.3} {:>10.1} {:>8.2} {:>10.1} {:>8.2} {:>12.1} {:>8.2}",
            arch.name(),
            net.params().numel(),
            gflop,
            1e3 / small,
            small / s0,
            1e3 / big,
            big / b0,
            train,
            train / t0
        );
    }
    Ok(())
}
