//! Object families: each has its own shape generator, materials and topology
//! (holes, thin parts, semi-transparent glass). The meta families stock the
//! Meta Dataset stand-in (`synmeta`), the unseen families stock the evaluation
//! sets; the two lists never share a family, as in the paper (Sec. III-B:
//! the Meta Dataset's objects have obvious domain gaps with the test sets).
//!
//! Objects are built in local units (about 1 high, centred near the origin)
//! with a `grip`: a point inside the object where a hand holds it.

use super::geom::{v2, V2};
use super::rng::Rand;
use super::shape::Sdf;
use super::texture::{Material, Pattern};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Meta,
    Unseen,
}

pub struct Family {
    pub name: &'static str,
    pub split: Split,
    /// What makes the family hard for matting.
    pub topology: &'static str,
    pub build: fn(&mut Rand) -> ObjectModel,
}

#[derive(Clone, Debug)]
pub struct ObjPart {
    pub shape: Sdf,
    pub opacity: f32,
    pub material: Material,
}

#[derive(Clone, Debug)]
pub struct ObjectModel {
    /// Back to front.
    pub parts: Vec<ObjPart>,
    pub grip: V2,
}

impl ObjectModel {
    /// Signed distance of the union of all parts.
    pub fn dist(&self, p: V2) -> f32 {
        self.parts.iter().map(|q| q.shape.dist(p)).fold(f32::INFINITY, f32::min)
    }
    pub fn center(&self) -> V2 {
        let b = self.parts.iter().fold(super::geom::Rect::empty(), |r, p| r.union(p.shape.bounds()));
        (b.lo + b.hi) * 0.5
    }
}

fn part(shape: Sdf, material: Material) -> ObjPart {
    ObjPart { shape, opacity: 1.0, material }
}
fn glass(shape: Sdf, r: &mut Rand) -> ObjPart {
    let tint = [r.range(0.6, 0.95), r.range(0.7, 0.95), r.range(0.75, 1.0)];
    ObjPart { shape, opacity: r.range(0.3, 0.7), material: Material::solid(tint).with(Pattern::Gradient, [1.0, 1.0, 1.0], 0.3) }
}
fn color(r: &mut Rand) -> [f32; 3] {
    [r.f(), r.f(), r.f()]
}
fn mat(r: &mut Rand, scale: f32) -> Material {
    let c = color(r);
    Material::random(r, c, scale)
}
fn plain(r: &mut Rand) -> Material {
    Material::solid(color(r))
}
fn model(parts: Vec<ObjPart>, grip: V2) -> ObjectModel {
    ObjectModel { parts, grip }
}

macro_rules! families {
    ($($name:literal, $split:ident, $topo:literal, $f:ident;)*) => {
        /// Every family, meta first.
        pub const FAMILIES: &[Family] = &[
            $(Family { name: $name, split: Split::$split, topology: $topo, build: $f },)*
        ];
    };
}

families! {
    "mug", Meta, "handle with a hole", mug;
    "book", Meta, "flat box, printed cover", book;
    "ball", Meta, "round, patterned", ball;
    "bottle", Meta, "narrow neck", bottle;
    "phone", Meta, "dark screen with bezel", phone;
    "carton", Meta, "box with tape", carton;
    "banana", Meta, "thin curved ends", banana;
    "racket", Meta, "rim with string grid: many holes, sub-pixel strings", racket;
    "wine_glass", Meta, "semi-transparent bowl, thin stem", wine_glass;
    "teddy", Meta, "blob of circles", teddy;
    "scissors", Unseen, "two ring holes, pointed blades", scissors;
    "key", Unseen, "ring hole, toothed shaft", key;
    "donut", Unseen, "annulus (one big hole)", donut;
    "star", Unseen, "five sharp points", star;
    "headphones", Unseen, "thin arc band, large hole", headphones;
    "fan", Unseen, "rim shell around blades: holes", fan;
    "hammer", Unseen, "T shape, thin handle", hammer;
    "spatula", Unseen, "slotted head, thin handle", spatula;
    "picture_frame", Unseen, "frame with a large hole", picture_frame;
    "hanger", Unseen, "thin wire triangle and hook", hanger;
    "glass_vase", Unseen, "semi-transparent body", glass_vase;
    "ladder_toy", Unseen, "rails and rungs: many holes", ladder_toy;
    "eyeglasses", Unseen, "two semi-transparent lenses in thin rims", eyeglasses;
    "wrench", Unseen, "open jaw notch", wrench;
    "flag", Unseen, "thin pole, flat cloth", flag;
    "frying_pan", Unseen, "disc with long handle", frying_pan;
    "kite", Unseen, "diamond with a sub-pixel tail", kite;
    "guitar", Unseen, "figure-eight body, long neck", guitar;
    "plant", Unseen, "leaves on thin stems", plant;
    "umbrella", Unseen, "canopy on a thin shaft with hook", umbrella;
    "tumbler", Unseen, "semi-transparent glass with opaque rim", tumbler;
}

pub fn by_name(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

pub fn of_split(split: Split) -> Vec<&'static Family> {
    FAMILIES.iter().filter(|f| f.split == split).collect()
}

// ---- meta families -------------------------------------------------------

fn mug(r: &mut Rand) -> ObjectModel {
    let (hw, hh) = (r.range(0.22, 0.3), r.range(0.3, 0.4));
    let m = mat(r, 0.08);
    let body = Sdf::rect(v2(0.0, 0.0), hw, hh, 0.04);
    let handle = Sdf::circle(v2(hw + 0.05, 0.0), 0.17).minus(Sdf::circle(v2(hw + 0.05, 0.0), 0.1));
    model(vec![part(handle, m.clone()), part(body, m)], v2(hw + 0.18, 0.0))
}
fn book(r: &mut Rand) -> ObjectModel {
    let (hw, hh) = (r.range(0.28, 0.38), r.range(0.4, 0.5));
    let cover = mat(r, 0.1);
    let spine = plain(r);
    model(
        vec![part(Sdf::rect(v2(0.0, 0.0), hw, hh, 0.01), cover), part(Sdf::rect(v2(-hw + 0.03, 0.0), 0.03, hh, 0.0), spine)],
        v2(-hw + 0.05, 0.1),
    )
}
fn ball(r: &mut Rand) -> ObjectModel {
    let rad = r.range(0.35, 0.5);
    let m = mat(r, 0.12);
    model(vec![part(Sdf::circle(v2(0.0, 0.0), rad), m)], v2(0.0, rad * 0.7))
}
fn bottle(r: &mut Rand) -> ObjectModel {
    let w = r.range(0.14, 0.2);
    let m = mat(r, 0.1);
    let body = Sdf::union(vec![
        Sdf::rect(v2(0.0, 0.15), w, 0.32, 0.06),
        Sdf::Cone { a: v2(0.0, -0.16), b: v2(0.0, -0.4), ra: w * 0.9, rb: 0.05 },
    ]);
    let cap = Sdf::rect(v2(0.0, -0.45), 0.055, 0.05, 0.01);
    model(vec![part(body, m), part(cap, plain(r))], v2(0.0, 0.2))
}
fn phone(r: &mut Rand) -> ObjectModel {
    let (hw, hh) = (r.range(0.2, 0.26), r.range(0.42, 0.5));
    let bezel = plain(r);
    let screen = Material::solid([0.05, 0.07, 0.12]).with(Pattern::Gradient, [0.2, 0.3, 0.5], 0.4);
    model(
        vec![part(Sdf::rect(v2(0.0, 0.0), hw, hh, 0.05), bezel), part(Sdf::rect(v2(0.0, 0.0), hw - 0.03, hh - 0.06, 0.02), screen)],
        v2(0.0, hh * 0.6),
    )
}
fn carton(r: &mut Rand) -> ObjectModel {
    let (hw, hh) = (r.range(0.3, 0.45), r.range(0.3, 0.42));
    let card = Material::solid([0.72, 0.55, 0.35]).with(Pattern::Noise, [0.6, 0.45, 0.28], 0.05);
    let tape = Material::solid(r.jitter([0.85, 0.8, 0.6], 0.1));
    model(vec![part(Sdf::rect(v2(0.0, 0.0), hw, hh, 0.0), card), part(Sdf::rect(v2(0.0, 0.0), hw, 0.04, 0.0), tape)], v2(hw * 0.6, 0.0))
}
fn banana(r: &mut Rand) -> ObjectModel {
    let rad = r.range(0.45, 0.55);
    let off = r.range(0.15, 0.22);
    let peel = Material::solid([0.95, 0.85, 0.2]).with(Pattern::Gradient, [0.75, 0.6, 0.1], 0.2);
    let shape = Sdf::circle(v2(0.0, 0.0), rad).minus(Sdf::circle(v2(0.0, -off), rad * 0.95));
    model(vec![part(shape, peel)], v2(0.0, rad - 0.06))
}
fn racket(r: &mut Rand) -> ObjectModel {
    let frame = plain(r);
    let (rx, ry) = (r.range(0.22, 0.28), r.range(0.3, 0.36));
    let head = Sdf::Ellipse { c: v2(0.0, -0.15), rx, ry, rot: 0.0 };
    let rim = head.clone().shell(0.025);
    let handle = Sdf::Cone { a: v2(0.0, 0.18), b: v2(0.0, 0.55), ra: 0.035, rb: 0.045 };
    let mut parts = vec![part(rim, frame.clone()), part(handle, frame)];
    let string = Material::solid(r.jitter([0.9, 0.9, 0.85], 0.08));
    for k in -4..=4 {
        let x = k as f32 * rx / 5.0;
        let h = ry * libm::sqrtf((1.0 - (x / rx) * (x / rx)).max(0.0));
        parts.push(part(Sdf::Polyline { pts: vec![v2(x, -0.15 - h), v2(x, -0.15 + h)], r: 0.004 }, string.clone()));
        let y = k as f32 * ry / 5.0;
        let w = rx * libm::sqrtf((1.0 - (y / ry) * (y / ry)).max(0.0));
        parts.push(part(Sdf::Polyline { pts: vec![v2(-w, -0.15 + y), v2(w, -0.15 + y)], r: 0.004 }, string.clone()));
    }
    model(parts, v2(0.0, 0.45))
}
fn wine_glass(r: &mut Rand) -> ObjectModel {
    let bowl = Sdf::circle(v2(0.0, -0.2), r.range(0.2, 0.26)).minus(Sdf::rect(v2(0.0, -0.5), 0.3, 0.15, 0.0));
    let stem = Sdf::capsule(v2(0.0, 0.0), v2(0.0, 0.35), 0.02);
    let foot = Sdf::Ellipse { c: v2(0.0, 0.37), rx: 0.15, ry: 0.03, rot: 0.0 };
    let g = glass(bowl, r);
    let clear = Material::solid([0.85, 0.88, 0.9]);
    model(vec![g, part(stem, clear.clone()), part(foot, clear)], v2(0.0, 0.2))
}
fn teddy(r: &mut Rand) -> ObjectModel {
    let fur = Material::solid(r.jitter([0.55, 0.38, 0.22], 0.12)).with(Pattern::Noise, [0.4, 0.27, 0.15], 0.04);
    let s = Sdf::union(vec![
        Sdf::circle(v2(0.0, 0.15), 0.28),
        Sdf::circle(v2(0.0, -0.22), 0.2),
        Sdf::circle(v2(-0.16, -0.38), 0.08),
        Sdf::circle(v2(0.16, -0.38), 0.08),
        Sdf::circle(v2(-0.27, 0.05), 0.1),
        Sdf::circle(v2(0.27, 0.05), 0.1),
    ]);
    model(vec![part(s, fur)], v2(0.0, 0.2))
}

// ---- unseen families -----------------------------------------------------

fn scissors(r: &mut Rand) -> ObjectModel {
    let handle = plain(r);
    let steel = Material::solid([0.75, 0.77, 0.8]).with(Pattern::Gradient, [0.5, 0.52, 0.55], 0.1);
    let rings = Sdf::union(vec![
        Sdf::circle(v2(-0.12, 0.3), 0.12).minus(Sdf::circle(v2(-0.12, 0.3), 0.07)),
        Sdf::circle(v2(0.12, 0.3), 0.12).minus(Sdf::circle(v2(0.12, 0.3), 0.07)),
    ]);
    let spread = r.range(0.02, 0.1);
    let blades = Sdf::union(vec![
        Sdf::Triangle { a: v2(-0.08, 0.18), b: v2(0.0, 0.18), c: v2(-spread, -0.5) },
        Sdf::Triangle { a: v2(0.0, 0.18), b: v2(0.08, 0.18), c: v2(spread, -0.5) },
    ]);
    model(vec![part(blades, steel), part(rings, handle)], v2(-0.12, 0.41))
}
fn key(r: &mut Rand) -> ObjectModel {
    let metal = Material::solid(r.jitter([0.8, 0.7, 0.35], 0.1)).with(Pattern::Gradient, [0.5, 0.45, 0.25], 0.1);
    let mut s = vec![
        Sdf::circle(v2(0.0, -0.3), 0.2).minus(Sdf::circle(v2(0.0, -0.3), 0.08)),
        Sdf::rect(v2(0.0, 0.15), 0.04, 0.3, 0.0),
    ];
    for k in 0..3 {
        s.push(Sdf::rect(v2(0.06, 0.15 + k as f32 * 0.1), 0.04, 0.025, 0.0));
    }
    model(vec![part(Sdf::union(s), metal)], v2(0.0, -0.44))
}
fn donut(r: &mut Rand) -> ObjectModel {
    let dough = Material::solid([0.8, 0.6, 0.35]);
    let icing = Material::random(r, [0.9, 0.5, 0.7], 0.05);
    let outer = r.range(0.4, 0.5);
    let hole = outer * r.range(0.3, 0.45);
    let ring = Sdf::circle(v2(0.0, 0.0), outer).minus(Sdf::circle(v2(0.0, 0.0), hole));
    let top = Sdf::circle(v2(0.0, -0.03), outer * 0.85).minus(Sdf::circle(v2(0.0, 0.0), hole * 1.2));
    model(vec![part(ring, dough), part(top, icing)], v2(0.0, (outer + hole) * 0.5))
}
fn star(r: &mut Rand) -> ObjectModel {
    let m = mat(r, 0.1);
    let (ro, ri) = (0.5, r.range(0.18, 0.26));
    let mut tris = vec![Sdf::circle(v2(0.0, 0.0), ri)];
    for k in 0..5 {
        let a = -std::f32::consts::FRAC_PI_2 + k as f32 * std::f32::consts::TAU / 5.0;
        let d = std::f32::consts::TAU / 10.0;
        tris.push(Sdf::Triangle { a: V2::polar(a) * ro, b: V2::polar(a + d) * ri, c: V2::polar(a - d) * ri });
    }
    model(vec![part(Sdf::union(tris), m)], v2(0.0, 0.0))
}
fn headphones(r: &mut Rand) -> ObjectModel {
    let m = plain(r);
    let band = Sdf::circle(v2(0.0, 0.05), 0.38).shell(0.025).minus(Sdf::rect(v2(0.0, 0.35), 0.5, 0.3, 0.0));
    let cups = Sdf::union(vec![Sdf::rect(v2(-0.38, 0.12), 0.08, 0.13, 0.05), Sdf::rect(v2(0.38, 0.12), 0.08, 0.13, 0.05)]);
    model(vec![part(band, m.clone()), part(cups, m)], v2(0.38, 0.15))
}
fn fan(r: &mut Rand) -> ObjectModel {
    let m = plain(r);
    let rim = Sdf::circle(v2(0.0, 0.0), 0.42).shell(0.02);
    let mut blades = vec![Sdf::circle(v2(0.0, 0.0), 0.07)];
    let a0 = r.range(0.0, 2.0);
    for k in 0..3 {
        let a = a0 + k as f32 * std::f32::consts::TAU / 3.0;
        blades.push(Sdf::Ellipse { c: V2::polar(a) * 0.2, rx: 0.17, ry: 0.07, rot: a });
    }
    let stand = Sdf::rect(v2(0.0, 0.52), 0.05, 0.1, 0.0);
    model(vec![part(rim, m.clone()), part(Sdf::union(blades), plain(r)), part(stand, m)], v2(0.0, 0.56))
}
fn hammer(r: &mut Rand) -> ObjectModel {
    let wood = Material::solid([0.6, 0.42, 0.25]).with(Pattern::Stripes, [0.5, 0.34, 0.2], 0.01);
    let steel = Material::solid([0.35, 0.36, 0.38]);
    model(
        vec![part(Sdf::rect(v2(0.0, 0.1), 0.035, 0.42, 0.01), wood), part(Sdf::rect(v2(r.range(-0.03, 0.03), -0.37), 0.22, 0.07, 0.01), steel)],
        v2(0.0, 0.4),
    )
}
fn spatula(r: &mut Rand) -> ObjectModel {
    let m = plain(r);
    let mut head = Sdf::rect(v2(0.0, -0.3), 0.15, 0.18, 0.03);
    for k in -1..=1 {
        head = head.minus(Sdf::rect(v2(k as f32 * 0.07, -0.32), 0.015, 0.12, 0.01));
    }
    model(vec![part(head, m.clone()), part(Sdf::capsule(v2(0.0, -0.12), v2(0.0, 0.5), 0.025), m)], v2(0.0, 0.42))
}
fn picture_frame(r: &mut Rand) -> ObjectModel {
    let (hw, hh) = (r.range(0.35, 0.45), r.range(0.3, 0.42));
    let wood = Material::solid(r.jitter([0.5, 0.35, 0.2], 0.1)).with(Pattern::Noise, [0.35, 0.22, 0.12], 0.03);
    let border = 0.06;
    let f = Sdf::rect(v2(0.0, 0.0), hw, hh, 0.0).minus(Sdf::rect(v2(0.0, 0.0), hw - border, hh - border, 0.0));
    model(vec![part(f, wood)], v2(hw - border * 0.5, 0.0))
}
fn hanger(r: &mut Rand) -> ObjectModel {
    let wire = Material::solid(r.jitter([0.6, 0.6, 0.62], 0.15));
    let tri = Sdf::Polyline { pts: vec![v2(0.0, -0.2), v2(-0.5, 0.2), v2(0.5, 0.2), v2(0.0, -0.2)], r: 0.012 };
    let hook = Sdf::Polyline { pts: vec![v2(0.0, -0.2), v2(0.0, -0.35), v2(0.06, -0.42), v2(0.11, -0.36)], r: 0.012 };
    let bar = Sdf::rect(v2(0.0, 0.2), 0.3, 0.02, 0.0);
    model(vec![part(Sdf::union(vec![tri, hook, bar]), wire)], v2(0.0, 0.2))
}
fn glass_vase(r: &mut Rand) -> ObjectModel {
    let body = Sdf::Ellipse { c: v2(0.0, 0.05), rx: r.range(0.2, 0.28), ry: 0.42, rot: 0.0 };
    let rim = Sdf::rect(v2(0.0, -0.36), 0.12, 0.025, 0.01);
    let g = glass(body, r);
    model(vec![g, part(rim, Material::solid([0.8, 0.85, 0.9]))], v2(0.0, 0.15))
}
fn ladder_toy(r: &mut Rand) -> ObjectModel {
    let m = mat(r, 0.05);
    let mut s = vec![Sdf::rect(v2(-0.15, 0.0), 0.025, 0.5, 0.0), Sdf::rect(v2(0.15, 0.0), 0.025, 0.5, 0.0)];
    for k in 0..5 {
        s.push(Sdf::rect(v2(0.0, -0.4 + k as f32 * 0.2), 0.15, 0.015, 0.0));
    }
    model(vec![part(Sdf::union(s), m)], v2(0.15, 0.3))
}
fn eyeglasses(r: &mut Rand) -> ObjectModel {
    let frame = plain(r);
    let lenses = Sdf::union(vec![Sdf::circle(v2(-0.22, 0.0), 0.17), Sdf::circle(v2(0.22, 0.0), 0.17)]);
    let rims = Sdf::union(vec![
        Sdf::circle(v2(-0.22, 0.0), 0.17).shell(0.018),
        Sdf::circle(v2(0.22, 0.0), 0.17).shell(0.018),
        Sdf::Polyline { pts: vec![v2(-0.06, -0.03), v2(0.0, -0.06), v2(0.06, -0.03)], r: 0.015 },
        Sdf::capsule(v2(-0.39, -0.02), v2(-0.48, 0.05), 0.015),
    ]);
    let g = glass(lenses, r);
    model(vec![g, part(rims, frame)], v2(-0.43, 0.02))
}
fn wrench(r: &mut Rand) -> ObjectModel {
    let steel = Material::solid(r.jitter([0.7, 0.72, 0.75], 0.05)).with(Pattern::Gradient, [0.45, 0.47, 0.5], 0.2);
    let head = Sdf::circle(v2(0.0, -0.38), 0.14).minus(Sdf::rect(v2(0.0, -0.5), 0.05, 0.12, 0.0));
    let s = Sdf::union(vec![head, Sdf::rect(v2(0.0, 0.1), 0.045, 0.4, 0.02)]);
    model(vec![part(s, steel)], v2(0.0, 0.35))
}
fn flag(r: &mut Rand) -> ObjectModel {
    let pole = Material::solid([0.3, 0.25, 0.2]);
    let cloth = mat(r, 0.08);
    let wave = r.range(-0.05, 0.05);
    let cloth_shape = Sdf::union(vec![
        Sdf::Triangle { a: v2(0.0, -0.5), b: v2(0.5, -0.35 + wave), c: v2(0.0, -0.1) },
        Sdf::Triangle { a: v2(0.5, -0.35 + wave), b: v2(0.5, 0.0 + wave), c: v2(0.0, -0.1) },
    ]);
    model(vec![part(cloth_shape, cloth), part(Sdf::capsule(v2(0.0, -0.52), v2(0.0, 0.5), 0.012), pole)], v2(0.0, 0.35))
}
fn frying_pan(r: &mut Rand) -> ObjectModel {
    let iron = Material::solid([0.15, 0.15, 0.16]).with(Pattern::Gradient, [0.3, 0.3, 0.32], 0.2);
    let rad = r.range(0.25, 0.32);
    model(
        vec![part(Sdf::circle(v2(0.0, -0.2), rad), iron.clone()), part(Sdf::capsule(v2(0.0, -0.2 + rad), v2(0.0, 0.55), 0.03), iron)],
        v2(0.0, 0.45),
    )
}
fn kite(r: &mut Rand) -> ObjectModel {
    let m = mat(r, 0.1);
    let d = Sdf::union(vec![
        Sdf::Triangle { a: v2(0.0, -0.5), b: v2(-0.28, -0.15), c: v2(0.28, -0.15) },
        Sdf::Triangle { a: v2(-0.28, -0.15), b: v2(0.28, -0.15), c: v2(0.0, 0.25) },
    ]);
    let tail = Sdf::Polyline { pts: vec![v2(0.0, 0.25), v2(0.08, 0.35), v2(-0.05, 0.45), v2(0.05, 0.55)], r: 0.004 };
    let string = Material::solid([0.95, 0.95, 0.9]);
    model(vec![part(tail, string), part(d, m)], v2(0.0, 0.1))
}
fn guitar(r: &mut Rand) -> ObjectModel {
    let wood = Material::solid(r.jitter([0.75, 0.45, 0.2], 0.1)).with(Pattern::Gradient, [0.5, 0.28, 0.1], 0.2);
    let body = Sdf::union(vec![Sdf::circle(v2(0.0, 0.25), 0.25), Sdf::circle(v2(0.0, -0.02), 0.19)]);
    let neck = Sdf::rect(v2(0.0, -0.35), 0.035, 0.25, 0.0);
    let hole = Sdf::circle(v2(0.0, 0.12), 0.07);
    model(vec![part(neck, Material::solid([0.3, 0.2, 0.12])), part(body, wood), part(hole, Material::solid([0.08, 0.05, 0.03]))], v2(0.0, -0.4))
}
fn plant(r: &mut Rand) -> ObjectModel {
    let pot = Material::solid(r.jitter([0.7, 0.4, 0.3], 0.1));
    let leaf = Material::solid(r.jitter([0.25, 0.55, 0.2], 0.1)).with(Pattern::Gradient, [0.1, 0.35, 0.1], 0.1);
    let mut parts = vec![part(Sdf::rect(v2(0.0, 0.32), 0.18, 0.16, 0.02), pot)];
    let n = r.int(3, 6);
    for k in 0..n {
        let a = -std::f32::consts::FRAC_PI_2 + (k as f32 - (n - 1) as f32 / 2.0) * 0.45;
        let tip = v2(0.0, 0.16) + V2::polar(a) * r.range(0.3, 0.45);
        parts.push(part(Sdf::Polyline { pts: vec![v2(0.0, 0.16), tip], r: 0.008 }, leaf.clone()));
        parts.push(part(Sdf::Ellipse { c: tip, rx: 0.1, ry: 0.04, rot: a }, leaf.clone()));
    }
    model(parts, v2(0.0, 0.35))
}
fn umbrella(r: &mut Rand) -> ObjectModel {
    let canopy = mat(r, 0.1);
    let dark = Material::solid([0.15, 0.15, 0.15]);
    let c = Sdf::circle(v2(0.0, -0.1), 0.45).minus(Sdf::rect(v2(0.0, 0.2), 0.5, 0.3, 0.0));
    let shaft = Sdf::capsule(v2(0.0, -0.1), v2(0.0, 0.4), 0.012);
    let hook = Sdf::Polyline { pts: vec![v2(0.0, 0.4), v2(0.0, 0.48), v2(-0.05, 0.53), v2(-0.1, 0.48)], r: 0.014 };
    model(vec![part(Sdf::union(vec![shaft, hook]), dark), part(c, canopy)], v2(0.0, 0.3))
}
fn tumbler(r: &mut Rand) -> ObjectModel {
    let w = r.range(0.2, 0.26);
    let body = Sdf::Cone { a: v2(0.0, -0.3), b: v2(0.0, 0.32), ra: w, rb: w * 0.8 };
    let rim = Sdf::Ellipse { c: v2(0.0, -0.32), rx: w, ry: 0.035, rot: 0.0 }.shell(0.01);
    let g = glass(body, r);
    model(vec![g, part(rim, Material::solid([0.9, 0.92, 0.95]))], v2(0.0, 0.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_disjoint_families() {
        let meta = of_split(Split::Meta);
        let unseen = of_split(Split::Unseen);
        assert!(meta.len() >= 10 && unseen.len() >= 20);
        for m in &meta {
            assert!(unseen.iter().all(|u| u.name != m.name));
        }
        let mut names: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "family names are unique");
    }

    #[test]
    fn grips_are_inside_their_objects() {
        for f in FAMILIES {
            for seed in 0..8 {
                let m = (f.build)(&mut Rand::keyed(f.name, seed));
                assert!(m.dist(m.grip) < 0.0, "{}: grip outside at seed {seed}", f.name);
                let b = m.parts.iter().fold(crate::world::geom::Rect::empty(), |r, p| r.union(p.shape.bounds()));
                assert!(b.hi.x - b.lo.x < 1.4 && b.hi.y - b.lo.y < 1.4, "{} too large", f.name);
            }
        }
    }
}
