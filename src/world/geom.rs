//! 2-D geometry in scene units: the frame is 1.0 high and `aspect` wide, with
//! y pointing down, so every profile renders the same scene at its own size.

use std::ops::{Add, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct V2 {
    pub x: f32,
    pub y: f32,
}

pub const fn v2(x: f32, y: f32) -> V2 {
    V2 { x, y }
}

impl V2 {
    pub fn dot(self, o: V2) -> f32 {
        self.x * o.x + self.y * o.y
    }
    pub fn len(self) -> f32 {
        libm::sqrtf(self.dot(self))
    }
    /// Unit vector at `angle` radians from +x (clockwise on screen, y down).
    pub fn polar(angle: f32) -> V2 {
        v2(libm::cosf(angle), libm::sinf(angle))
    }
    pub fn rot(self, angle: f32) -> V2 {
        let (s, c) = (libm::sinf(angle), libm::cosf(angle));
        v2(c * self.x - s * self.y, s * self.x + c * self.y)
    }
    pub fn abs(self) -> V2 {
        v2(self.x.abs(), self.y.abs())
    }
    pub fn max(self, o: V2) -> V2 {
        v2(self.x.max(o.x), self.y.max(o.y))
    }
    pub fn min(self, o: V2) -> V2 {
        v2(self.x.min(o.x), self.y.min(o.y))
    }
    pub fn lerp(self, o: V2, t: f32) -> V2 {
        self + (o - self) * t
    }
}

impl Add for V2 {
    type Output = V2;
    fn add(self, o: V2) -> V2 {
        v2(self.x + o.x, self.y + o.y)
    }
}
impl Sub for V2 {
    type Output = V2;
    fn sub(self, o: V2) -> V2 {
        v2(self.x - o.x, self.y - o.y)
    }
}
impl Mul<f32> for V2 {
    type Output = V2;
    fn mul(self, k: f32) -> V2 {
        v2(self.x * k, self.y * k)
    }
}
impl Neg for V2 {
    type Output = V2;
    fn neg(self) -> V2 {
        v2(-self.x, -self.y)
    }
}

/// A similarity transform (uniform scale, rotation, translation). Only
/// similarities are used so that signed distances stay exact after
/// placement: d_scene = d_local * scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub pos: V2,
    pub angle: f32,
    pub scale: f32,
}

impl Placement {
    pub fn new(pos: V2, angle: f32, scale: f32) -> Self {
        Placement { pos, angle, scale }
    }
    pub fn identity() -> Self {
        Placement::new(v2(0.0, 0.0), 0.0, 1.0)
    }
    pub fn to_scene(&self, p: V2) -> V2 {
        (p * self.scale).rot(self.angle) + self.pos
    }
    pub fn to_local(&self, p: V2) -> V2 {
        (p - self.pos).rot(-self.angle) * (1.0 / self.scale)
    }
}

/// An axis-aligned box, used to cull pixels a shape cannot touch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub lo: V2,
    pub hi: V2,
}

impl Rect {
    pub fn empty() -> Self {
        Rect { lo: v2(f32::INFINITY, f32::INFINITY), hi: v2(f32::NEG_INFINITY, f32::NEG_INFINITY) }
    }
    pub fn around(c: V2, r: f32) -> Self {
        Rect { lo: v2(c.x - r, c.y - r), hi: v2(c.x + r, c.y + r) }
    }
    pub fn union(self, o: Rect) -> Rect {
        Rect { lo: self.lo.min(o.lo), hi: self.hi.max(o.hi) }
    }
    pub fn grow(self, m: f32) -> Rect {
        Rect { lo: self.lo - v2(m, m), hi: self.hi + v2(m, m) }
    }
    pub fn corners(&self) -> [V2; 4] {
        [self.lo, v2(self.hi.x, self.lo.y), self.hi, v2(self.lo.x, self.hi.y)]
    }
    /// The bounding box of this box after a placement.
    pub fn placed(&self, p: &Placement) -> Rect {
        self.corners().iter().fold(Rect::empty(), |r, c| {
            let s = p.to_scene(*c);
            r.union(Rect { lo: s, hi: s })
        })
    }
    pub fn is_empty(&self) -> bool {
        self.lo.x > self.hi.x || self.lo.y > self.hi.y
    }
    pub fn intersects(&self, o: &Rect) -> bool {
        !(self.hi.x < o.lo.x || o.hi.x < self.lo.x || self.hi.y < o.lo.y || o.hi.y < self.lo.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_round_trips() {
        let p = Placement::new(v2(0.3, -0.2), 0.7, 2.5);
        let q = v2(0.11, 0.42);
        let back = p.to_local(p.to_scene(q));
        assert!((back - q).len() < 1e-6);
        // distances scale by the placement's scale
        let a = p.to_scene(v2(0.0, 0.0));
        let b = p.to_scene(v2(1.0, 0.0));
        assert!(((a - b).len() - 2.5).abs() < 1e-5);
    }
}
