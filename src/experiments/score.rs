//! Scoring a model on a synthetic set: every clip is run through the model
//! with its recurrent state carried, the predicted alpha is quantised to 8
//! bits (as if written to PNG, so the numbers equal `hoimat eval` on the
//! written files), and scored with the library's metrics.

use anyhow::Result;
use tch::Device;

use crate::frame::Clip;
use crate::metrics::{self, hoi, Plane, DEFAULT_MIOU_THRESHOLD};
use crate::model::{Matter, ParamSet};
use crate::train::batch::{to_plane, ClipTensors};
use crate::train::validate::predict_clip;
use crate::world::Dataset;

/// The metrics a scores experiment can ask for, with their scalings.
pub const METRICS: [(&str, &str); 13] = [
    ("mad", "MAD x1e3"),
    ("mse", "MSE x1e3"),
    ("grad", "Grad /1e3"),
    ("conn", "Conn /1e3"),
    ("dtssd", "dtSSD x1e2"),
    ("miou", "mIoU"),
    ("miou_tolerant", "mIoU, ±1 px boundary ignored"),
    ("object_recall", "object-labelled pixel recall"),
    ("held_iou", "held-object IoU"),
    ("held_recall", "held-object recall"),
    ("held_precision", "held-object precision"),
    ("free_recall", "free-object recall"),
    ("interferer_fp", "interferer FP rate"),
];

/// Error by region (`metrics::hoi::REGIONS`): MAD x1e3 and the shares of a
/// region's pixels that are false positives / false negatives, named
/// `mad@region`, `fp@region`, `fn@region`.
pub const REGION_METRICS: [&str; 18] = [
    "mad@person", "fp@person", "fn@person",
    "mad@person_edge", "fp@person_edge", "fn@person_edge",
    "mad@held", "fp@held", "fn@held",
    "mad@free", "fp@free", "fn@free",
    "mad@interferer", "fp@interferer", "fn@interferer",
    "mad@background", "fp@background", "fn@background",
];

/// Whether a metric needs label maps and person-only alphas (`metrics::hoi`;
/// `object_recall` needs the label map only).
pub fn needs_labels(metric: &str) -> bool {
    matches!(metric, "regions" | "object_recall" | "held_iou" | "held_recall" | "held_precision" | "free_recall" | "interferer_fp") || metric.contains('@')
}

/// A dataset that cannot provide a metric is an error naming both, not a
/// column of silently missing values.
pub fn require(metrics: &[String], set: &Dataset, dataset: &str) -> Result<()> {
    for m in metrics.iter().filter(|m| needs_labels(m)) {
        let person = m != "object_recall";
        if let Some(c) = set.clips.iter().find(|c| c.frames.iter().any(|f| f.label.is_none() || (person && f.person.is_none()))) {
            let what = if person { "label maps and person-only alphas" } else { "label maps" };
            anyhow::bail!("metric '{m}' needs {what}, but dataset '{dataset}' has none (clip '{}')", c.meta.name);
        }
    }
    Ok(())
}

/// How tables and charts name a metric.
pub fn metric_label(m: &str) -> String {
    METRICS.iter().find(|(k, _)| *k == m).map_or_else(
        || match m {
            "miou_after" => "mIoU after adaptation".into(),
            "label_miou" => "mIoU of the annotations".into(),
            "label_mad" => "MAD of the annotations (x1e3)".into(),
            "probe_mad" => "human-only MAD (x1e3)".into(),
            m if m.contains('@') => m.replace('@', " in "),
            "epochs_to" => "epochs to threshold".into(),
            "fluctuation" => "fluctuation of mIoU".into(),
            m if m.starts_with("fps_") => format!("frames/s at {}", &m[4..]),
            m => m.to_string(),
        },
        |(_, l)| l.to_string(),
    )
}

/// Higher is better for these; lower for every other metric.
pub fn higher_is_better(metric: &str) -> bool {
    matches!(metric, "object_recall" | "held_iou" | "held_recall" | "held_precision" | "free_recall" | "reached" | "label_miou")
        || metric.starts_with("fps")
        || metric.starts_with("miou")
}

/// Per-clip means of every metric (`object_recall` is None on clips
/// without a held object).
#[derive(Clone, Debug)]
pub struct ClipResult {
    pub clip: String,
    pub values: Vec<(&'static str, Option<f64>)>,
}

/// Score `net` on every clip of `set`.
pub fn score(net: &dyn Matter, set: &Dataset, device: Device) -> Result<Vec<ClipResult>> {
    set.clips.iter().map(|clip| score_clip(net, net.params(), clip, device)).collect()
}

/// Score `net` at parameters `params` on one clip (state carried from its
/// first frame).
pub fn score_clip(net: &dyn Matter, params: &ParamSet, clip: &Clip, device: Device) -> Result<ClipResult> {
    let ct = ClipTensors::from_clip(clip);
    let (pha, _) = predict_clip(net, params, &ct, 8, device);
    let preds: Vec<Plane> = (0..ct.len()).map(|i| to_plane(&pha.get(i)).quantised()).collect();
    let truths: Vec<Plane> = clip.frames.iter().map(|f| f.pha.quantised()).collect();
    let n = preds.len() as f64;
    let mean = |f: &dyn Fn(&Plane, &Plane) -> Result<f64, metrics::MetricError>| -> Result<f64> {
        let mut s = 0.0;
        for (p, t) in preds.iter().zip(&truths) {
            s += f(p, t)?;
        }
        Ok(s / n)
    };
    let dts = metrics::dtssd_clip(&preds, &truths)?;
    let mut recall = (0.0, 0usize);
    for (i, p) in preds.iter().enumerate() {
        if let Some(m) = ct.object_mask(i as i64) {
            if let Some(r) = metrics::object_recall(p, &m, DEFAULT_MIOU_THRESHOLD)? {
                recall.0 += r;
                recall.1 += 1;
            }
        }
    }
    let mut values = vec![
        ("mad", Some(mean(&metrics::mad)?)),
        ("mse", Some(mean(&metrics::mse)?)),
        ("grad", Some(mean(&metrics::grad)?)),
        ("conn", Some(mean(&metrics::conn)?)),
        ("dtssd", Some(dts.iter().sum::<f64>() / n)),
        ("miou", Some(mean(&|p, t| metrics::miou(p, t, DEFAULT_MIOU_THRESHOLD))?)),
        ("miou_tolerant", Some(mean(&|p, t| hoi::miou_tolerant(p, t, DEFAULT_MIOU_THRESHOLD))?)),
        ("object_recall", (recall.1 > 0).then(|| recall.0 / recall.1 as f64)),
    ];
    if let Some(h) = hoi_counts(clip, &preds, &truths)? {
        values.extend([
            ("held_iou", h.held_iou()),
            ("held_recall", h.held_recall()),
            ("held_precision", h.held_precision()),
            ("free_recall", h.free_recall()),
            ("interferer_fp", h.interferer_fp()),
        ]);
        for k in 0..hoi::REGIONS.len() {
            let r = h.region(k);
            values.extend([(REGION_METRICS[3 * k], r.map(|r| r.0)), (REGION_METRICS[3 * k + 1], r.map(|r| r.1)), (REGION_METRICS[3 * k + 2], r.map(|r| r.2))]);
        }
    }
    Ok(ClipResult { clip: clip.meta.name.clone(), values })
}

/// The clip's object and region counts, when every frame has a label map
/// and a person-only alpha (synthetic data).
fn hoi_counts(clip: &Clip, preds: &[Plane], truths: &[Plane]) -> Result<Option<hoi::HoiCounts>> {
    let mut h = hoi::HoiCounts::default();
    for ((f, p), t) in clip.frames.iter().zip(preds).zip(truths) {
        let (Some(label), Some(person)) = (&f.label, &f.person) else { return Ok(None) };
        h.add(p, t, &person.quantised(), label, DEFAULT_MIOU_THRESHOLD)?;
    }
    Ok(Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    #[test]
    fn a_metric_the_dataset_cannot_provide_is_an_error_naming_both() {
        let mut set = crate::world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
        let wanted = vec!["miou".to_string(), "held_iou".to_string()];
        require(&wanted, &set, "synvbhoi").unwrap();
        // Every synthetic frame carries what the object metrics need.
        assert!(set.clips.iter().all(|c| c.frames.iter().all(|f| f.label.is_some() && f.person.is_some())));
        for f in &mut set.clips[1].frames {
            f.person = None;
        }
        let msg = format!("{:#}", require(&wanted, &set, "my_real_set").unwrap_err());
        assert!(msg.contains("held_iou") && msg.contains("my_real_set") && msg.contains(&set.clips[1].meta.name), "{msg}");
        // Plain matting metrics need nothing more.
        require(&["mad".to_string(), "miou".to_string()], &set, "my_real_set").unwrap();
        assert!(needs_labels("regions") && needs_labels("fp@held") && !needs_labels("mad") && !needs_labels("miou_tolerant"));
        require(&["object_recall".to_string()], &set, "my_real_set").unwrap();
    }

    /// On rendered clips, the person-only alpha explains no held-object pixel
    /// of the truth by construction, so it scores held recall 0 and the truth 1.
    #[test]
    fn rendered_person_only_alpha_is_a_calibrating_oracle() {
        let set = crate::world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
        let mut seen = 0;
        for clip in &set.clips {
            let person: Vec<Plane> = clip.frames.iter().map(|f| f.person.clone().unwrap().quantised()).collect();
            let truth: Vec<Plane> = clip.frames.iter().map(|f| f.pha.quantised()).collect();
            let as_person = hoi_counts(clip, &person, &truth).unwrap().unwrap();
            let as_truth = hoi_counts(clip, &truth, &truth).unwrap().unwrap();
            if let Some(r) = as_person.held_recall() {
                seen += 1;
                assert_eq!(r, 0.0, "{}", clip.meta.name);
                assert_eq!(as_truth.held_recall(), Some(1.0));
                assert_eq!(as_truth.held_iou(), Some(1.0));
            }
            assert_eq!(as_truth.miou_tolerant(), Some(1.0));
        }
        assert!(seen >= 2, "too few clips with visible held-object pixels: {seen}");
    }
}
