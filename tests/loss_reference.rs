//! The matting loss (paper Eq. 4-9, RVM's) against PyTorch itself: the same
//! arrays through `benches/reference_torch.py --loss`, whose loss is written
//! from the published definition with PyTorch's own padding, convolution and
//! loss functions (run from `.venv`).

use std::process::Command;

use hoimat::loss::matting_loss;
use tch::{Device, Kind, Tensor};

#[test]
fn every_term_agrees_with_pytorch() {
    tch::manual_seed(21);
    let o = (Kind::Double, Device::Cpu);
    // 72x100 reaches the crop-to-even path at the third and fourth levels.
    let true_pha = (Tensor::rand([2, 3, 1, 72, 100], o) - 0.3).clamp(0.0, 1.0);
    let pred_pha = Tensor::rand([2, 3, 1, 72, 100], o);
    let true_fgr = Tensor::rand([2, 3, 3, 72, 100], o);
    let pred_fgr = Tensor::rand([2, 3, 3, 72, 100], o);
    let dir = std::env::temp_dir().join(format!("hoimat-loss-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npz = dir.join("loss.npz");
    Tensor::write_npz(&[("pred_pha", &pred_pha), ("pred_fgr", &pred_fgr), ("true_pha", &true_pha), ("true_fgr", &true_fgr)], &npz).unwrap();
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference_torch.py");
    let out = Command::new(py).arg(script).arg("--loss").arg(&npz).output().expect("python runs");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = matting_loss(&pred_pha, &pred_fgr, &true_pha, &true_fgr);
    for (name, got) in [("pha_l1", &l.pha_l1), ("pha_laplacian", &l.pha_laplacian), ("pha_coherence", &l.pha_coherence), ("fgr_l1", &l.fgr_l1), ("fgr_coherence", &l.fgr_coherence), ("total", &l.total)] {
        let (g, w) = (got.double_value(&[]), want[name].as_f64().unwrap());
        assert!((g - w).abs() < 1e-12 * (1.0 + w.abs()), "{name}: hoimat {g} vs PyTorch {w}");
    }
    assert!(want["pha_laplacian"].as_f64().unwrap() > 0.01);
    let _ = std::fs::remove_dir_all(&dir);
}
