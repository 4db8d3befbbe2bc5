//! Counts of integer values per group, side by side per value (Fig. 7's
//! epochs-to-threshold distributions). A censored value (never reached)
//! gets its own bin, labelled as such.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{cartesian, finish_mesh, colour, draw_legend, with_legend_strip, Key};
use super::{err, Chart, Labels};

#[derive(Clone, Debug)]
pub struct Histogram {
    pub labels: Labels,
    /// (group, values rounded to integers).
    pub groups: Vec<(String, Vec<f64>)>,
    /// The value that means "never reached" (drawn as the last bin).
    pub censored_at: Option<f64>,
}

impl Histogram {
    /// The bins (integer values from the smallest to the largest seen) and,
    /// per group, the count in each bin.
    pub fn counts(&self) -> (Vec<i64>, Vec<Vec<usize>>) {
        let all: Vec<i64> = self.groups.iter().flat_map(|g| g.1.iter()).filter(|v| v.is_finite()).map(|v| v.round() as i64).collect();
        let (lo, hi) = match (all.iter().min(), all.iter().max()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => return (vec![], self.groups.iter().map(|_| vec![]).collect()),
        };
        let bins: Vec<i64> = (lo..=hi).collect();
        let counts = self
            .groups
            .iter()
            .map(|g| bins.iter().map(|b| g.1.iter().filter(|v| v.is_finite() && v.round() as i64 == *b).count()).collect())
            .collect();
        (bins, counts)
    }
}

impl Chart for Histogram {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let names: Vec<String> = self.groups.iter().map(|g| g.0.clone()).collect();
        let (plot, legend) = with_legend_strip(root, &names);
        let (bins, counts) = self.counts();
        let ymax = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
        let (lo, hi) = (bins.first().copied().unwrap_or(0) as f64, bins.last().copied().unwrap_or(1) as f64);
        let mut chart = cartesian(&plot, &self.labels.title, lo - 0.5..hi + 0.5, 0.0..ymax * 1.1)?;
        let censored = self.censored_at.map(|c| c.round() as i64);
        let xfmt = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 {
                String::new()
            } else if Some(i as i64) == censored {
                "never".into()
            } else {
                format!("{i:.0}")
            }
        };
        let yfmt = |y: &f64| if (y - y.round()).abs() < 1e-6 { format!("{y:.0}") } else { String::new() };
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().x_labels(bins.len().max(2)).x_label_formatter(&xfmt).y_labels((ymax as usize + 1).min(11)).y_label_formatter(&yfmt);
        finish_mesh(&mut mesh, &self.labels)?;
        let g = self.groups.len().max(1) as f64;
        let w = 0.8 / g;
        for (gi, c) in counts.iter().enumerate() {
            for (bi, &n) in c.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let x0 = bins[bi] as f64 - 0.4 + gi as f64 * w;
                let r = [(x0, 0.0), (x0 + w, n as f64)];
                chart.draw_series([Rectangle::new(r, colour(gi).filled()), Rectangle::new(r, BLACK.stroke_width(1))]).map_err(err)?;
            }
        }
        draw_legend(&legend, &names, Key::Swatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_integer_bin() {
        let h = Histogram {
            labels: Labels::default(),
            groups: vec![("a".into(), vec![2.0, 3.0, 3.0, 7.0]), ("b".into(), vec![4.0, 7.0, f64::NAN])],
            censored_at: Some(7.0),
        };
        let (bins, counts) = h.counts();
        assert_eq!(bins, vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(counts, vec![vec![1, 2, 0, 0, 0, 1], vec![0, 0, 1, 0, 0, 1]]);
    }
}
