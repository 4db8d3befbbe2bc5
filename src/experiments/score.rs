//! Scoring a model on a synthetic set: every clip is run through the model
//! with its recurrent state carried, the predicted alpha is quantised to 8
//! bits (as if written to PNG, so the numbers equal `hoimat eval` on the
//! written files), and scored with the library's metrics.

use anyhow::Result;
use tch::Device;

use crate::metrics::{self, Plane, DEFAULT_MIOU_THRESHOLD};
use crate::model::Matter;
use crate::train::batch::{to_plane, ClipTensors};
use crate::train::validate::predict_clip;
use crate::world::Dataset;

/// The metrics a scores experiment can ask for, with their scalings.
pub const METRICS: [(&str, &str); 7] = [
    ("mad", "MAD x1e3"),
    ("mse", "MSE x1e3"),
    ("grad", "Grad /1e3"),
    ("conn", "Conn /1e3"),
    ("dtssd", "dtSSD x1e2"),
    ("miou", "mIoU"),
    ("object_recall", "held-object pixel recall"),
];

/// How tables and charts name a metric.
pub fn metric_label(m: &str) -> String {
    METRICS.iter().find(|(k, _)| *k == m).map_or_else(
        || match m {
            "miou_after" => "mIoU after adaptation".into(),
            "label_miou" => "mIoU of the annotations".into(),
            "label_mad" => "MAD of the annotations (x1e3)".into(),
            "probe_mad" => "human-only MAD (x1e3)".into(),
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
    matches!(metric, "object_recall" | "reached" | "label_miou") || metric.starts_with("fps") || metric.starts_with("miou")
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
    let mut out = Vec::with_capacity(set.clips.len());
    for clip in &set.clips {
        let ct = ClipTensors::from_clip(clip);
        let (pha, _) = predict_clip(net, net.params(), &ct, 8, device);
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
        out.push(ClipResult {
            clip: clip.meta.name.clone(),
            values: vec![
                ("mad", Some(mean(&metrics::mad)?)),
                ("mse", Some(mean(&metrics::mse)?)),
                ("grad", Some(mean(&metrics::grad)?)),
                ("conn", Some(mean(&metrics::conn)?)),
                ("dtssd", Some(dts.iter().sum::<f64>() / n)),
                ("miou", Some(mean(&|p, t| metrics::miou(p, t, DEFAULT_MIOU_THRESHOLD))?)),
                ("object_recall", (recall.1 > 0).then(|| recall.0 / recall.1 as f64)),
            ],
        });
    }
    Ok(out)
}
