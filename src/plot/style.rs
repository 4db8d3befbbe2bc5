//! Fonts, colours, markers and dashes shared by every chart.

use std::ops::Range;
use std::sync::Once;

use plotters::chart::{ChartContext, MeshStyle};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{err, Labels};

/// The plotting context every chart here draws in.
pub type Plane2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Title, margins and axis areas shared by every chart.
pub fn cartesian<'a, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>, title: &str, x: Range<f64>, y: Range<f64>) -> anyhow::Result<Plane2d<'a, DB>> {
    ChartBuilder::on(area).caption(title, title_font()).margin(10).x_label_area_size(40).y_label_area_size(60).build_cartesian_2d(x, y).map_err(err)
}

/// Axis descriptions, fonts and the light grid, then draw the mesh.
pub fn finish_mesh<DB: DrawingBackend>(mesh: &mut MeshStyle<'_, '_, RangedCoordf64, RangedCoordf64, DB>, labels: &Labels) -> anyhow::Result<()> {
    mesh.x_desc(&labels.x)
        .y_desc(&labels.y)
        .label_style(label_font())
        .axis_desc_style(label_font())
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)
}

/// Register DejaVu Sans (compiled in) as `sans-serif`, once per process.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails for a malformed font file, and these are fixed bytes.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Okabe-Ito colours ordered so neighbours differ in lightness too
/// (black, orange, blue, light blue, vermillion, green, purple, yellow).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(0, 114, 178),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Marker shapes, one per series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
    Diamond,
}

pub fn marker(i: usize) -> Marker {
    [Marker::Circle, Marker::Triangle, Marker::Square, Marker::Cross, Marker::Diamond][i % 5]
}

/// Dash (length, gap) in pixels; `None` is a solid line.
pub fn dash(i: usize) -> Option<(u32, u32)> {
    [None, Some((8, 4)), Some((3, 3)), Some((12, 4)), Some((6, 2))][i % 5]
}

/// Draw marker `m` at `at` (backend pixels) on `area`.
pub fn draw_marker<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, m: Marker, at: (i32, i32), c: RGBColor) -> anyhow::Result<()> {
    let (x, y) = at;
    let s = 4;
    let st = c.stroke_width(2);
    let r = match m {
        Marker::Circle => area.draw(&Circle::new(at, s, c.filled())),
        Marker::Triangle => area.draw(&Polygon::new(vec![(x, y - s - 1), (x - s - 1, y + s), (x + s + 1, y + s)], c.filled())),
        Marker::Square => area.draw(&Rectangle::new([(x - s, y - s), (x + s, y + s)], st)),
        Marker::Cross => area
            .draw(&PathElement::new(vec![(x - s, y - s), (x + s, y + s)], st))
            .and_then(|_| area.draw(&PathElement::new(vec![(x - s, y + s), (x + s, y - s)], st))),
        Marker::Diamond => area.draw(&Polygon::new(vec![(x, y - s - 1), (x + s + 1, y), (x, y + s + 1), (x - s - 1, y)], c.filled())),
    };
    r.map_err(super::err)
}

pub fn title_font() -> TextStyle<'static> {
    ("sans-serif", 20).into_font().style(FontStyle::Bold).into()
}

pub fn label_font() -> TextStyle<'static> {
    ("sans-serif", 15).into_font().into()
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A short line in the series' dash, with its marker.
    Line,
    /// A filled swatch (bars).
    Swatch,
}

/// Width in pixels of a legend entry (key, gap, text at ~8 px a character).
fn entry_width(label: &str) -> i32 {
    44 + label.chars().count() as i32 * 8 + 18
}

/// Legend entries packed greedily into rows of at most `width` pixels.
pub fn legend_rows(entries: &[String], width: u32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = vec![];
    let mut used = i32::MAX;
    for (i, e) in entries.iter().enumerate() {
        let w = entry_width(e);
        if used.saturating_add(w) > width as i32 - 8 {
            rows.push(vec![]);
            used = 0;
        }
        rows.last_mut().expect("a row").push(i);
        used += w;
    }
    rows
}

const ROW_H: u32 = 24;

/// A legend below the plot (series `i` styled by `colour(i)`, `marker(i)`,
/// `dash(i)`), wrapped into rows; outside the plot so it never hides data.
pub fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, entries: &[String], key: Key) -> anyhow::Result<()> {
    let font = label_font();
    let (w, _) = area.dim_in_pixel();
    for (r, row) in legend_rows(entries, w).iter().enumerate() {
        let total: i32 = row.iter().map(|&i| entry_width(&entries[i])).sum();
        let mut x = ((w as i32 - total) / 2).max(4);
        let y = (r as u32 * ROW_H + ROW_H / 2 + 4) as i32;
        for &i in row {
            let c = colour(i);
            match key {
                Key::Line => {
                    let pts = vec![(x, y), (x + 34, y)];
                    match dash(i) {
                        None => area.draw(&PathElement::new(pts, c.stroke_width(2))),
                        Some((d, g)) => area.draw(&plotters::element::DashedPathElement::new(pts.into_iter(), d, g, c.stroke_width(2))),
                    }
                    .map_err(super::err)?;
                    draw_marker(area, marker(i), (x + 17, y), c)?;
                }
                Key::Swatch => {
                    area.draw(&Rectangle::new([(x + 8, y - 7), (x + 30, y + 7)], c.filled())).map_err(super::err)?;
                    area.draw(&Rectangle::new([(x + 8, y - 7), (x + 30, y + 7)], BLACK.stroke_width(1))).map_err(super::err)?;
                }
            }
            area.draw(&Text::new(entries[i].clone(), (x + 40, y - 8), font.clone())).map_err(super::err)?;
            x += entry_width(&entries[i]);
        }
    }
    Ok(())
}

/// Split a chart's area into the plot and a legend strip at the bottom tall
/// enough for `entries`.
pub fn with_legend_strip<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[String],
) -> (DrawingArea<DB, plotters::coord::Shift>, DrawingArea<DB, plotters::coord::Shift>) {
    let (w, h) = root.dim_in_pixel();
    let rows = legend_rows(entries, w).len().max(1) as u32;
    root.split_vertically(h.saturating_sub(rows * ROW_H + 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_wraps_when_a_row_is_full() {
        let e: Vec<String> = ["MAML-RAL + sgt", "MAML-RAL + normal", "RVM (factory) + sgt", "RVM (factory) + normal"].iter().map(|s| s.to_string()).collect();
        let rows = legend_rows(&e, 720);
        assert_eq!(rows.concat(), vec![0, 1, 2, 3]);
        assert!(rows.len() == 2, "{rows:?}");
        for r in &rows {
            assert!(r.iter().map(|&i| entry_width(&e[i])).sum::<i32>() <= 712);
        }
        assert_eq!(legend_rows(&e[..1], 720), vec![vec![0]]);
    }
}
