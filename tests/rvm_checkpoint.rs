//! RVM's network and RVM's checkpoints against PyTorch itself. The twin in
//! `benches/reference_torch.py` is RVM's `MattingNetwork('mobilenetv3')`
//! written as torch.nn modules over torchvision's own MobileNetV3 (run from
//! `.venv`); it saves its state dict with `torch.save`, exactly the format of
//! RVM's released `rvm_mobilenetv3.pth`. hoimat imports that file, must
//! agree with the twin's forward (ratios 1 and 0.5, recurrent state carried
//! across calls), export a file that the twin's strict `load_state_dict`
//! takes and that `torch.load` finds equal tensor for tensor, and refuse a
//! renamed, extra or mis-shaped key by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::reference::{clip_of, pha_fgr, python};
use hoimat::model::{checkpoint, rvm, torch_file};
use hoimat::train::validate::predict_clip_at;
use tch::{Device, Kind, Tensor};

fn twin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference_torch.py")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-rvmckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh twin of `config` saved by PyTorch (with random BatchNorm statistics).
fn saved_twin(dir: &Path, config: &str) -> PathBuf {
    let pth = dir.join(format!("twin-{config}.pth"));
    python(&[twin().as_os_str(), "--save-init".as_ref(), pth.as_os_str(), "--config".as_ref(), config.as_ref(), "--seed".as_ref(), "3".as_ref()]);
    pth
}

/// Frames [T, 3, H, W] of a smooth moving pattern (so alpha is not flat).
fn frames(t: i64, h: i64, w: i64) -> Tensor {
    let o = (Kind::Float, Device::Cpu);
    let ys = Tensor::arange(h, o).view([1, 1, h, 1]);
    let xs = Tensor::arange(w, o).view([1, 1, 1, w]);
    let ts = Tensor::arange(t, o).view([t, 1, 1, 1]);
    let c = Tensor::from_slice(&[0.9f32, 1.7, 2.3]).view([1, 3, 1, 1]);
    ((&xs * 0.11 + &ys * 0.07 + ts * 0.5) * c).sin() * 0.4 + 0.5
}

fn parity_at(config: &str, h: i64, w: i64) {
    let dir = scratch(&format!("parity-{config}"));
    let pth = saved_twin(&dir, config);
    let ckpt = dir.join("imported.safetensors");
    rvm::import(&pth, &ckpt).unwrap();
    let exported = dir.join("exported.pth");
    rvm::export(&ckpt, &exported).unwrap();
    let (net, _) = checkpoint::load_model(&ckpt, Device::Cpu).unwrap();
    let src = frames(5, h, w);
    let npz = dir.join("frames.npz");
    Tensor::write_npz(&[("src", &src)], &npz).unwrap();
    // 0.37 on odd sizes: floor(90 * 0.37) = 33, sampling from the ratio itself.
    for ratio in [1.0, 0.5, 0.37] {
        // Chunks of 2 frames: the state crosses two call boundaries.
        let (pha, fgr) = predict_clip_at(net.as_ref(), net.params(), &clip_of(&src, "parity"), 2, Device::Cpu, ratio);
        let out = dir.join(format!("twin-{ratio}.npz"));
        python(&[twin().as_os_str(), "--config".as_ref(), config.as_ref(), "--parity".as_ref(), exported.as_os_str(), "--frames".as_ref(), npz.as_os_str(), "--ratio".as_ref(), ratio.to_string().as_ref(), "--chunk".as_ref(), "2".as_ref(), "--out".as_ref(), out.as_os_str()]);
        let (tp, tf) = pha_fgr(&out);
        assert_eq!(pha.size(), tp.size());
        let dp = (&pha - &tp).abs().max().double_value(&[]);
        let df = (&fgr - &tf).abs().max().double_value(&[]);
        // Not a flat matte: the comparison must see real alpha values.
        let soft = tp.gt(0.02).logical_and(&tp.lt(0.98)).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!(soft > 0.05, "{config} ratio {ratio}: only {soft:.3} of the twin's alpha is soft");
        assert!(dp < 1e-4 && df < 1e-4, "{config} at {h}x{w}, ratio {ratio}: max |alpha diff| {dp:e}, |fgr diff| {df:e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paper_width_agrees_with_the_pytorch_twin_at_ratios_1_and_half() {
    // Odd sizes exercise RVM's crop after each x2 upsampling.
    parity_at("paper", 90, 150);
}

#[test]
fn quick_width_agrees_with_the_pytorch_twin() {
    parity_at("quick", 72, 128);
}

#[test]
fn import_export_round_trip_is_bit_identical_in_pytorch() {
    let dir = scratch("roundtrip");
    let pth = saved_twin(&dir, "paper");
    let ckpt = dir.join("m.safetensors");
    let cfg = rvm::import(&pth, &ckpt).unwrap();
    assert_eq!(cfg, hoimat::model::ModelConfig::paper());
    let side = checkpoint::read_sidecar(&ckpt).unwrap();
    assert_eq!(side.provenance["trainer"], "import");
    assert!(side.provenance["imported_from"].as_str().unwrap().ends_with("twin-paper.pth"));
    let back = dir.join("back.pth");
    rvm::export(&ckpt, &back).unwrap();
    // PyTorch's own loader compares the two files: same keys in the same
    // order, same dtypes and shapes, identical bits.
    let check = r#"
import sys, torch
a = torch.load(sys.argv[1], weights_only=True); b = torch.load(sys.argv[2], weights_only=True)
assert list(a) == list(b), (len(a), len(b))
for k in a:
    assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
    assert torch.equal(a[k].view(-1).view(torch.uint8) if a[k].dtype != torch.int64 else a[k], b[k].view(-1).view(torch.uint8) if b[k].dtype != torch.int64 else b[k]), k
print(len(a))
"#;
    let n = python(&["-c".as_ref(), check.as_ref(), pth.as_os_str(), back.as_os_str()]);
    assert_eq!(n.trim(), rvm::expected_keys(&cfg).len().to_string());
    // The safetensors form of RVM's keys imports to the same weights.
    let st = dir.join("rvm_keys.safetensors");
    rvm::export(&ckpt, &st).unwrap();
    let ckpt2 = dir.join("m2.safetensors");
    rvm::import(&st, &ckpt2).unwrap();
    let sorted = |p: &Path| {
        let mut v = checkpoint::read_tensors(p).unwrap();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    let (a, b) = (sorted(&ckpt), sorted(&ckpt2));
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert!(na == nb && ta.equal(tb), "{na} vs {nb}: max diff {}", (ta - tb).abs().max().double_value(&[]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_renamed_extra_or_misshaped_key_is_refused_by_name() {
    let dir = scratch("badkeys");
    let pth = saved_twin(&dir, "paper");
    let good = torch_file::read_state_dict(&pth).unwrap();
    let cases: [(&str, Box<dyn Fn(&mut Vec<(String, Tensor)>)>, &str); 3] = [
        (
            "renamed",
            Box::new(|sd| {
                let i = sd.iter().position(|(n, _)| n == "backbone.features.1.block.0.0.weight").unwrap();
                sd[i].0 = "backbone.features.1.block.0.0.wieght".into();
            }),
            "missing tensor backbone.features.1.block.0.0.weight",
        ),
        ("extra", Box::new(|sd| sd.push(("decoder.decode5.conv.0.weight".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu))))), "unexpected tensor decoder.decode5.conv.0.weight"),
        (
            "misshaped",
            Box::new(|sd| {
                let i = sd.iter().position(|(n, _)| n == "aspp.aspp1.0.weight").unwrap();
                sd[i].1 = Tensor::zeros([64, 960, 1, 1], (Kind::Float, Device::Cpu));
            }),
            "tensor aspp.aspp1.0.weight has shape [64, 960, 1, 1], RVM's network needs [128, 960, 1, 1]",
        ),
    ];
    for (name, edit, want) in cases {
        let mut sd: Vec<(String, Tensor)> = good.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
        edit(&mut sd);
        let bad = dir.join(format!("{name}.pth"));
        torch_file::write_state_dict(&bad, &sd).unwrap();
        let e = format!("{:#}", rvm::import(&bad, &dir.join("out.safetensors")).unwrap_err());
        assert!(e.contains(want) && e.contains(&bad.display().to_string()), "{name}: {e}");
        assert!(!dir.join("out.safetensors").exists(), "{name}: nothing written");
    }
    let junk = dir.join("junk.pth");
    std::fs::write(&junk, b"PK\x03\x04 not really").unwrap();
    let e = format!("{:#}", rvm::import(&junk, &dir.join("out.safetensors")).unwrap_err());
    assert!(e.contains(&junk.display().to_string()), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_imported_checkpoint_is_the_factory_of_every_recipe() {
    use hoimat::experiments::lab::Lab;
    use hoimat::experiments::models::ModelSpec;
    let dir = scratch("lab");
    let pth = saved_twin(&dir, "quick");
    let plain = Lab::new(dir.join("results"), hoimat::profile::Profile::Smoke, Device::Cpu);
    let mut lab = Lab::new(dir.join("results"), hoimat::profile::Profile::Smoke, Device::Cpu);
    lab.factory_import = Some(pth.clone());
    let f = lab.plan_model(&ModelSpec::Factory, 0).unwrap();
    assert!(f.key.starts_with("factory_import-"), "{}", f.key);
    // The key names the file's content, the same for every seed.
    assert_eq!(lab.plan_model(&ModelSpec::Factory, 7).unwrap().key, f.key);
    let path = lab.model(&ModelSpec::Factory, 0).unwrap();
    assert_eq!(checkpoint::read_sidecar(&path).unwrap().provenance["trainer"], "import");
    // RVM's refiner is trained, hoimat's own start is not (infer's automatic ratio).
    let (imported, _) = checkpoint::load_model(&path, Device::Cpu).unwrap();
    assert!(hoimat::model::matter::refiner_trained(imported.as_ref()));
    assert!(!hoimat::model::matter::refiner_trained(&hoimat::model::MattingNet::new(&hoimat::model::ModelConfig::quick(), Device::Cpu, 0)));
    // Recipes built on it are other models than those on the synthetic factory.
    for spec in [ModelSpec::RvmF, ModelSpec::maml_ral(0.7, 0.1, 0.2)] {
        assert_ne!(lab.plan_model(&spec, 0).unwrap().key, plain.plan_model(&spec, 0).unwrap().key);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cli_imports_exports_and_checks_the_downsample_ratio() {
    let dir = scratch("cli");
    let pth = saved_twin(&dir, "quick");
    let bin = env!("CARGO_BIN_EXE_hoimat");
    let run = |args: &[&std::ffi::OsStr]| Command::new(bin).args(args).output().unwrap();
    let ckpt = dir.join("m.safetensors");
    let o = run(&["import".as_ref(), "rvm".as_ref(), pth.as_os_str(), "--out".as_ref(), ckpt.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = dir.join("back.pth");
    let o = run(&["export".as_ref(), "rvm".as_ref(), ckpt.as_os_str(), "--out".as_ref(), back.as_os_str()]);
    assert!(o.status.success() && back.is_file(), "{}", String::from_utf8_lossy(&o.stderr));
    // A clip tree of three frames; a ratio outside (0, 1] is refused.
    let clip = dir.join("in/clip0/com");
    std::fs::create_dir_all(&clip).unwrap();
    for i in 0..3 {
        image::save_buffer(clip.join(format!("{i:04}.png")), &vec![(40 * i) as u8; 64 * 36 * 3], 64, 36, image::ColorType::Rgb8).unwrap();
    }
    let infer = |ratio: &str| run(&["infer".as_ref(), "--cpu".as_ref(), "--ckpt".as_ref(), ckpt.as_os_str(), "--input".as_ref(), dir.join("in").as_os_str(), "--out".as_ref(), dir.join(format!("out{ratio}")).as_os_str(), "--downsample-ratio".as_ref(), ratio.as_ref()]);
    let bad = infer("1.5");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--downsample-ratio must be in (0, 1]"), "{}", String::from_utf8_lossy(&bad.stderr));
    let ok = infer("0.5");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(std::fs::read_dir(dir.join("out0.5/clip0/pha")).unwrap().count(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
