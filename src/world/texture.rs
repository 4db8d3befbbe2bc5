//! Procedural materials: colour as a function of a shape's local coordinates,
//! so textures move and rotate with the thing they belong to.

use super::geom::V2;
use super::rng::Rand;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pattern {
    Solid,
    /// Bands along the local x axis.
    Stripes,
    Checker,
    /// Smooth value noise (fabric, wood, plaster).
    Noise,
    Dots,
    /// A linear blend from `a` (top) to `b` (bottom): shading on round things.
    Gradient,
}

pub const PATTERNS: [Pattern; 6] =
    [Pattern::Solid, Pattern::Stripes, Pattern::Checker, Pattern::Noise, Pattern::Dots, Pattern::Gradient];

#[derive(Clone, Debug)]
pub struct Material {
    pub a: [f32; 3],
    pub b: [f32; 3],
    pub pattern: Pattern,
    /// Feature size in local units.
    pub scale: f32,
    pub angle: f32,
    /// Noise seed, so two materials with one pattern differ.
    pub salt: u32,
}

impl Material {
    pub fn solid(c: [f32; 3]) -> Self {
        Material { a: c, b: c, pattern: Pattern::Solid, scale: 1.0, angle: 0.0, salt: 0 }
    }

    /// (The angle's upper bound is 3.14, not pi: every generated dataset
    /// depends on it, so it stays as first written.)
    #[allow(clippy::approx_constant)]
    pub fn random(r: &mut Rand, a: [f32; 3], scale: f32) -> Self {
        let b = [r.f(), r.f(), r.f()];
        Material { a, b, pattern: *r.pick(&PATTERNS), scale, angle: r.range(0.0, 3.14), salt: r.u64() as u32 }
    }

    pub fn with(mut self, pattern: Pattern, b: [f32; 3], scale: f32) -> Self {
        self.pattern = pattern;
        self.b = b;
        self.scale = scale;
        self
    }

    pub fn color(&self, p: V2) -> [f32; 3] {
        let q = p.rot(-self.angle) * (1.0 / self.scale);
        let t = match self.pattern {
            Pattern::Solid => 0.0,
            Pattern::Stripes => {
                if q.x.rem_euclid(2.0) < 1.0 { 0.0 } else { 0.75 }
            }
            Pattern::Checker => {
                let k = (libm::floorf(q.x) + libm::floorf(q.y)) as i64;
                if k.rem_euclid(2) == 0 { 0.0 } else { 0.8 }
            }
            Pattern::Noise => 0.35 * value_noise(q.x, q.y, self.salt) + 0.25 * value_noise(2.1 * q.x, 2.1 * q.y, self.salt ^ 0x9e37),
            Pattern::Dots => {
                let fx = q.x.rem_euclid(1.0) - 0.5;
                let fy = q.y.rem_euclid(1.0) - 0.5;
                if fx * fx + fy * fy < 0.09 { 0.85 } else { 0.0 }
            }
            Pattern::Gradient => (0.5 + 0.5 * libm::tanhf(p.y / self.scale)).clamp(0.0, 1.0),
        };
        mix(self.a, self.b, t)
    }
}

pub fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn lattice(ix: i32, iy: i32, salt: u32) -> f32 {
    let mut h = (ix as u32).wrapping_mul(0x8da6_b343) ^ (iy as u32).wrapping_mul(0xd816_3841) ^ salt.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1_e995);
    h ^= h >> 15;
    (h & 0xffff) as f32 / 65535.0
}

/// Bilinear value noise in [0, 1] with a smoothstep fade.
pub fn value_noise(x: f32, y: f32, salt: u32) -> f32 {
    let (fx, fy) = (libm::floorf(x), libm::floorf(y));
    let (ix, iy) = (fx as i32, fy as i32);
    let (tx, ty) = (x - fx, y - fy);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = lattice(ix, iy, salt);
    let b = lattice(ix + 1, iy, salt);
    let c = lattice(ix, iy + 1, salt);
    let d = lattice(ix + 1, iy + 1, salt);
    let top = a + (b - a) * sx;
    let bot = c + (d - c) * sx;
    top + (bot - top) * sy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::geom::v2;

    #[test]
    fn noise_is_bounded_and_continuous() {
        for i in 0..200 {
            let x = i as f32 * 0.037;
            let n = value_noise(x, 0.3 * x, 7);
            assert!((0.0..=1.0).contains(&n));
            let m = value_noise(x + 1e-4, 0.3 * x, 7);
            assert!((n - m).abs() < 1e-2);
        }
    }

    #[test]
    fn materials_stay_in_gamut() {
        let mut r = Rand::keyed("tex", 0);
        for _ in 0..20 {
            let a = [r.f(), r.f(), r.f()];
            let m = Material::random(&mut r, a, 0.1);
            for i in 0..30 {
                let c = m.color(v2(i as f32 * 0.03, -0.2 + i as f32 * 0.01));
                assert!(c.iter().all(|v| (0.0..=1.0).contains(v)));
            }
        }
    }
}
