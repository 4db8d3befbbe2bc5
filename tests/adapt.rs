//! Local adaptation at the smoke profile: a weak model adapted to one HOI
//! clip from a few annotated frames gets better on the clip's held-out
//! frames; the run is deterministic; the CLI writes an adapted checkpoint.

mod common;

use std::process::Command;

use hoimat::adapt::{adapt, AdaptConfig, AugmentConfig, NoisyAnnotator, SamplingKind, Strategy};
use hoimat::model::checkpoint;
use hoimat::prelude::*;
use hoimat::train::supervised::{train, FactoryConfig};
use tch::Device;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-adapt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn factory(dir: &std::path::Path) -> std::path::PathBuf {
    let mut cfg = FactoryConfig::for_profile(Profile::Smoke, 0);
    // 30 steps once sufficed; on the world's version 2 that factory
    // predicted no foreground at all on the clip (mIoU 0.43, alpha clamped
    // at 0, so no gradient), and adaptation had nothing to start from.
    cfg.set_steps(80);
    cfg.threads = 2;
    let p = dir.join("factory.safetensors");
    train(&cfg, &p, false, Device::Cpu).unwrap();
    p
}

#[test]
fn adaptation_learns_the_clip_and_is_deterministic() {
    let _serial = common::serial();
    tch::set_num_threads(2);
    let dir = scratch("learn");
    let f = factory(&dir);
    let (net, _) = checkpoint::load(&f, Device::Cpu).unwrap();
    let set = world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
    let clip = &set.clips[0];
    let mut cfg = AdaptConfig::for_profile(Profile::Smoke);
    cfg.epochs = 8;
    cfg.frames = 10;
    cfg.augment = AugmentConfig::none();
    cfg.strategy = Strategy::Normal;
    cfg.sampling = SamplingKind::Random;
    let ann = NoisyAnnotator { noise: 0.0 };
    let run = adapt(&net, &net, clip, &ann, &[], &cfg, None, |_| {});
    let (first, last) = (&run.log[0], run.log.last().unwrap());
    assert_eq!(run.log.len(), 9);
    let curve: Vec<String> = run.log.iter().map(|l| format!("{:.1}/{:.3}", l.mad, l.miou)).collect();
    assert!(last.mad < first.mad * 0.9, "held-out MAD x1e3 {} -> {} (MAD/mIoU per epoch: {curve:?})", first.mad, last.mad);
    assert!(last.miou > first.miou, "held-out mIoU {} -> {}", first.miou, last.miou);
    assert!(run.captured.iter().all(|&i| i < clip.frames.len()));
    assert_eq!(run.captured.len(), 10.min(clip.frames.len() - 1), "one frame at least is held out");
    // Same seed, same numbers (SGT with augmentation on, too).
    cfg.strategy = Strategy::Sgt;
    cfg.epochs = 2;
    cfg.augment = AugmentConfig::default();
    let bgs: Vec<tch::Tensor> = world::generate("synvm", Profile::Smoke, 0).unwrap().clips.iter().take(3).filter_map(|c| hoimat::train::batch::ClipTensors::from_clip(c).bgr).collect();
    let a = adapt(&net, &net, clip, &NoisyAnnotator { noise: 0.5 }, &bgs, &cfg, None, |_| {});
    let b = adapt(&net, &net, clip, &NoisyAnnotator { noise: 0.5 }, &bgs, &cfg, None, |_| {});
    let v = |r: &hoimat::adapt::AdaptRun| r.log.iter().map(|l| (l.miou, l.mad)).collect::<Vec<_>>();
    assert_eq!(v(&a), v(&b));
}

#[test]
fn adapt_cli_writes_a_checkpoint_and_rejects_a_missing_clip() {
    let _serial = common::serial();
    let dir = scratch("cli");
    let f = factory(&dir);
    let data = dir.join("data");
    hoimat::data::export::generate(SetName::SynVbhoi, Profile::Smoke, 0, &data, hoimat::data::export::Format::Png).unwrap();
    let clip = std::fs::read_dir(data.join("synvbhoi")).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).min().unwrap();
    let out = dir.join("adapted.safetensors");
    let o = Command::new(env!("CARGO_BIN_EXE_hoimat"))
        .args(["adapt", "--profile", "smoke", "--epochs", "2", "--cpu", "--ckpt"])
        .arg(&f)
        .arg("--clip")
        .arg(&clip)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("epoch   2: held-out mIoU"), "{text}");
    let side = checkpoint::read_sidecar(&out).unwrap();
    assert_eq!(side.provenance["trainer"], "local_adaptation");
    assert_eq!(side.provenance["log"].as_array().unwrap().len(), 3);
    let bad = Command::new(env!("CARGO_BIN_EXE_hoimat")).args(["adapt", "--cpu", "--ckpt"]).arg(&f).args(["--clip", "/nonexistent/clip", "--out"]).arg(&out).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/clip"));
}
