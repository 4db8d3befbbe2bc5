//! Backgrounds: green screens, solid colours (with or without interfering
//! objects), procedural rooms, and the dynamics of real capture: camera pan
//! and shake, and illumination change. Interferers are objects that are
//! part of B, never of the foreground; the label map marks them.

use std::f32::consts::TAU;

use super::families::{Family, ObjectModel};
use super::geom::{v2, Placement, V2};
use super::person::Wave;
use super::raster::{flatten, Layer};
use super::rng::Rand;
use super::shape::Sdf;
use super::texture::{Material, Pattern};
use crate::frame::{label, Rgb};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackgroundKind {
    GreenScreen,
    Solid,
    Room,
}

impl BackgroundKind {
    pub fn name(self) -> &'static str {
        match self {
            BackgroundKind::GreenScreen => "green_screen",
            BackgroundKind::Solid => "solid",
            BackgroundKind::Room => "room",
        }
    }
}

/// Camera motion in scene units: a steady pan plus a high-frequency shake.
#[derive(Clone, Copy, Debug, Default)]
pub struct Camera {
    pub pan: V2,
    pub shake: f32,
    pub shake_freq: f32,
    pub phase: f32,
}

impl Camera {
    pub fn offset(&self, t: f32) -> V2 {
        let s = |k: f32| libm::sinf(TAU * self.shake_freq * k * t + self.phase * k);
        self.pan * t + v2(s(1.0) + 0.5 * s(2.3), s(1.7) + 0.5 * s(3.1)) * self.shake
    }
    pub fn is_static(&self) -> bool {
        self.pan == V2::default() && self.shake == 0.0
    }
}

#[derive(Clone, Debug)]
pub struct Background {
    pub kind: BackgroundKind,
    /// The wall (or screen) colour field, in world coordinates.
    pub base: Material,
    /// Room furniture and interferers, back to front, in world coordinates.
    pub layers: Vec<Layer>,
    pub interferer_families: Vec<String>,
    pub camera: Camera,
    /// Global gain on the whole scene (illumination change); 1 = constant.
    pub light: Wave,
}

impl Background {
    pub fn green_screen(r: &mut Rand) -> Background {
        let g = r.jitter([0.2, 0.72, 0.28], 0.05);
        let base = Material::solid(g).with(Pattern::Noise, r.jitter([0.16, 0.6, 0.22], 0.03), 0.3);
        Background::plain(BackgroundKind::GreenScreen, base)
    }

    pub fn solid(r: &mut Rand) -> Background {
        let c = [r.f(), r.f(), r.f()];
        let base = Material::solid(c).with(Pattern::Gradient, c.map(|v| v * 0.85), 0.6);
        Background::plain(BackgroundKind::Solid, base)
    }

    fn plain(kind: BackgroundKind, base: Material) -> Background {
        Background { kind, base, layers: vec![], interferer_families: vec![], camera: Camera::default(), light: Wave { base: 1.0, amp: 0.0, freq: 0.0, phase: 0.0 } }
    }

    /// A procedural room seen from a video-call distance: wall, floor, a
    /// window, shelves with boxes, picture frames, a door or a cupboard.
    pub fn room(r: &mut Rand, aspect: f32) -> Background {
        let wall = *r.pick(&[[0.85, 0.82, 0.75], [0.7, 0.75, 0.8], [0.8, 0.7, 0.6], [0.6, 0.62, 0.58], [0.9, 0.9, 0.88]]);
        let wall = r.jitter(wall, 0.05);
        let base = Material::solid(wall).with(Pattern::Noise, wall.map(|v| v * 0.9), 0.05);
        let mut bg = Background::plain(BackgroundKind::Room, base);
        let bg_layer = |shape: Sdf, material: Material| Layer { shape, place: Placement::identity(), opacity: 1.0, material, label: label::BACKGROUND };
        let span = aspect + 1.0; // room wider than the frame, for pans
        let floor_y = r.range(0.78, 0.92);
        let floor = Material::solid(r.jitter([0.55, 0.4, 0.28], 0.1)).with(Pattern::Stripes, r.jitter([0.45, 0.32, 0.22], 0.05), 0.04);
        bg.layers.push(bg_layer(Sdf::rect(v2(span / 2.0 - 0.5, floor_y + 0.5), span, 0.5, 0.0), floor));
        let win_x = r.range(-0.3, aspect + 0.3);
        let (ww, wh) = (r.range(0.15, 0.3), r.range(0.15, 0.25));
        let sky = Material::solid([0.6, 0.78, 0.95]).with(Pattern::Gradient, [0.9, 0.95, 1.0], 0.15);
        let frame_m = Material::solid(r.jitter([0.95, 0.95, 0.95], 0.05));
        bg.layers.push(bg_layer(Sdf::rect(v2(win_x, 0.3), ww + 0.02, wh + 0.02, 0.0), frame_m.clone()));
        bg.layers.push(bg_layer(Sdf::rect(v2(win_x, 0.3), ww, wh, 0.0), sky));
        bg.layers.push(bg_layer(Sdf::rect(v2(win_x, 0.3), 0.01, wh, 0.0), frame_m));
        for _ in 0..r.int(1, 4) {
            let x = r.range(-0.4, aspect + 0.4);
            let y = r.range(0.2, floor_y - 0.15);
            let sw = r.range(0.15, 0.35);
            let wood = Material::solid(r.jitter([0.45, 0.3, 0.2], 0.1));
            bg.layers.push(bg_layer(Sdf::rect(v2(x, y), sw, 0.012, 0.0), wood));
            let mut bx = x - sw + 0.03;
            while bx < x + sw - 0.05 {
                let (bw, bh) = (r.range(0.015, 0.045), r.range(0.03, 0.09));
                let c = r.color();
                let m = Material::random(r, c, 0.02);
                bg.layers.push(bg_layer(Sdf::rect(v2(bx + bw, y - 0.012 - bh), bw, bh, 0.003), m));
                bx += 2.0 * bw + r.range(0.0, 0.03);
            }
        }
        for _ in 0..r.int(0, 3) {
            let c = v2(r.range(-0.4, aspect + 0.4), r.range(0.15, 0.5));
            let (fw, fh) = (r.range(0.05, 0.12), r.range(0.05, 0.1));
            bg.layers.push(bg_layer(Sdf::rect(c, fw, fh, 0.0), Material::solid(r.jitter([0.3, 0.25, 0.2], 0.1))));
            let art_c = r.color();
            let art = Material::random(r, art_c, 0.03);
            bg.layers.push(bg_layer(Sdf::rect(c, fw - 0.012, fh - 0.012, 0.0), art));
        }
        if r.chance(0.5) {
            let c = v2(r.range(-0.3, aspect + 0.3), floor_y - 0.35);
            let m = Material::solid(r.jitter([0.5, 0.38, 0.3], 0.15)).with(Pattern::Noise, [0.4, 0.3, 0.22], 0.05);
            bg.layers.push(bg_layer(Sdf::rect(c, r.range(0.12, 0.2), 0.35, 0.01), m));
        }
        bg
    }

    /// Add camera pan/shake and illumination change (the paper's real-world
    /// videos: "slight camera movements or changes in illumination").
    pub fn make_dynamic(&mut self, r: &mut Rand) {
        self.camera = Camera {
            pan: v2(r.range(-0.06, 0.06), r.range(-0.015, 0.015)),
            shake: r.range(0.002, 0.008),
            shake_freq: r.range(2.0, 6.0),
            phase: r.range(0.0, TAU),
        };
        self.light = Wave { base: 1.0, amp: r.range(0.08, 0.22), freq: r.range(0.1, 0.5), phase: r.range(0.0, TAU) };
    }

    /// Scatter interfering objects (not foreground) from `pool`.
    pub fn add_interferers(&mut self, r: &mut Rand, pool: &[&'static Family], n: usize, aspect: f32) {
        for _ in 0..n {
            let fam = *r.pick(pool);
            let m: ObjectModel = (fam.build)(r);
            let place = Placement::new(v2(r.range(0.05, aspect - 0.05), r.range(0.15, 0.85)), r.range(-0.6, 0.6), r.range(0.1, 0.22));
            for p in m.parts {
                self.layers.push(Layer { shape: p.shape, place, opacity: p.opacity, material: p.material, label: label::INTERFERER });
            }
            self.interferer_families.push(fam.name.to_string());
        }
    }

    /// A copy of an object (a held object's twin) lying in the background.
    pub fn add_copy(&mut self, model: &ObjectModel, place: Placement, family: &str) {
        for p in &model.parts {
            self.layers.push(Layer { shape: p.shape.clone(), place, opacity: p.opacity, material: p.material.clone(), label: label::INTERFERER });
        }
        self.interferer_families.push(family.to_string());
    }

    /// Render B at time `t`: colour (before the illumination gain) and the
    /// background label of each pixel (interferer where one covers >= 1/2).
    pub fn render(&self, w: usize, h: usize, t: f32) -> (Rgb, Vec<u8>) {
        let cam = self.camera.offset(t);
        let layers: Vec<Layer> = self
            .layers
            .iter()
            .map(|l| {
                let mut l = l.clone();
                l.place.pos = l.place.pos - cam;
                l
            })
            .collect();
        let base = &self.base;
        let flat = flatten(&layers, w, h, |x, y| base.color(super::raster::pixel_center(x, y, h) + cam));
        let mut data = Vec::with_capacity(w * h * 3);
        let mut labels = Vec::with_capacity(w * h);
        for i in 0..w * h {
            let a = flat.alpha[i];
            let p = super::raster::pixel_center(i % w, i / w, h) + cam;
            let wall = base.color(p);
            for k in 0..3 {
                data.push(a * flat.color[i * 3 + k] + (1.0 - a) * wall[k]);
            }
            let interferer = flat.label[i] == label::INTERFERER && flat.label_weight[i] >= 0.5;
            labels.push(if interferer { label::INTERFERER } else { label::BACKGROUND });
        }
        (Rgb::new(w, h, data), labels)
    }
}
