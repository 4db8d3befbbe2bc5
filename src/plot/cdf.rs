//! Empirical CDF of per-clip scores, one step curve per method (Fig. 6).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{cartesian, finish_mesh, colour, dash, draw_legend, draw_marker, marker, with_legend_strip, Key};
use super::{err, padded_range, Chart, Labels};

#[derive(Clone, Debug)]
pub struct Cdf {
    pub labels: Labels,
    /// (method, per-clip values).
    pub groups: Vec<(String, Vec<f64>)>,
}

/// The empirical CDF as a step path: (value, fraction of values <= it).
pub fn steps(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut out = Vec::with_capacity(2 * v.len());
    for (i, x) in v.iter().enumerate() {
        out.push((*x, i as f64 / n));
        out.push((*x, (i + 1) as f64 / n));
    }
    out
}

impl Chart for Cdf {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let names: Vec<String> = self.groups.iter().map(|g| g.0.clone()).collect();
        let (plot, legend) = with_legend_strip(root, &names);
        let xr = padded_range(self.groups.iter().flat_map(|g| g.1.iter().copied()), 0.03);
        let mut chart = cartesian(&plot, &self.labels.title, xr.0..xr.1, 0.0..1.02)?;
        finish_mesh(&mut chart.configure_mesh(), &self.labels)?;
        for (i, (_, values)) in self.groups.iter().enumerate() {
            let col = colour(i);
            let mut pts = vec![(xr.0, 0.0)];
            pts.extend(steps(values));
            pts.push((xr.1, 1.0));
            match dash(i) {
                None => chart.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2))).map(|_| ()),
                Some((d, g)) => chart.draw_series(DashedLineSeries::new(pts.clone(), d, g, col.stroke_width(2))).map(|_| ()),
            }
            .map_err(err)?;
            // Markers on the risers, thinned to ~10 per curve.
            let risers: Vec<&(f64, f64)> = pts[1..pts.len() - 1].iter().skip(1).step_by(2).collect();
            let every = risers.len().div_ceil(10).max(1);
            for p in risers.into_iter().step_by(every) {
                draw_marker(root, marker(i), chart.backend_coord(p), col)?;
            }
        }
        draw_legend(&legend, &names, Key::Line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_rise_by_one_over_n_at_each_value() {
        let s = steps(&[0.9, 0.5, f64::NAN, 0.7]);
        assert_eq!(s, vec![(0.5, 0.0), (0.5, 1.0 / 3.0), (0.7, 1.0 / 3.0), (0.7, 2.0 / 3.0), (0.9, 2.0 / 3.0), (0.9, 1.0)]);
    }
}
