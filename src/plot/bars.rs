//! A bar per method with a ± std error bar and the value printed on it
//! (a table's column as a chart).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{cartesian, finish_mesh, colour, label_font};
use super::{err, Chart, Labels};

#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub std: f64,
}

#[derive(Clone, Debug)]
pub struct Bars {
    pub labels: Labels,
    pub bars: Vec<Bar>,
}

impl Chart for Bars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let n = self.bars.len().max(1);
        let top = self.bars.iter().map(|b| b.mean + b.std.max(0.0)).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
        let bottom = self.bars.iter().map(|b| b.mean).filter(|v| v.is_finite()).fold(0.0f64, f64::min);
        let top = if top <= 0.0 { 1.0 } else { top * 1.15 };
        let mut chart = cartesian(root, &self.labels.title, -0.5..n as f64 - 0.5, bottom..top)?;
        let names: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let fmt = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 { names.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
        };
        finish_mesh(chart.configure_mesh().disable_x_mesh().x_labels(n).x_label_formatter(&fmt), &self.labels)?;
        for (i, b) in self.bars.iter().enumerate() {
            if !b.mean.is_finite() {
                continue;
            }
            let x = i as f64;
            let r = [(x - 0.32, 0.0), (x + 0.32, b.mean)];
            chart.draw_series([Rectangle::new(r, colour(i).filled()), Rectangle::new(r, BLACK.stroke_width(1))]).map_err(err)?;
            if b.std > 0.0 {
                // White under black, so the bar reads on a dark fill too.
                for (c, w) in [(WHITE, 5), (BLACK, 2)] {
                    chart.draw_series([ErrorBar::new_vertical(x, b.mean - b.std, b.mean, b.mean + b.std, c.stroke_width(w), 14)]).map_err(err)?;
                }
            }
            let text = if b.mean.abs() >= 100.0 { format!("{:.1}", b.mean) } else { format!("{:.3}", b.mean) };
            let (px, py) = chart.backend_coord(&(x, b.mean + b.std.max(0.0)));
            root.draw(&Text::new(text, (px - 18, py - 20), label_font())).map_err(err)?;
        }
        Ok(())
    }
}
