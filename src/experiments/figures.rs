//! An experiment's charts from its stored rows: each definition lists its
//! charts (`[[charts]]`), drawn here with `plot` into
//! `results/<profile>/figures/<id>_<chart>.{svg,png}` and linked from the
//! report. Only stored numbers are plotted, except the gallery, which runs
//! the (cached) seed-0 models on a few clips to show their mattes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use image::RgbImage;

use super::definition::{ChartDef, ChartKind, CurveX, Definition, ExperimentKind};
use super::lab::Lab;
use super::runner::Outcome;
use super::score::metric_label;
use crate::frame::{Plane, Rgb};
use crate::model::checkpoint;
use crate::plot::{self, bars::Bar, Bars, Cdf, Chart, Curve, Curves, Gallery, Histogram, Labels, Spread};
use crate::atomic;
use crate::store::query::{cell, mean_std, measured_metrics, per_clip, summarize};
use crate::store::results::StoredRow;
use crate::train::batch::{to_plane, to_rgb, ClipTensors};
use crate::train::validate::predict_clip;

/// A drawn chart, ready to save or to show in a notebook.
pub struct Figure {
    pub title: String,
    /// File stem under the figures folder, e.g. `fig6_cdf_miou`.
    pub stem: String,
    pub svg: String,
    pub png: Vec<u8>,
}

impl Figure {
    fn of(chart: &impl Chart, title: String, stem: String) -> Result<Figure> {
        Ok(Figure { svg: plot::to_svg(chart)?, png: plot::to_png(chart)?, title, stem })
    }

    /// Write `<dir>/<stem>.svg` and `.png`; returns the PNG's path.
    pub fn save(&self, dir: &std::path::Path) -> Result<PathBuf> {
        let png = dir.join(format!("{}.png", self.stem));
        atomic::write(&dir.join(format!("{}.svg", self.stem)), self.svg.as_bytes())?;
        atomic::write(&png, &self.png)?;
        Ok(png)
    }
}

impl Lab {
    /// Draw every chart of an experiment's outcome.
    pub fn draw_figures(&self, o: &Outcome) -> Result<Vec<Figure>> {
        let d = &o.definition;
        let mut out = vec![];
        // `fps` stands for every measured frame size (`fps_WxH`).
        let mut charts = vec![];
        for c in &d.charts {
            if c.metric == "fps" {
                let sizes = measured_metrics(&o.rows).into_iter().filter(|m| m.starts_with("fps_"));
                charts.extend(sizes.map(|metric| ChartDef { metric, ..c.clone() }));
            } else {
                charts.push(c.clone());
            }
        }
        for c in &charts {
            let recorded = d.adaptation.as_ref().is_some_and(|a| !a.recordings.is_empty());
            let ds = c.dataset.clone().or_else(|| d.datasets.first().cloned()).or_else(|| recorded.then(|| super::adaptation::RECORDING.to_string())).unwrap_or_else(|| "*".into());
            let on = if ds == super::adaptation::RECORDING { "your recordings".to_string() } else { format!("synthetic {ds}") };
            let ds = if d.kind == ExperimentKind::Speed { "*".to_string() } else { ds };
            let suffix = match (c.kind, c.x) {
                (ChartKind::Gallery, _) => "gallery".to_string(),
                (ChartKind::Curve, CurveX::Seconds) => format!("curve_{}_seconds", c.metric),
                (k, _) => format!("{}_{}", serde_json::to_value(k)?.as_str().unwrap_or("chart"), c.metric),
            };
            let stem = format!("{}_{}", d.id, suffix.replace(['/', ' '], "_"));
            let title = c.title.clone().unwrap_or_else(|| match c.kind {
                ChartKind::Gallery => format!("{}: alpha at the middle frame ({on}, seed-{} models)", d.id, d.seeds.first().copied().unwrap_or(0)),
                _ if d.kind == ExperimentKind::Speed => format!("{}: {} on {}", d.id, metric_label(&c.metric), self.device_name()),
                _ => format!("{}: {} on {on}", d.id, metric_label(&c.metric)),
            });
            let fig = match c.kind {
                ChartKind::Bars => Figure::of(&bars(d, &o.rows, &ds, &c.metric, &title), title, stem)?,
                ChartKind::Cdf => Figure::of(&cdf(d, &o.rows, &ds, &c.metric, &title), title, stem)?,
                ChartKind::Curve => Figure::of(&curves(d, &o.rows, &ds, c, &title)?, title, stem)?,
                ChartKind::Epochs => Figure::of(&epochs(self, d, &o.rows, &ds, &title)?, title, stem)?,
                ChartKind::Gallery => {
                    anyhow::ensure!(ds != super::adaptation::RECORDING, "{}: a gallery shows a synthetic set's clips with their truth; name one with dataset = \"...\"", d.id);
                    let (svg, png) = self.gallery(d, &ds, c.clips, &title)?.render()?;
                    Figure { svg, png, title, stem }
                }
            };
            out.push(fig);
        }
        Ok(out)
    }

    /// Input, truth and each method's alpha (seed-0 model) at the middle frame of the first clips.
    pub fn gallery(&self, d: &Definition, ds: &str, clips: usize, title: &str) -> Result<Gallery> {
        let set = self.dataset(ds)?;
        // theta' rows (one step on each clip's truth) are not a model to show.
        let methods: Vec<_> = d.methods.iter().map(|m| d.method(m)).filter(|m| !m.as_ref().is_ok_and(|m| m.one_step)).collect::<Result<_>>()?;
        let seed = d.seeds.first().copied().unwrap_or(0);
        let nets = methods
            .iter()
            .map(|m| Ok(checkpoint::load_model(&self.model(&m.spec, seed)?, self.device)?.0))
            .collect::<Result<Vec<_>>>()?;
        let mut rows = vec![];
        for clip in set.clips.iter().take(clips.max(1)) {
            let mid = clip.frames.len() / 2;
            let ct = ClipTensors::from_clip(clip);
            let mut imgs = vec![rgb_image(&to_rgb(&ct.com.get(mid as i64))), gray_image(&clip.frames[mid].pha)];
            for net in &nets {
                let (pha, _) = predict_clip(net.as_ref(), net.params(), &ct, 8, self.device);
                imgs.push(gray_image(&to_plane(&pha.get(mid as i64))));
            }
            rows.push((clip.meta.name.clone(), imgs));
        }
        let mut columns = vec!["input".to_string(), "truth".to_string()];
        columns.extend(methods.iter().map(|m| m.label.clone()));
        let (w, _) = self.profile.frame_size();
        Ok(Gallery { title: title.into(), columns, rows, scale: if w <= 160 { 2 } else { 1 } })
    }
}

fn rgb_image(x: &Rgb) -> RgbImage {
    RgbImage::from_raw(x.w as u32, x.h as u32, x.to_u8()).expect("w*h*3 bytes")
}

fn gray_image(p: &Plane) -> RgbImage {
    RgbImage::from_raw(p.w as u32, p.h as u32, p.to_u8().into_iter().flat_map(|v| [v, v, v]).collect()).expect("w*h bytes")
}

fn bars(d: &Definition, rows: &[StoredRow], ds: &str, metric: &str, title: &str) -> Bars {
    let s = summarize(rows);
    let bars = d
        .rows()
        .into_iter()
        .map(|(key, label, _)| {
            let c = cell(&s, &key, ds, metric);
            Bar { label, mean: c.map_or(f64::NAN, |c| c.mean), std: c.map_or(0.0, |c| c.std) }
        })
        .collect();
    let counts: Vec<usize> = d.methods.iter().map(|m| d.seeds_of(m).len()).collect();
    let n = counts.iter().copied().max().unwrap_or(0);
    let over = match (counts.iter().all(|c| *c == n), n) {
        (true, 1) => "1 seed".to_string(),
        (true, n) => format!("{n} seeds"),
        (false, n) => format!("up to {n} seeds; see the table"),
    };
    Bars { labels: Labels::new(title, "", &format!("{} (± std over {over})", metric_label(metric))), bars }
}

fn cdf(d: &Definition, rows: &[StoredRow], ds: &str, metric: &str, title: &str) -> Cdf {
    let groups = d.rows().into_iter().map(|(key, label, _)| (label, per_clip(rows, &key, ds, metric).into_iter().map(|x| x.1).collect())).collect();
    Cdf { labels: Labels::new(title, &format!("per-clip {} (mean over seeds)", metric_label(metric)), "fraction of clips"), groups }
}

fn curves(d: &Definition, rows: &[StoredRow], ds: &str, c: &ChartDef, title: &str) -> Result<Curves> {
    let mut curves = vec![];
    for (key, label, _) in d.rows() {
        // step -> (values, seconds) over clips, seeds and repeats.
        let mut at: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.row.method == key && r.row.dataset == ds) {
            if let (Some(step), Some(v)) = (r.row.step, r.row.value) {
                if r.row.metric == c.metric {
                    at.entry(step).or_default().0.push(v);
                } else if r.row.metric == "train_s" {
                    at.entry(step).or_default().1.push(v);
                }
            }
        }
        let at: Vec<_> = at.into_iter().filter(|(_, (v, _))| !v.is_empty()).collect();
        if at.is_empty() {
            continue;
        }
        let x = at.iter().map(|(s, (_, t))| if c.x == CurveX::Seconds { mean_std(t).0 } else { *s as f64 }).collect();
        let (y, spread): (Vec<f64>, Vec<f64>) = at.iter().map(|(_, (v, _))| mean_std(v)).unzip();
        curves.push(Curve { label, x, y, spread: Some(spread) });
    }
    if curves.is_empty() {
        bail!("{}: no per-epoch '{}' rows on {ds} to plot", d.id, c.metric);
    }
    let xl = if c.x == CurveX::Seconds { "training time (s)" } else { "epoch" };
    Ok(Curves {
        labels: Labels::new(title, &format!("{xl} (mean ± std over clips, seeds and repeats)"), &metric_label(&c.metric)),
        curves,
        spread: if c.error_bars { Spread::ErrorBars } else { Spread::Band },
    })
}

fn epochs(lab: &Lab, d: &Definition, rows: &[StoredRow], ds: &str, title: &str) -> Result<Histogram> {
    let a = d.adaptation.as_ref().context("an epochs chart needs an adaptation experiment")?;
    let censored = a.arms.iter().map(|arm| lab.arm_config(arm, 0).epochs + 1).max().unwrap_or(1) as f64;
    let groups = d
        .rows()
        .into_iter()
        .map(|(key, label, _)| {
            let v = rows.iter().filter(|r| r.row.method == key && r.row.dataset == ds && r.row.metric == "epochs_to" && r.row.step.is_none()).filter_map(|r| r.row.value).collect();
            (label, v)
        })
        .collect();
    Ok(Histogram {
        labels: Labels::new(title, &format!("epochs to held-out mIoU >= {}", a.threshold), "clips"),
        groups,
        censored_at: Some(censored),
    })
}
