//! The zoo through the shared machinery: every architecture trains with the
//! supervised trainer (deterministic, resumable), round-trips through a
//! checkpoint that names its architecture, runs from the command line, and
//! its backbone starts from a factory checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hoimat::model::{checkpoint, zoo, Arch, MattingNet, ModelConfig};
use hoimat::profile::Profile;
use hoimat::train::supervised::{copy_backbone, train, train_until, zoo_config, FactoryConfig};
use tch::{Device, Kind, Tensor};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-zoo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tensors_of(p: &Path) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = checkpoint::read_tensors(p)
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n.starts_with("param/"))
        .map(|(n, t)| (n, Vec::<f32>::try_from(t.to_kind(Kind::Float).reshape([-1])).unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn small(arch: Arch, factory: &Path) -> FactoryConfig {
    let mut cfg = zoo_config(Profile::Smoke, 1, arch, factory);
    cfg.steps = 4;
    cfg.ckpt_every = 2;
    cfg.val_every = 4;
    cfg.threads = 2;
    cfg
}

/// A factory stand-in: an RVM of the quick width, saved.
fn factory(dir: &Path) -> PathBuf {
    let p = dir.join("factory.safetensors");
    checkpoint::save(&MattingNet::new(&ModelConfig::quick(), Device::Cpu, 9), &p, serde_json::json!({})).unwrap();
    p
}

#[test]
fn a_recurrent_zoo_model_trains_deterministically_and_resumes_exactly() {
    let _serial = common::serial();
    let dir = scratch("det");
    let f = factory(&dir);
    let cfg = small(Arch::AttentionMemory, &f);
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    let run = train(&cfg, &a, false, Device::Cpu).unwrap();
    assert_eq!(run.net.arch(), Arch::AttentionMemory);
    assert!(run.log.iter().all(|l| l.loss.is_finite()));
    train_until(&cfg, &b, false, Device::Cpu, Some(2)).unwrap();
    train(&cfg, &b, true, Device::Cpu).unwrap();
    assert_eq!(tensors_of(&a), tensors_of(&b), "killed at step 2 and resumed = uninterrupted");
    let side = checkpoint::read_sidecar(&a).unwrap();
    assert_eq!(side.arch, Some(Arch::AttentionMemory));
}

#[test]
fn backbone_copy_takes_the_factory_encoder_and_nothing_else() {
    let _serial = common::serial();
    let dir = scratch("backbone");
    let f = factory(&dir);
    let rvm = checkpoint::load(&f, Device::Cpu).unwrap().0;
    for arch in Arch::ZOO {
        let net = zoo::build(arch, &ModelConfig::quick(), Device::Cpu, 0);
        let n = copy_backbone(net.as_ref(), &f).unwrap();
        let enc = net.params().names().iter().filter(|n| n.starts_with("backbone.")).count();
        assert!(n >= enc, "{arch}: {n} tensors copied, {enc} encoder parameters");
        for (name, t) in net.params().iter().filter(|(n, _)| n.starts_with("backbone.")) {
            assert!(t.equal(rvm.params.get(name)), "{arch}: {name} not copied");
        }
    }
    // Another width: nothing matches, and the error names the file.
    let other = zoo::build(Arch::Modnet, &ModelConfig::paper(), Device::Cpu, 0);
    let e = copy_backbone(other.as_ref(), &f).unwrap_err().to_string();
    assert!(e.contains("factory.safetensors"), "{e}");
}

#[test]
fn every_architecture_round_trips_through_a_checkpoint() {
    let _serial = common::serial();
    let dir = scratch("ckpt");
    let src = Tensor::rand([1, 2, 3, 36, 64], (Kind::Float, Device::Cpu));
    for arch in Arch::ZOO {
        let net = zoo::build(arch, &ModelConfig::quick(), Device::Cpu, 4);
        let p = dir.join(format!("{arch}.safetensors"));
        checkpoint::save(net.as_ref(), &p, serde_json::json!({})).unwrap();
        let (back, side) = checkpoint::load_model(&p, Device::Cpu).unwrap();
        assert_eq!((back.arch(), side.arch), (arch, Some(arch)));
        let x = Tensor::cat(&[src.shallow_clone(), Tensor::zeros([1, 2, net.prompt_channels(), 36, 64], (Kind::Float, Device::Cpu))], 2);
        let (a, b) = tch::no_grad(|| (net.run(net.params(), &x, None, false).pha, back.run(back.params(), &x, None, false).pha));
        assert!(a.equal(&b), "{arch}: loaded model differs");
        // An RVM-only step refuses it, naming the file and the architecture.
        let e = checkpoint::load(&p, Device::Cpu).err().unwrap().to_string();
        assert!(e.contains(&format!("{arch}.safetensors")) && e.contains(arch.name()), "{e}");
    }
}

#[test]
fn train_zoo_and_infer_from_the_command_line() {
    let _serial = common::serial();
    let dir = scratch("cli");
    let f = factory(&dir);
    let bin = env!("CARGO_BIN_EXE_hoimat");
    let ckpt = dir.join("modnet.safetensors");
    let out = Command::new(bin)
        .args(["train", "zoo", "--model", "modnet", "--profile", "smoke", "--steps", "2", "--cpu", "--factory"])
        .arg(&f)
        .arg("--out")
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("synvm test MAD"));
    let bad = Command::new(bin).args(["train", "zoo", "--model", "nonet", "--out", "x"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("attention_memory"), "the error lists the models");
    let g = hoimat::data::export::generate(hoimat::world::SetName::SynVbhoi, Profile::Smoke, 0, &dir.join("data"), hoimat::data::export::Format::Png).unwrap();
    let inf = Command::new(bin).args(["infer", "--cpu", "--ckpt"]).arg(&ckpt).arg("--input").arg(dir.join("data")).arg("--out").arg(dir.join("pred")).output().unwrap();
    assert!(inf.status.success(), "{}", String::from_utf8_lossy(&inf.stderr));
    let m = hoimat::data::png::read_manifest(&g.path).unwrap();
    let c = &m.clips[0];
    assert!(dir.join("pred/synvbhoi").join(&c.name).join("pha/0000.png").is_file());
}
