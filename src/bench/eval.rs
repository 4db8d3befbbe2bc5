//! Our evaluator against an RVM-style Python reference (numpy + OpenCV,
//! `benches/reference_eval.py`) on the same tree: both summaries side by
//! side, their agreement, and our speed-up, measured in one run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::frame::{label, Clip, Plane, Rgb};
use crate::metrics::{evaluate_dirs, EvalOptions, EvalReport};
use crate::profile::Profile;
use crate::world::{self, rng::Rand};

/// A plausible imperfect prediction: the truth blurred by a 3x3 box, held
/// objects dropped in every other clip (the failure MAML-RAL targets), and
/// a little noise. Deterministic in `seed`.
pub fn degrade(clip: &Clip, clip_index: usize, seed: u64) -> Vec<Plane> {
    let mut r = Rand::keyed(&format!("bench-eval/{}", clip.meta.name), seed);
    clip.frames
        .iter()
        .map(|f| {
            let (w, h) = f.size();
            let mut out = vec![0.0f32; w * h];
            for y in 0..h {
                for x in 0..w {
                    let mut s = 0.0;
                    let mut n = 0.0;
                    for dy in -1i64..=1 {
                        for dx in -1i64..=1 {
                            let (sx, sy) = (x as i64 + dx, y as i64 + dy);
                            if sx >= 0 && sy >= 0 && (sx as usize) < w && (sy as usize) < h {
                                s += f.pha.data[sy as usize * w + sx as usize];
                                n += 1.0;
                            }
                        }
                    }
                    let i = y * w + x;
                    let mut a = s / n + 0.03 * r.normal();
                    let dropped = clip_index % 2 == 0 && f.label.as_ref().is_some_and(|l| l.data[i] == label::HELD_OBJECT);
                    if dropped {
                        a = 0.0;
                    }
                    out[i] = a.clamp(0.0, 1.0);
                }
            }
            Plane::new(w, h, out)
        })
        .collect()
}

/// Write `root/{true,pred}/<set>/<clip>/{pha,fgr}/` for the first `clips`
/// clips of `set` at `profile`, at most `frames` frames each.
pub fn write_tree(root: &Path, set: &str, profile: Profile, seed: u64, clips: usize, frames: usize) -> Result<(PathBuf, PathBuf)> {
    let set_name: world::SetName = set.parse().map_err(anyhow::Error::msg)?;
    let mut plans = world::plan(set_name, profile, seed);
    plans.truncate(clips);
    for p in &mut plans {
        p.meta.n_frames = p.meta.n_frames.min(frames);
    }
    let (t_dir, p_dir) = (root.join("true"), root.join("pred"));
    for (ci, plan) in plans.iter().enumerate() {
        let clip = &world::render(plan);
        let preds = degrade(clip, ci, seed);
        for (side, base) in [("true", &t_dir), ("pred", &p_dir)] {
            let dir = base.join(set).join(&clip.meta.name);
            std::fs::create_dir_all(dir.join("pha"))?;
            std::fs::create_dir_all(dir.join("fgr"))?;
            for (i, f) in clip.frames.iter().enumerate() {
                let (w, h) = f.size();
                let name = crate::data::png::frame_name(i);
                let pha = if side == "true" { f.pha.to_u8() } else { preds[i].to_u8() };
                image::save_buffer(dir.join("pha").join(&name), &pha, w as u32, h as u32, image::ColorType::L8)?;
                let fgr: &Rgb = f.fgr.as_ref().context("synthetic frames have fgr")?;
                let fg = if side == "true" { fgr.to_u8() } else { fgr.data.iter().map(|v| crate::frame::quantize(v * 0.95 + 0.02)).collect() };
                image::save_buffer(dir.join("fgr").join(&name), &fg, w as u32, h as u32, image::ColorType::Rgb8)?;
            }
        }
    }
    Ok((p_dir, t_dir))
}

/// Run the Python reference; returns its summary and its own timing.
pub fn reference(pred: &Path, truth: &Path) -> Result<(serde_json::Value, f64)> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join("reference_eval.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--pred-dir".as_ref(), pred.as_os_str(), "--true-dir".as_ref(), truth.as_os_str(), "--time".as_ref()])
        .output()
        .with_context(|| format!("running {python} {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
    Ok((v, secs))
}

/// Decode every PNG of both trees once, in parallel, with the evaluator's
/// decoder and its conversion to f32, and nothing else (no header pass, no
/// repeated dtSSD frame): roughly the floor under any evaluator built on it.
pub fn decode_only(pred: &Path, truth: &Path) -> Result<(f64, usize)> {
    use rayon::prelude::*;
    fn pngs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let p = e?.path();
            if p.is_dir() {
                pngs(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "png") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut files = vec![];
    pngs(pred, &mut files)?;
    pngs(truth, &mut files)?;
    let t = Instant::now();
    files.par_iter().try_for_each(|f| -> Result<()> {
        if f.parent().is_some_and(|d| d.ends_with("fgr")) {
            crate::data::png::read_rgb(f)?;
        } else {
            crate::data::png::read_gray(f)?;
        }
        Ok(())
    })?;
    Ok((t.elapsed().as_secs_f64(), files.len()))
}

pub const KEYS: [&str; 8] = ["pha_mad", "pha_mse", "pha_grad", "pha_conn", "pha_dtssd", "miou", "fgr_mad", "fgr_mse"];

/// Largest relative difference between our report and the reference's.
pub fn max_rel_diff(ours: &EvalReport, theirs: &serde_json::Value) -> Result<f64> {
    let ours = serde_json::to_value(ours)?;
    let mut worst = 0.0f64;
    for k in KEYS {
        match (ours[k].as_f64(), theirs[k].as_f64()) {
            (Some(a), Some(b)) => worst = worst.max((a - b).abs() / b.abs().max(1e-12)),
            (None, None) => {}
            _ => bail!("key {k} present on one side only"),
        }
    }
    Ok(worst)
}

pub fn run(profile: Profile, seed: u64, clips: usize, frames: usize, keep: Option<&Path>) -> Result<()> {
    let root = keep.map(Path::to_path_buf).unwrap_or_else(|| std::env::temp_dir().join(format!("hoimat-bench-eval-{}", std::process::id())));
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    } else if root.exists() {
        bail!("{}: already exists (--keep writes a new folder)", root.display());
    }
    let (pred, truth) = write_tree(&root, "synvbhoi", profile, seed, clips, frames)?;
    let opts = EvalOptions::default();
    // Warm the file cache for both sides, then time each once.
    evaluate_dirs(&pred, &truth, &opts)?;
    let t = Instant::now();
    let ours = evaluate_dirs(&pred, &truth, &opts)?;
    let ours_s = t.elapsed().as_secs_f64();
    let (decode_s, images) = decode_only(&pred, &truth)?;
    let (theirs, theirs_s) = reference(&pred, &truth)?;
    let ours_v = serde_json::to_value(&ours)?;
    let frames: usize = ours.clips.iter().map(|c| c.n_frames).sum();
    let (w, h) = profile.frame_size();
    println!("evaluation of synvbhoi at {profile} ({} clips, {frames} frames of {w}x{h}), {} threads", ours.clips.len(), rayon::current_num_threads());
    println!("{:<10} {:>14} {:>14}", "metric", "hoimat", "reference.py");
    for k in KEYS {
        println!("{:<10} {:>14.6} {:>14.6}", k, ours_v[k].as_f64().unwrap_or(f64::NAN), theirs[k].as_f64().unwrap_or(f64::NAN));
    }
    let rel = max_rel_diff(&ours, &theirs)?;
    println!("largest relative difference: {rel:.2e} ({})", if rel <= 1e-4 { "agree to 1e-4" } else { "DISAGREE" });
    println!("time: hoimat {ours_s:.3} s, reference {theirs_s:.3} s (after imports): speed-up x{:.1}", theirs_s / ours_s);
    println!(
        "decoding alone: the {images} PNGs, decoded and converted to f32 on the same threads with no metric, take {decode_s:.3} s ({:.0}% of ours); 20x the reference would be {:.3} s in all",
        100.0 * decode_s / ours_s,
        theirs_s / 20.0
    );
    match keep {
        Some(_) => println!("trees kept: {} and {}", pred.display(), truth.display()),
        None => {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
    if rel > 1e-4 {
        bail!("the evaluators disagree");
    }
    Ok(())
}
