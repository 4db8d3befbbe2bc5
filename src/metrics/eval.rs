//! Evaluation over directory trees laid out like RVM's:
//! `<root>/<dataset>/<clip>/pha/<frame>.png`, optionally `<clip>/fgr/<frame>.png`,
//! or two set folders `<set>/<clip>/pha/<frame>.png` (see `metrics::tree`).
//!
//! Scaling of every reported number (same as the single-frame functions):
//! `pha_mad`, `pha_mse`, `fgr_mad`, `fgr_mse` are means x 1e3; `pha_grad` and
//! `pha_conn` are per-frame sums / 1000; `pha_dtssd` is x 1e2; `miou` is a
//! fraction in [0, 1].
//!
//! Aggregation follows RVM's spreadsheet: per frame index, the mean over the
//! clips that have that frame index; then the mean over frame indices. So long
//! clips weigh more than short ones, and dtSSD's 0 at frame 0 is included.

use std::path::Path;

use rayon::prelude::*;

use super::hoi::HoiCounts;
pub use super::report::{ClipScores, EvalError, EvalOptions, EvalReport, FrameScores};
use super::tree::{discover, Clip};
use super::{conn, dtssd, fgr_mad, fgr_mse, grad, mad, miou, mse, Plane, Rgb};

fn open(path: &Path) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>, EvalError> {
    let wrap = |source| EvalError::Image { path: path.to_path_buf(), source };
    image::ImageReader::open(path)
        .map_err(|e| wrap(image::ImageError::IoError(e)))?
        .with_guessed_format()
        .map_err(|e| wrap(image::ImageError::IoError(e)))
}

/// Header-only size read, so size problems surface before any decoding.
fn dims(path: &Path) -> Result<(u32, u32), EvalError> {
    open(path)?.into_dimensions().map_err(|source| EvalError::Image { path: path.to_path_buf(), source })
}

/// Plane from any supported image: grey is used as is; colour goes through
/// `image`'s `into_luma8` (Rec. 709 weights, unlike OpenCV's BT.601), 16-bit
/// is reduced to 8 bits first, then / 255 in f32.
fn load_alpha(path: &Path) -> Result<Plane, EvalError> {
    let img = open(path)?.decode().map_err(|source| EvalError::Image { path: path.to_path_buf(), source })?;
    Ok(Plane::from_gray8(&img.into_luma8()))
}

/// A label map: one 8-bit grey value per pixel (`frame::label`).
fn load_label(path: &Path) -> Result<crate::frame::LabelMap, EvalError> {
    let img = open(path)?.decode().map_err(|source| EvalError::Image { path: path.to_path_buf(), source })?.into_luma8();
    Ok(crate::frame::LabelMap { w: img.width() as usize, h: img.height() as usize, data: img.into_raw() })
}

/// Foreground as 8-bit RGB / 255 (grey replicated, alpha channel dropped).
fn load_rgb(path: &Path) -> Result<Rgb, EvalError> {
    let img = open(path)?.decode().map_err(|source| EvalError::Image { path: path.to_path_buf(), source })?;
    Ok(Rgb::from_rgb8(&img.into_rgb8()))
}

/// Checks, in frame order, that every image of the clip has the size of the
/// clip's first truth frame (dtSSD needs constant size within a clip).
fn check_sizes(c: &Clip) -> Result<(), EvalError> {
    let reference = c.path(false, "pha", 0);
    let rsize = dims(&reference)?;
    for i in 0..c.frames.len() {
        let mut paths = vec![c.path(false, "pha", i), c.path(true, "pha", i)];
        if c.fgr {
            for (p, other) in [(c.path(false, "fgr", i), c.path(false, "pha", i)), (c.path(true, "fgr", i), c.path(true, "pha", i))] {
                if !p.is_file() {
                    return Err(EvalError::MissingFrame { path: p, counterpart: other });
                }
                paths.push(p);
            }
        }
        if c.labels {
            for kind in ["label", "person"] {
                let p = c.path(false, kind, i);
                if !p.is_file() {
                    return Err(EvalError::MissingFrame { path: p, counterpart: c.path(false, "pha", i) });
                }
                paths.push(p);
            }
        }
        for p in paths {
            let s = dims(&p)?;
            if s != rsize {
                return Err(EvalError::SizeMismatch { path: p, size: s, reference: reference.clone(), reference_size: rsize });
            }
        }
    }
    Ok(())
}

/// Scores frames `start..end` of a clip; the frame before `start` is decoded
/// again so dtSSD needs no cross-task state.
fn score_chunk(c: &Clip, start: usize, end: usize, opts: &EvalOptions) -> Result<Vec<FrameScores>, EvalError> {
    let metric = |i: usize| {
        let path = c.path(true, "pha", i);
        move |source| EvalError::Metric { path, source }
    };
    let mut prev = if start > 0 {
        Some((load_alpha(&c.path(true, "pha", start - 1))?, load_alpha(&c.path(false, "pha", start - 1))?))
    } else {
        None
    };
    let mut out = Vec::with_capacity(end - start);
    for i in start..end {
        let p = load_alpha(&c.path(true, "pha", i))?;
        let t = load_alpha(&c.path(false, "pha", i))?;
        let pha_dtssd = match &prev {
            Some((pp, tp)) => dtssd(pp, &p, tp, &t).map_err(metric(i))?,
            None => 0.0,
        };
        let (fgr_mad_v, fgr_mse_v) = if c.fgr {
            let pf = load_rgb(&c.path(true, "fgr", i))?;
            let tf = load_rgb(&c.path(false, "fgr", i))?;
            (Some(fgr_mad(&pf, &tf, &t).map_err(metric(i))?), Some(fgr_mse(&pf, &tf, &t).map_err(metric(i))?))
        } else {
            (None, None)
        };
        let hoi = if c.labels {
            let label = load_label(&c.path(false, "label", i))?;
            let person = load_alpha(&c.path(false, "person", i))?;
            let mut h = HoiCounts::default();
            h.add(&p, &t, &person, &label, opts.miou_threshold).map_err(metric(i))?;
            Some(h)
        } else {
            None
        };
        out.push(FrameScores {
            pha_mad: mad(&p, &t).map_err(metric(i))?,
            pha_mse: mse(&p, &t).map_err(metric(i))?,
            pha_grad: grad(&p, &t).map_err(metric(i))?,
            pha_conn: conn(&p, &t).map_err(metric(i))?,
            pha_dtssd,
            miou: miou(&p, &t, opts.miou_threshold).map_err(metric(i))?,
            fgr_mad: fgr_mad_v,
            fgr_mse: fgr_mse_v,
            hoi,
        });
        prev = Some((p, t));
    }
    Ok(out)
}

/// The object counts of some frames pooled (None when no frame has them).
fn pooled<'a>(frames: impl Iterator<Item = &'a FrameScores>) -> Option<HoiCounts> {
    frames.filter_map(|f| f.hoi.as_ref()).fold(None, |acc: Option<HoiCounts>, h| {
        let mut a = acc.unwrap_or_default();
        a.merge(h);
        Some(a)
    })
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// RVM's spreadsheet aggregation: mean over clips per frame index (clips
/// lacking the index or the value are left out), then mean over indices.
fn frame_index_mean(clips: &[Vec<FrameScores>], get: impl Fn(&FrameScores) -> Option<f64>) -> Option<f64> {
    let longest = clips.iter().map(Vec::len).max().unwrap_or(0);
    mean((0..longest).filter_map(|i| mean(clips.iter().filter_map(|c| c.get(i).and_then(&get)))))
}

/// Evaluates every `<dataset>/<clip>` found under either root (pred frames are
/// matched to truth frames by file name). Clips are validated first (frame
/// lists, then header sizes), then frames are scored in parallel chunks.
/// fgr metrics are computed for clips whose `fgr/` exists on both sides; a
/// clip with `fgr/` on one side only is scored without them.
pub fn evaluate_dirs(pred_dir: &Path, true_dir: &Path, opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    let clips = discover(pred_dir, true_dir, opts)?;
    // Ordered collect, then the first error in clip order: deterministic messages.
    let checks: Vec<Result<(), EvalError>> = clips.par_iter().map(check_sizes).collect();
    checks.into_iter().collect::<Result<(), _>>()?;

    let chunk = opts.chunk_len.max(1);
    let tasks: Vec<(usize, usize, usize)> = clips
        .iter()
        .enumerate()
        .flat_map(|(ci, c)| {
            let n = c.frames.len();
            (0..n).step_by(chunk).map(move |s| (ci, s, (s + chunk).min(n)))
        })
        .collect();
    let chunks: Vec<Vec<FrameScores>> = tasks
        .par_iter()
        .map(|&(ci, s, e)| score_chunk(&clips[ci], s, e, opts))
        .collect::<Result<_, _>>()?;

    // Tasks are in clip order, so chunks concatenate back into clips.
    let mut per_clip: Vec<Vec<FrameScores>> = vec![Vec::new(); clips.len()];
    for (&(ci, _, _), ch) in tasks.iter().zip(chunks) {
        per_clip[ci].extend(ch);
    }

    let clip_scores = clips
        .iter()
        .zip(&per_clip)
        .map(|(c, f)| {
            let m = |g: fn(&FrameScores) -> f64| mean(f.iter().map(g)).unwrap_or(0.0);
            ClipScores {
                dataset: c.dataset.clone(),
                clip: c.clip.clone(),
                n_frames: f.len(),
                pha_mad: m(|s| s.pha_mad),
                pha_mse: m(|s| s.pha_mse),
                pha_grad: m(|s| s.pha_grad),
                pha_conn: m(|s| s.pha_conn),
                pha_dtssd: m(|s| s.pha_dtssd),
                miou: m(|s| s.miou),
                fgr_mad: mean(f.iter().filter_map(|s| s.fgr_mad)),
                fgr_mse: mean(f.iter().filter_map(|s| s.fgr_mse)),
                hoi: pooled(f.iter()).map(|h| h.summary()),
            }
        })
        .collect();

    let agg = |g: fn(&FrameScores) -> f64| frame_index_mean(&per_clip, |s| Some(g(s))).unwrap_or(0.0);
    Ok(EvalReport {
        pha_mad: agg(|s| s.pha_mad),
        pha_mse: agg(|s| s.pha_mse),
        pha_grad: agg(|s| s.pha_grad),
        pha_conn: agg(|s| s.pha_conn),
        pha_dtssd: agg(|s| s.pha_dtssd),
        miou: agg(|s| s.miou),
        fgr_mad: frame_index_mean(&per_clip, |s| s.fgr_mad),
        fgr_mse: frame_index_mean(&per_clip, |s| s.fgr_mse),
        hoi: pooled(per_clip.iter().flatten()).map(|h| h.summary()),
        clips: clip_scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fresh directory under the system temp dir, unique per process and call.
    fn scratch(name: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "hoimat-metrics-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_gray(path: &Path, w: u32, h: u32, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(w, h, image::Luma([v])).save(path).unwrap();
    }

    /// d1/a has 3 frames, d2/b has 1. Truth is all 0; pred frames are constant
    /// `vals` so MAD = v / 255 * 1e3 per frame.
    fn tree(name: &str) -> (PathBuf, PathBuf, PathBuf) {
        let root = scratch(name);
        let (pred, truth) = (root.join("pred"), root.join("true"));
        for (ds, clip, vals) in [("d1", "a", &[10u8, 20, 30][..]), ("d2", "b", &[50u8][..])] {
            for (i, &v) in vals.iter().enumerate() {
                let f = format!("{i:04}.png");
                write_gray(&truth.join(ds).join(clip).join("pha").join(&f), 4, 3, 0);
                write_gray(&pred.join(ds).join(clip).join("pha").join(&f), 4, 3, v);
            }
        }
        (root, pred, truth)
    }

    /// Rendered clips written with their label maps and person-only alphas:
    /// the truth scores perfectly on the object metrics, the person-only
    /// alpha as a prediction finds none of the held object.
    #[test]
    fn object_metrics_from_label_maps_on_files() {
        let root = scratch("hoi");
        let set = crate::world::generate("synvbhoi", crate::profile::Profile::Smoke, 0).unwrap();
        let (truth, as_truth, as_person) = (root.join("true"), root.join("pred_truth"), root.join("pred_person"));
        for clip in set.clips.iter().take(2) {
            crate::data::png::write_clip(&truth.join("synvbhoi").join(&clip.meta.name), clip).unwrap();
            for (i, f) in clip.frames.iter().enumerate() {
                let name = format!("{i:04}.png");
                let person = f.person.as_ref().unwrap();
                for (dir, plane) in [(&as_truth, &f.pha), (&as_person, person)] {
                    let p = dir.join("synvbhoi").join(&clip.meta.name).join("pha").join(&name);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    image::GrayImage::from_raw(plane.w as u32, plane.h as u32, plane.to_u8()).unwrap().save(&p).unwrap();
                }
            }
        }
        let opts = EvalOptions { fgr: false, ..Default::default() };
        let perfect = evaluate_dirs(&as_truth, &truth, &opts).unwrap().hoi.expect("the truth has label maps");
        assert_eq!((perfect.held_recall, perfect.held_iou, perfect.miou_tolerant), (Some(1.0), Some(1.0), Some(1.0)));
        assert!(perfect.regions.iter().all(|(_, e)| e.fp == 0.0 && e.fn_share == 0.0), "{:?}", perfect.regions);
        let person = evaluate_dirs(&as_person, &truth, &opts).unwrap();
        assert_eq!(person.hoi.as_ref().unwrap().held_recall, Some(0.0));
        // Per clip too, and the JSON carries it.
        assert!(person.clips.iter().all(|c| c.hoi.is_some()));
        assert!(serde_json::to_string(&person).unwrap().contains("held_iou"));
        // Without label maps the report has no object metrics.
        let plain = evaluate_dirs(&as_person, &as_truth, &opts).unwrap();
        assert!(plain.hoi.is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn aggregation_is_frame_index_mean_first() {
        let (root, pred, truth) = tree("agg");
        let r = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap();
        let u = |v: f64| (v as f32 / 255.0) as f64 * 1e3; // MAD of a constant v/255 vs 0
        // Frame 0: mean(10, 50); frames 1, 2: clip a only. Clip-first would give 35/255e3.
        let want = ((u(10.0) + u(50.0)) / 2.0 + u(20.0) + u(30.0)) / 3.0;
        assert!((r.pha_mad - want).abs() < 1e-9, "{} vs {want}", r.pha_mad);
        assert!((r.pha_mad - 80.0 / 3.0 / 255.0 * 1e3).abs() < 1e-4);
        // dtSSD: clip a = [0, 10/255*100, 10/255*100], clip b = [0].
        let step = (20.0f32 / 255.0 - 10.0f32 / 255.0) as f64 * 1e2;
        assert!((r.pha_dtssd - (0.0 + 2.0 * step) / 3.0).abs() < 1e-5);
        // Constant images: Grad 0; all pred values < 0.5 and truth 0: mIoU 1.
        assert_eq!(r.pha_grad, 0.0);
        assert_eq!(r.miou, 1.0);
        // Per-clip means and naming.
        assert_eq!(r.clips.len(), 2);
        assert_eq!((r.clips[0].dataset.as_str(), r.clips[0].clip.as_str(), r.clips[0].n_frames), ("d1", "a", 3));
        assert_eq!((r.clips[1].dataset.as_str(), r.clips[1].clip.as_str(), r.clips[1].n_frames), ("d2", "b", 1));
        assert!((r.clips[0].pha_mad - u(20.0)).abs() < 1e-3);
        assert!((r.clips[0].pha_dtssd - 2.0 * step / 3.0).abs() < 1e-5);
        // JSON has exactly the six pha keys.
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["miou", "pha_conn", "pha_dtssd", "pha_grad", "pha_mad", "pha_mse"]);
        // Chunking must not change anything (dtSSD crosses chunk borders).
        let r1 = evaluate_dirs(&pred, &truth, &EvalOptions { chunk_len: 1, ..Default::default() }).unwrap();
        assert_eq!(r1, r);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn fgr_keys_appear_when_both_sides_have_fgr() {
        let (root, pred, truth) = tree("fgr");
        for (side, v) in [(&truth, 100u8), (&pred, 151u8)] {
            for i in 0..3 {
                let p = side.join("d1/a/fgr").join(format!("{i:04}.png"));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                image::RgbImage::from_pixel(4, 3, image::Rgb([v, v, v])).save(&p).unwrap();
            }
            // Truth alpha > 0 somewhere, or the fgr metric is 0 by definition.
            write_gray(&side.join("d1/a/pha/0000.png"), 4, 3, if side == &truth { 255 } else { 10 });
        }
        let r = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap();
        // Frame 0 of clip a: all truth alpha = 1 -> |151-100|/255*1e3 = 200; frames 1, 2: alpha 0 -> 0.
        // Clip b has no fgr, so frame-index means are over clip a only.
        let d = (151.0f32 / 255.0 - 100.0f32 / 255.0) as f64;
        assert!((r.fgr_mad.unwrap() - d * 1e3 / 3.0).abs() < 1e-3);
        assert!((r.fgr_mse.unwrap() - d * d * 1e3 / 3.0).abs() < 1e-3);
        assert!(r.clips[1].fgr_mad.is_none());
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("fgr_mad").is_some() && v.get("fgr_mse").is_some());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn missing_and_extra_frames_name_the_file() {
        let (root, pred, truth) = tree("missing");
        let gone = pred.join("d1/a/pha/0001.png");
        std::fs::remove_file(&gone).unwrap();
        let e = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap_err();
        assert!(matches!(e, EvalError::MissingFrame { .. }));
        let msg = e.to_string();
        assert!(msg.contains(&gone.display().to_string()), "{msg}");
        assert!(msg.contains("missing frame"), "{msg}");

        write_gray(&gone, 4, 3, 20);
        let extra = pred.join("d2/b/pha/0007.png");
        write_gray(&extra, 4, 3, 20);
        let msg = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap_err().to_string();
        assert!(msg.contains(&extra.display().to_string()) && msg.contains("extra frame"), "{msg}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn size_mismatch_names_the_file() {
        let (root, pred, truth) = tree("size");
        let bad = pred.join("d1/a/pha/0002.png");
        write_gray(&bad, 5, 3, 20);
        let e = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, EvalError::SizeMismatch { .. }));
        assert!(msg.contains(&bad.display().to_string()) && msg.contains("5x3") && msg.contains("4x3"), "{msg}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn structural_errors() {
        let root = scratch("structure");
        let (pred, truth) = (root.join("pred"), root.join("true"));
        std::fs::create_dir_all(&pred).unwrap();
        std::fs::create_dir_all(&truth).unwrap();
        let e = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap_err();
        assert!(matches!(e, EvalError::EmptyTree { .. }), "{e}");

        write_gray(&truth.join("d/c/pha/0.png"), 2, 2, 0);
        std::fs::create_dir_all(pred.join("d/c")).unwrap();
        let msg = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap_err().to_string();
        assert!(msg.contains("missing pha directory") && msg.contains(&pred.join("d/c/pha").display().to_string()), "{msg}");

        // Undecodable file with an image extension.
        std::fs::create_dir_all(pred.join("d/c/pha")).unwrap();
        let junk = pred.join("d/c/pha/0.png");
        std::fs::write(&junk, b"not a png").unwrap();
        let msg = evaluate_dirs(&pred, &truth, &EvalOptions::default()).unwrap_err().to_string();
        assert!(msg.contains(&junk.display().to_string()), "{msg}");

        let msg = evaluate_dirs(&root.join("nope"), &truth, &EvalOptions::default()).unwrap_err().to_string();
        assert!(msg.contains("nope"), "{msg}");
        std::fs::remove_dir_all(root).unwrap();
    }
}
