//! The prepared device check runs here as its CPU dry run, so it works the
//! first time a GPU machine is lent: every figure it promises comes out as
//! one parseable JSON line, and the CPU/"device" parity holds.

use std::process::Command;

#[test]
fn the_gpu_check_dry_run_reports_every_figure() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::env::temp_dir().join(format!("hoimat-gpucheck-{}", std::process::id()));
    let o = Command::new("bash")
        .arg(format!("{root}/benches/gpu_check.sh"))
        .args(["--dry-run", "--skip-reproduce"])
        .env("OUT", &out)
        .env("HOIMAT_BIN", env!("CARGO_BIN_EXE_hoimat"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}\n{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = text.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    let find = |c: &str| lines.iter().filter(|v| v["check"] == c).collect::<Vec<_>>();
    for c in ["environment", "libraries", "info", "device", "parity", "inference", "meta_iteration", "peak_gpu_memory"] {
        assert!(!find(c).is_empty(), "no {c} line in:\n{text}");
    }
    assert_eq!(find("device")[0]["used"], "Cpu");
    assert_eq!(find("libraries")[0]["status"], "ok");
    assert!(find("parity").iter().all(|p| p["within_1e-3"] == true), "{text}");
    // Parity is taken on soft mattes, not on values clamped flat.
    assert!(find("parity").iter().all(|p| p["soft_alpha_share"].as_f64().unwrap() > 0.5), "{text}");
    assert!(find("inference").iter().all(|p| p["frames_per_s"].as_f64().unwrap() > 0.0));
    assert!(find("inference").iter().any(|p| p["downsample_ratio"] == 0.25), "the refiner path is timed");
    assert!(std::fs::read_to_string(out.join("gpu_check.log")).unwrap().contains("\"check\": \"peak_gpu_memory\""));
    let _ = std::fs::remove_dir_all(&out);
}
