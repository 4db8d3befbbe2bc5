//! The rasteriser: shapes to anti-aliased coverage, layers to a composite.
//!
//! Coverage is supersampled (4x4 stratified samples) only where the pixel
//! centre is within half a pixel-diagonal of an outline; pixels further in or
//! out are exactly 1 or 0 because the distance bounds are 1-Lipschitz. Thin
//! polylines (hair strands, strings) narrower than a pixel would fall between
//! samples, so they use an analytic tent filter instead: the same ink per
//! unit length as the true stroke, spread over at most two pixels.

use super::geom::{v2, Placement, Rect, V2};
use super::shape::Sdf;
use super::texture::Material;

/// Something drawn: a shape at a placement, with a material and a label.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The shape in its local coordinates.
    pub shape: Sdf,
    pub place: Placement,
    /// Opacity in [0, 1]: 1 for solid things, 0.3-0.7 for glass.
    pub opacity: f32,
    pub material: Material,
    pub label: u8,
}

/// Coverage of one layer over its pixel bounding box.
pub struct Coverage {
    pub x0: usize,
    pub y0: usize,
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Coverage {
    pub fn get(&self, x: usize, y: usize) -> f32 {
        if x < self.x0 || y < self.y0 || x >= self.x0 + self.w || y >= self.y0 + self.h {
            return 0.0;
        }
        self.data[(y - self.y0) * self.w + (x - self.x0)]
    }
}

const SS: usize = 4;

/// Scene coordinates of a pixel centre (frame height = 1).
pub fn pixel_center(x: usize, y: usize, h: usize) -> V2 {
    v2((x as f32 + 0.5) / h as f32, (y as f32 + 0.5) / h as f32)
}

fn pixel_box(r: Rect, w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let s = h as f32;
    let x0 = libm::floorf(r.lo.x * s).max(0.0) as usize;
    let y0 = libm::floorf(r.lo.y * s).max(0.0) as usize;
    let x1 = (libm::ceilf(r.hi.x * s).max(0.0) as usize).min(w);
    let y1 = (libm::ceilf(r.hi.y * s).max(0.0) as usize).min(h);
    (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
}

/// Rasterise one layer's shape (opacity not applied) on a w x h frame.
pub fn coverage(layer: &Layer, w: usize, h: usize) -> Option<Coverage> {
    let px = 1.0 / h as f32;
    let scale = layer.place.scale;
    let bounds = layer.shape.bounds().placed(&layer.place).grow(1.5 * px);
    let (x0, y0, x1, y1) = pixel_box(bounds, w, h)?;
    let (cw, ch) = (x1 - x0, y1 - y0);
    let mut data = vec![0.0f32; cw * ch];
    let thin = layer.shape.stroke_radius().map(|r| r * scale).filter(|r| *r < 0.5 * px);
    let edge = 0.75 * px;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = pixel_center(x, y, h);
            let d = layer.shape.dist(layer.place.to_local(p)) * scale;
            let c = if let Some(r) = thin {
                let axis = d + r;
                (2.0 * r / px).min(1.0) * (1.0 - axis / px).max(0.0)
            } else if d >= edge {
                0.0
            } else if d <= -edge {
                1.0
            } else {
                let mut inside = 0;
                for sy in 0..SS {
                    for sx in 0..SS {
                        let q = v2(
                            (x as f32 + (sx as f32 + 0.5) / SS as f32) * px,
                            (y as f32 + (sy as f32 + 0.5) / SS as f32) * px,
                        );
                        if layer.shape.dist(layer.place.to_local(q)) < 0.0 {
                            inside += 1;
                        }
                    }
                }
                inside as f32 / (SS * SS) as f32
            };
            data[(y - y0) * cw + (x - x0)] = c;
        }
    }
    Some(Coverage { x0, y0, w: cw, h: ch, data })
}

/// A stack of layers flattened: alpha, un-premultiplied colour, and per pixel
/// the label of the layer with the largest visible weight and that weight.
pub struct Flattened {
    pub alpha: Vec<f32>,
    pub color: Vec<f32>,
    pub label: Vec<u8>,
    pub label_weight: Vec<f32>,
}

/// Flatten layers given back to front with the "over" operator. Where no
/// layer covers a pixel the colour is `fill(x, y)` (it is multiplied by an
/// alpha of 0 in every composite, so any smooth choice is right).
pub fn flatten(layers: &[Layer], w: usize, h: usize, fill: impl Fn(usize, usize) -> [f32; 3]) -> Flattened {
    let covs: Vec<Option<Coverage>> = layers.iter().map(|l| coverage(l, w, h)).collect();
    let n = w * h;
    let mut out = Flattened {
        alpha: vec![0.0; n],
        color: vec![0.0; n * 3],
        label: vec![0; n],
        label_weight: vec![0.0; n],
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let p = pixel_center(x, y, h);
            // Front to back: each layer is seen through the transmittance of
            // the layers in front of it.
            let mut trans = 1.0f32;
            let mut premul = [0.0f32; 3];
            let mut best = (0u8, 0.0f32);
            for (layer, cov) in layers.iter().zip(&covs).rev() {
                let Some(cov) = cov else { continue };
                let c = cov.get(x, y) * layer.opacity;
                if c <= 0.0 {
                    continue;
                }
                let wgt = c * trans;
                let col = layer.material.color(layer.place.to_local(p));
                for k in 0..3 {
                    premul[k] += wgt * col[k];
                }
                if wgt > best.1 {
                    best = (layer.label, wgt);
                }
                trans *= 1.0 - c;
                if trans <= 0.0 {
                    break;
                }
            }
            let a = 1.0 - trans;
            out.alpha[i] = a;
            let col = if a > 0.0 { premul.map(|v| (v / a).clamp(0.0, 1.0)) } else { fill(x, y) };
            out.color[i * 3..i * 3 + 3].copy_from_slice(&col);
            out.label[i] = best.0;
            out.label_weight[i] = best.1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::texture::Material;

    fn disc(r: f32, opacity: f32) -> Layer {
        Layer {
            shape: Sdf::circle(v2(0.0, 0.0), r),
            place: Placement::new(v2(0.5, 0.5), 0.0, 1.0),
            opacity,
            material: Material::solid([1.0, 0.0, 0.0]),
            label: 1,
        }
    }

    #[test]
    fn coverage_integrates_to_area() {
        let (w, h) = (64, 64);
        let r = 0.3;
        let cov = coverage(&disc(r, 1.0), w, h).unwrap();
        let area: f32 = cov.data.iter().sum::<f32>() / (h * h) as f32;
        let exact = std::f32::consts::PI * r * r;
        assert!((area - exact).abs() / exact < 0.01, "area {area} vs {exact}");
        // soft edge: some pixels strictly between 0 and 1
        assert!(cov.data.iter().any(|c| *c > 0.05 && *c < 0.95));
    }

    #[test]
    fn thin_strands_keep_their_ink() {
        let (w, h) = (100, 100);
        let r = 0.001; // a fifth of a pixel wide
        let layer = Layer {
            shape: Sdf::Polyline { pts: vec![v2(0.2, 0.3), v2(0.8, 0.37)], r },
            place: Placement::identity(),
            opacity: 1.0,
            material: Material::solid([0.0; 3]),
            label: 1,
        };
        let cov = coverage(&layer, w, h).unwrap();
        let ink: f32 = cov.data.iter().sum::<f32>() / (h * h) as f32;
        let len = (v2(0.8, 0.37) - v2(0.2, 0.3)).len();
        let exact = 2.0 * r * len;
        assert!((ink - exact).abs() / exact < 0.05, "ink {ink} vs {exact}");
        assert!(cov.data.iter().all(|c| *c <= 0.21));
    }

    #[test]
    fn over_operator_alpha() {
        let layers = vec![disc(0.2, 0.5), disc(0.2, 0.5)];
        let f = flatten(&layers, 32, 32, |_, _| [0.0; 3]);
        let centre = 16 * 32 + 16;
        assert!((f.alpha[centre] - 0.75).abs() < 1e-6);
        assert_eq!(f.color[centre * 3], 1.0);
        assert_eq!(f.alpha[0], 0.0);
    }
}
