//! Signed distance functions (negative inside) for the world's shapes. All
//! primitives are exact or 1-Lipschitz lower bounds, which is what the
//! rasteriser's culling needs: |d| never over-states the true distance.

use super::geom::{v2, Rect, V2};

#[derive(Clone, Debug)]
pub enum Sdf {
    Circle { c: V2, r: f32 },
    /// Axis-scaled circle, rotated; a 1-Lipschitz bound, exact on the axes.
    Ellipse { c: V2, rx: f32, ry: f32, rot: f32 },
    /// Rounded rectangle with half sizes (hw, hh) and corner radius `round`.
    Box { c: V2, hw: f32, hh: f32, rot: f32, round: f32 },
    /// A thick segment.
    Capsule { a: V2, b: V2, r: f32 },
    /// A segment whose radius goes from `ra` at `a` to `rb` at `b`
    /// (limbs, handles, blades). Bound: distance to the axis minus the
    /// interpolated radius.
    Cone { a: V2, b: V2, ra: f32, rb: f32 },
    /// A thick polyline; thin ones render as sub-pixel strands (hair, strings).
    Polyline { pts: Vec<V2>, r: f32 },
    Triangle { a: V2, b: V2, c: V2 },
    Union(Vec<Sdf>),
    /// `a` minus `b` (holes, cut-outs).
    Sub(Box<Sdf>, Box<Sdf>),
    /// The band of half-width `t` around the outline of the inner shape
    /// (rims, rings, frames).
    Shell(Box<Sdf>, f32),
}

fn seg_dist(p: V2, a: V2, b: V2) -> (f32, f32) {
    let pa = p - a;
    let ba = b - a;
    let l2 = ba.dot(ba);
    let h = if l2 > 0.0 { (pa.dot(ba) / l2).clamp(0.0, 1.0) } else { 0.0 };
    ((pa - ba * h).len(), h)
}

impl Sdf {
    pub fn union(parts: Vec<Sdf>) -> Sdf {
        Sdf::Union(parts)
    }
    pub fn minus(self, hole: Sdf) -> Sdf {
        Sdf::Sub(Box::new(self), Box::new(hole))
    }
    pub fn shell(self, half_width: f32) -> Sdf {
        Sdf::Shell(Box::new(self), half_width)
    }
    pub fn circle(c: V2, r: f32) -> Sdf {
        Sdf::Circle { c, r }
    }
    pub fn rect(c: V2, hw: f32, hh: f32, round: f32) -> Sdf {
        Sdf::Box { c, hw, hh, rot: 0.0, round }
    }
    pub fn capsule(a: V2, b: V2, r: f32) -> Sdf {
        Sdf::Capsule { a, b, r }
    }

    pub fn dist(&self, p: V2) -> f32 {
        match self {
            Sdf::Circle { c, r } => (p - *c).len() - r,
            Sdf::Ellipse { c, rx, ry, rot } => {
                let q = (p - *c).rot(-rot);
                let k = v2(q.x / rx, q.y / ry).len();
                (k - 1.0) * rx.min(*ry)
            }
            Sdf::Box { c, hw, hh, rot, round } => {
                let q = (p - *c).rot(-rot).abs() - v2(hw - round, hh - round);
                let outside = q.max(v2(0.0, 0.0)).len();
                let inside = q.x.max(q.y).min(0.0);
                outside + inside - round
            }
            Sdf::Capsule { a, b, r } => seg_dist(p, *a, *b).0 - r,
            Sdf::Cone { a, b, ra, rb } => {
                let (d, h) = seg_dist(p, *a, *b);
                // Divide by the slope factor so the bound stays 1-Lipschitz.
                let slope = (rb - ra) / (*b - *a).len().max(1e-6);
                (d - (ra + (rb - ra) * h)) / libm::sqrtf(1.0 + slope * slope)
            }
            Sdf::Polyline { pts, r } => {
                let mut d = f32::INFINITY;
                for w in pts.windows(2) {
                    d = d.min(seg_dist(p, w[0], w[1]).0);
                }
                d - r
            }
            Sdf::Triangle { a, b, c } => triangle_dist(p, *a, *b, *c),
            Sdf::Union(parts) => parts.iter().map(|s| s.dist(p)).fold(f32::INFINITY, f32::min),
            Sdf::Sub(a, b) => a.dist(p).max(-b.dist(p)),
            Sdf::Shell(s, t) => s.dist(p).abs() - t,
        }
    }

    /// A box that contains the shape (conservative).
    pub fn bounds(&self) -> Rect {
        match self {
            Sdf::Circle { c, r } => Rect::around(*c, *r),
            Sdf::Ellipse { c, rx, ry, .. } => Rect::around(*c, rx.max(*ry)),
            Sdf::Box { c, hw, hh, rot, .. } => {
                let (sn, cs) = (libm::sinf(*rot).abs(), libm::cosf(*rot).abs());
                let e = v2(cs * hw + sn * hh, sn * hw + cs * hh);
                Rect { lo: *c - e, hi: *c + e }
            }
            Sdf::Capsule { a, b, r } => Rect::around(*a, *r).union(Rect::around(*b, *r)),
            Sdf::Cone { a, b, ra, rb } => Rect::around(*a, *ra).union(Rect::around(*b, *rb)),
            Sdf::Polyline { pts, r } => pts.iter().fold(Rect::empty(), |acc, q| acc.union(Rect::around(*q, *r))),
            Sdf::Triangle { a, b, c } => Rect::around(*a, 0.0).union(Rect::around(*b, 0.0)).union(Rect::around(*c, 0.0)),
            Sdf::Union(parts) => parts.iter().fold(Rect::empty(), |acc, s| acc.union(s.bounds())),
            Sdf::Sub(a, _) => a.bounds(),
            Sdf::Shell(s, t) => s.bounds().grow(*t),
        }
    }

    /// The stroke radius when the whole shape is one thin polyline, which the
    /// rasteriser draws with an analytic line filter instead of samples.
    pub fn stroke_radius(&self) -> Option<f32> {
        match self {
            Sdf::Polyline { r, .. } => Some(*r),
            _ => None,
        }
    }
}

fn triangle_dist(p: V2, a: V2, b: V2, c: V2) -> f32 {
    let d = seg_dist(p, a, b).0.min(seg_dist(p, b, c).0).min(seg_dist(p, c, a).0);
    let cross = |o: V2, e: V2, q: V2| (e.x - o.x) * (q.y - o.y) - (e.y - o.y) * (q.x - o.x);
    let s1 = cross(a, b, p);
    let s2 = cross(b, c, p);
    let s3 = cross(c, a, p);
    let inside = (s1 >= 0.0 && s2 >= 0.0 && s3 >= 0.0) || (s1 <= 0.0 && s2 <= 0.0 && s3 <= 0.0);
    if inside { -d } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_distances() {
        let c = Sdf::circle(v2(0.0, 0.0), 1.0);
        assert!((c.dist(v2(2.0, 0.0)) - 1.0).abs() < 1e-6);
        assert!((c.dist(v2(0.0, 0.0)) + 1.0).abs() < 1e-6);
        let b = Sdf::rect(v2(0.0, 0.0), 2.0, 1.0, 0.0);
        assert!((b.dist(v2(3.0, 0.0)) - 1.0).abs() < 1e-6);
        assert!((b.dist(v2(0.0, 0.5)) + 0.5).abs() < 1e-6);
        let ring = Sdf::circle(v2(0.0, 0.0), 1.0).minus(Sdf::circle(v2(0.0, 0.0), 0.5));
        assert!(ring.dist(v2(0.0, 0.0)) > 0.0, "the hole is outside");
        assert!(ring.dist(v2(0.75, 0.0)) < 0.0);
        let t = Sdf::Triangle { a: v2(0.0, 0.0), b: v2(1.0, 0.0), c: v2(0.0, 1.0) };
        assert!(t.dist(v2(0.2, 0.2)) < 0.0);
        assert!((t.dist(v2(-1.0, 0.0)) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bounds_contain_the_shape() {
        let shapes = [
            Sdf::Ellipse { c: v2(0.1, 0.2), rx: 0.3, ry: 0.1, rot: 0.5 },
            Sdf::Box { c: v2(0.0, 0.0), hw: 0.2, hh: 0.4, rot: 1.0, round: 0.05 },
            Sdf::Cone { a: v2(0.0, 0.0), b: v2(0.5, 0.1), ra: 0.1, rb: 0.02 },
        ];
        for s in &shapes {
            let r = s.bounds();
            for i in 0..50 {
                for j in 0..50 {
                    let p = v2(-1.0 + i as f32 * 0.04, -1.0 + j as f32 * 0.04);
                    if s.dist(p) < 0.0 {
                        assert!(p.x >= r.lo.x && p.x <= r.hi.x && p.y >= r.lo.y && p.y <= r.hi.y);
                    }
                }
            }
        }
    }
}
