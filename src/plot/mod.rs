//! Charts over plain numbers, drawn with plotters into SVG and PNG: the
//! figures of the paper (CDFs, histograms, curves with bands or error bars,
//! bar charts) and a matte gallery. Nothing here knows about experiments:
//! `experiments::figures` turns stored rows into these charts.
//!
//! Text in PNGs is drawn with DejaVu Sans compiled into the binary, so a
//! machine without system fonts renders the same image; SVGs name
//! `sans-serif`, which every viewer has. Every series differs by marker and
//! dash as well as colour, so the charts read in greyscale.

pub mod bars;
pub mod cdf;
pub mod curves;
pub mod gallery;
pub mod histogram;
pub mod style;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::atomic;

pub use bars::Bars;
pub use cdf::Cdf;
pub use curves::{Curve, Curves, Spread};
pub use gallery::Gallery;
pub use histogram::Histogram;

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    /// Pixel size of the PNG (and of the SVG's view box).
    fn size(&self) -> (u32, u32) {
        (720, 440)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Axis and title text shared by the line and bar charts.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    pub title: String,
    pub x: String,
    pub y: String,
}

impl Labels {
    pub fn new(title: &str, x: &str, y: &str) -> Labels {
        Labels { title: title.into(), x: x.into(), y: y.into() }
    }
}

/// plotters' errors carry a backend type parameter; keep only the message.
pub(crate) fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing failed: {e}")
}

/// The chart as an SVG document.
pub fn to_svg(chart: &impl Chart) -> Result<String> {
    style::register_fonts();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, chart.size()).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        chart.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// The chart as RGB pixels (width, height, bytes).
pub fn to_rgb(chart: &impl Chart) -> Result<(u32, u32, Vec<u8>)> {
    style::register_fonts();
    let (w, h) = chart.size();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        chart.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok((w, h, buf))
}

/// The chart as PNG bytes.
pub fn to_png(chart: &impl Chart) -> Result<Vec<u8>> {
    let (w, h, buf) = to_rgb(chart)?;
    encode_png(w, h, &buf)
}

pub(crate) fn encode_png(w: u32, h: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = vec![];
    image::codecs::png::PngEncoder::new(&mut out).write_image(rgb, w, h, image::ExtendedColorType::Rgb8).context("encoding PNG")?;
    Ok(out)
}

/// Write `<stem>.svg` and `<stem>.png` (each atomically) and return both paths.
pub fn save(chart: &impl Chart, stem: &Path) -> Result<[PathBuf; 2]> {
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    atomic::write(&svg, to_svg(chart)?.as_bytes())?;
    atomic::write(&png, &to_png(chart)?)?;
    Ok([svg, png])
}

/// (min, max) of finite values with a margin, never empty.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 1.0 };
        return (lo - d, hi + d);
    }
    let m = (hi - lo) * pad;
    (lo - m, hi + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_curves() -> Curves {
        let curve = |label: &str, k: f64| Curve {
            label: label.into(),
            x: (0..6).map(|i| i as f64).collect(),
            y: (0..6).map(|i| 0.5 + k * i as f64).collect(),
            spread: Some((0..6).map(|_| 0.02).collect()),
        };
        Curves { labels: Labels::new("held-out mIoU during adaptation", "epoch", "mIoU"), curves: vec![curve("a", 0.05), curve("b", 0.03)], spread: Spread::Band }
    }

    #[test]
    fn png_has_text_and_lines_and_svg_names_everything() {
        let c = sample_curves();
        let (w, h, rgb) = to_rgb(&c).unwrap();
        assert_eq!((w, h), c.size());
        // Dark pixels (text, axes, lines) exist and are a small part of the image.
        let dark = rgb.chunks(3).filter(|p| p.iter().all(|&v| v < 100)).count();
        let frac = dark as f64 / (w * h) as f64;
        assert!(frac > 0.005 && frac < 0.3, "dark fraction {frac}");
        // The title row (top 30 px) has glyph pixels only if fonts rendered.
        let title_dark = rgb[..(w * 30 * 3) as usize].chunks(3).filter(|p| p[0] < 128).count();
        assert!(title_dark > 150, "no title text rendered ({title_dark} dark pixels)");
        let svg = to_svg(&c).unwrap();
        for needle in ["<svg", "epoch", "mIoU", "\na\n</text>", "\nb\n</text>"] {
            assert!(svg.contains(needle), "svg lacks {needle}");
        }
        let png = to_png(&c).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn save_writes_both_files_without_temporaries() {
        let dir = std::env::temp_dir().join(format!("hoimat-plot-{}", std::process::id()));
        let [svg, png] = save(&sample_curves(), &dir.join("curves")).unwrap();
        assert!(svg.is_file() && png.is_file());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().to_string_lossy().ends_with(".tmp")).collect();
        assert!(left.is_empty());
        image::open(&png).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(padded_range([1.0, 3.0], 0.0), (1.0, 3.0));
        assert_eq!(padded_range([f64::NAN], 0.1), (0.0, 1.0));
        let (lo, hi) = padded_range([2.0, 2.0], 0.1);
        assert!(lo < 2.0 && hi > 2.0);
    }
}
