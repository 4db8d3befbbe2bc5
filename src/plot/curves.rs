//! Curves against epoch or time, with their spread as a band (Fig. 8) or
//! as error bars (Fig. 9).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{cartesian, finish_mesh, colour, dash, draw_legend, draw_marker, marker, with_legend_strip, Key};
use super::{err, padded_range, Chart, Labels};

/// One series: y (a mean) at each x, and optionally its spread (a std).
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub spread: Option<Vec<f64>>,
}

/// How the spread is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread {
    None,
    /// A translucent band y ± spread.
    Band,
    /// Vertical error bars y ± spread at every point.
    ErrorBars,
}

#[derive(Clone, Debug)]
pub struct Curves {
    pub labels: Labels,
    pub curves: Vec<Curve>,
    pub spread: Spread,
}

impl Chart for Curves {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let names: Vec<String> = self.curves.iter().map(|c| c.label.clone()).collect();
        let (plot, legend) = with_legend_strip(root, &names);
        let lo_hi = |c: &Curve, i: usize| {
            let s = if self.spread == Spread::None { 0.0 } else { c.spread.as_ref().map_or(0.0, |s| s[i]) };
            [c.y[i] - s, c.y[i] + s]
        };
        let xr = padded_range(self.curves.iter().flat_map(|c| c.x.iter().copied()), 0.02);
        let yr = padded_range(self.curves.iter().flat_map(|c| (0..c.y.len()).flat_map(move |i| lo_hi(c, i))), 0.05);
        let mut chart = cartesian(&plot, &self.labels.title, xr.0..xr.1, yr.0..yr.1)?;
        let integer_x = self.curves.iter().flat_map(|c| c.x.iter()).all(|x| x.fract() == 0.0);
        let fmt = |x: &f64| if integer_x { if x.fract().abs() < 1e-9 { format!("{x:.0}") } else { String::new() } } else { format!("{x:.1}") };
        finish_mesh(chart.configure_mesh().x_label_formatter(&fmt), &self.labels)?;
        // Error bars of different curves at the same x are dodged apart.
        let dodge = (xr.1 - xr.0) * 0.006;
        let mid = (self.curves.len() as f64 - 1.0) / 2.0;
        for (i, c) in self.curves.iter().enumerate() {
            let col = colour(i);
            let off = (i as f64 - mid) * dodge;
            let n = c.x.len().min(c.y.len());
            if let (Some(s), Spread::Band) = (&c.spread, self.spread) {
                let mut poly: Vec<(f64, f64)> = (0..n).map(|k| (c.x[k], c.y[k] + s[k])).collect();
                poly.extend((0..n).rev().map(|k| (c.x[k], c.y[k] - s[k])));
                chart.draw_series(std::iter::once(Polygon::new(poly, col.mix(0.18).filled()))).map_err(err)?;
            }
            if let (Some(s), Spread::ErrorBars) = (&c.spread, self.spread) {
                chart
                    .draw_series((0..n).map(|k| ErrorBar::new_vertical(c.x[k] + off, c.y[k] - s[k], c.y[k], c.y[k] + s[k], col.stroke_width(1), 8)))
                    .map_err(err)?;
            }
            let pts: Vec<(f64, f64)> = (0..n).map(|k| (c.x[k], c.y[k])).collect();
            match dash(i) {
                None => chart.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2))).map(|_| ()),
                Some((d, g)) => chart.draw_series(DashedLineSeries::new(pts.clone(), d, g, col.stroke_width(2))).map(|_| ()),
            }
            .map_err(err)?;
            // At most ~12 markers per curve, so dense curves stay readable.
            let every = n.div_ceil(12).max(1);
            for p in pts.iter().step_by(every) {
                draw_marker(root, marker(i), chart.backend_coord(p), col)?;
            }
        }
        draw_legend(&legend, &names, Key::Line)
    }
}
