//! The engine: the model learns, training is deterministic and resumes
//! exactly, checkpoints round-trip, and `hoimat infer` writes a tree that
//! `hoimat eval` scores.

mod common;

use std::process::Command;

use hoimat::loss::matting_loss;
use hoimat::model::{checkpoint, MattingNet, ModelConfig};
use hoimat::prelude::*;
use hoimat::train::adam::Adam;
use hoimat::train::batch::{sample, ClipTensors, Sampling};
use hoimat::train::supervised::{train, train_until, FactoryConfig};
use tch::{Device, Tensor};

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-engine-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn loss_falls_on_a_tiny_overfit_task() {
    let _serial = common::serial();
    tch::set_num_threads(1);
    let ds = world::generate("synmeta", Profile::Smoke, 0).unwrap();
    let clips: Vec<ClipTensors> = ds.clips.iter().take(1).map(ClipTensors::from_clip).collect();
    let batch = sample(&clips, &Sampling { batch: 1, seq_len: 2, swap_background: 0.0, flip: 0.0 }, &mut hoimat::world::rng::Rand::keyed("overfit", 0));
    let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 0);
    let mut opt = Adam::new(&net.params, 3e-3);
    let params: Vec<&Tensor> = net.params.tensors().iter().collect();
    let mut losses = vec![];
    for _ in 0..40 {
        let o = net.forward(&batch.src, None, true);
        let l = matting_loss(&o.pha, &o.fgr, &batch.pha, &batch.fgr).total;
        losses.push(l.double_value(&[]));
        let g = Tensor::run_backward(&[&l], &params, false, false);
        opt.update(&net.params, &g);
    }
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last < 0.5 * first, "loss {first} -> {last}: {losses:?}");
}

fn tensors_of(path: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = checkpoint::read_tensors(path)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, Vec::<f32>::try_from(t.to_kind(tch::Kind::Float).reshape([-1])).unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn training_is_deterministic_and_resumes_exactly() {
    let _serial = common::serial();
    let dir = scratch("det");
    let mut cfg = FactoryConfig::for_profile(Profile::Smoke, 5);
    cfg.steps = 6;
    cfg.ckpt_every = 3;
    cfg.val_every = 6;
    cfg.threads = 2;
    let a = dir.join("a.safetensors");
    let b = dir.join("b.safetensors");
    let c = dir.join("c.safetensors");
    let run = train(&cfg, &a, false, Device::Cpu).unwrap();
    assert_eq!(run.log.len(), 6);
    train(&cfg, &b, false, Device::Cpu).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "same seed, same checkpoint bytes");
    // killed after step 3, then resumed
    train_until(&cfg, &c, false, Device::Cpu, Some(3)).unwrap();
    let side = checkpoint::read_sidecar(&c).unwrap();
    assert_eq!(side.provenance["step"], 3);
    train(&cfg, &c, true, Device::Cpu).unwrap();
    assert_eq!(tensors_of(&a), tensors_of(&c), "resumed run equals the uninterrupted one");
    // a different seed gives different weights
    let mut other = cfg.clone();
    other.seed = 6;
    let d = dir.join("d.safetensors");
    train(&other, &d, false, Device::Cpu).unwrap();
    assert_ne!(tensors_of(&a), tensors_of(&d));
    // resuming with another configuration is refused with the file named
    let e = train(&other, &a, true, Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("a.safetensors") && e.contains("another configuration"), "{e}");
}

#[test]
fn checkpoints_round_trip_and_bad_files_are_named() {
    let _serial = common::serial();
    let dir = scratch("ckpt");
    let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 3);
    let p = dir.join("m.safetensors");
    checkpoint::save(&net, &p, serde_json::json!({"note": "test"})).unwrap();
    let (back, side) = checkpoint::load(&p, Device::Cpu).unwrap();
    assert_eq!(side.config, ModelConfig::quick());
    let src = Tensor::rand([1, 2, 3, 36, 64], (tch::Kind::Float, Device::Cpu));
    let (x, y) = tch::no_grad(|| (net.forward(&src, None, false).pha, back.forward(&src, None, false).pha));
    assert_eq!(Vec::<f32>::try_from(x.reshape([-1])).unwrap(), Vec::<f32>::try_from(y.reshape([-1])).unwrap());
    std::fs::write(&p, b"garbage").unwrap();
    let e = checkpoint::load(&p, Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("m.safetensors") && e.contains("safetensors"), "{e}");
    let e = checkpoint::load(&dir.join("none.safetensors"), Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("none"), "{e}");
}

#[test]
fn infer_writes_a_tree_that_eval_scores() {
    let _serial = common::serial();
    let dir = scratch("infer");
    let g = hoimat::data::export::generate(SetName::SynVbhoi, Profile::Smoke, 0, &dir.join("data"), hoimat::data::export::Format::Png).unwrap();
    let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 0);
    let ckpt = dir.join("m.safetensors");
    checkpoint::save(&net, &ckpt, serde_json::json!({})).unwrap();
    let bin = env!("CARGO_BIN_EXE_hoimat");
    let out = Command::new(bin).args(["infer", "--cpu", "--ckpt"]).arg(&ckpt).arg("--input").arg(dir.join("data")).arg("--out").arg(dir.join("pred")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = hoimat::data::png::read_manifest(&g.path).unwrap();
    for c in &m.clips {
        for i in 0..c.n_frames {
            let f = dir.join("pred").join("synvbhoi").join(&c.name).join("pha").join(format!("{i:04}.png"));
            let img = image::open(&f).unwrap();
            assert_eq!((img.width(), img.height()), (64, 36));
        }
    }
    let out = Command::new(bin).args(["eval", "--json", "--pred-dir"]).arg(dir.join("pred")).arg("--true-dir").arg(dir.join("data")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["miou"].as_f64().unwrap() > 0.0);
}
