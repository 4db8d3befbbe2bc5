//! The person: an upper body (head, hair cap and sub-pixel strands, neck,
//! torso, two arms with hands) whose pose moves smoothly over a clip. Built
//! in body units (frame height = 1 at scale 1) and placed by a similarity.

use std::f32::consts::{FRAC_PI_2, PI, TAU};

use super::geom::{v2, Placement, V2};
use super::raster::Layer;
use super::rng::Rand;
use super::shape::Sdf;
use super::texture::{Material, Pattern};
use crate::frame::label;

/// Skin tones spanning light to dark (linear-ish sRGB in [0, 1]).
const SKIN: [[f32; 3]; 8] = [
    [0.96, 0.80, 0.69], [0.92, 0.72, 0.58], [0.85, 0.64, 0.50], [0.78, 0.57, 0.42],
    [0.66, 0.46, 0.33], [0.55, 0.37, 0.26], [0.42, 0.28, 0.20], [0.30, 0.20, 0.14],
];
const HAIR: [[f32; 3]; 6] = [
    [0.08, 0.06, 0.05], [0.25, 0.16, 0.09], [0.45, 0.30, 0.16], [0.70, 0.55, 0.32], [0.55, 0.20, 0.10], [0.6, 0.6, 0.6],
];

/// A smooth periodic motion: base + amp * sin(2 pi f t + phase).
#[derive(Clone, Copy, Debug)]
pub struct Wave {
    pub base: f32,
    pub amp: f32,
    pub freq: f32,
    pub phase: f32,
}

impl Wave {
    pub fn new(r: &mut Rand, base: f32, amp: f32) -> Wave {
        Wave { base, amp: amp * r.range(0.4, 1.0), freq: r.range(0.15, 0.7), phase: r.range(0.0, TAU) }
    }
    pub fn at(&self, t: f32) -> f32 {
        self.base + self.amp * libm::sinf(TAU * self.freq * t + self.phase)
    }
}

/// How an arm moves: abduction from hanging (0) towards horizontal (pi/2),
/// and elbow flexion that raises the forearm further.
#[derive(Clone, Copy, Debug)]
pub struct ArmMotion {
    pub shoulder: Wave,
    pub elbow: Wave,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmRole {
    /// Hanging loosely, swinging a little.
    Idle,
    /// Raised out to the side at chest height, holding something.
    Holding,
    /// Raised in front of the body (objects may overlap the torso).
    HoldingFront,
}

#[derive(Clone, Debug)]
struct Strand {
    root_angle: f32,
    len: f32,
    curl: f32,
    r: f32,
    sway: Wave,
}

/// Everything random about a person in one clip.
#[derive(Clone, Debug)]
pub struct Person {
    pub skin: [f32; 3],
    pub hair: [f32; 3],
    pub shirt: Material,
    pub long_hair: bool,
    strands: Vec<Strand>,
    /// Body placement: x of the body axis, vertical offset, scale.
    pub center_x: Wave,
    pub dy: f32,
    pub scale: f32,
    head_tilt: Wave,
    arms: [ArmMotion; 2],
    /// What each arm does [left, right] (the pose, with or without an object).
    pub roles: [ArmRole; 2],
}

/// Where a hand is in one frame (scene units).
#[derive(Clone, Copy, Debug)]
pub struct Hand {
    pub pos: V2,
    /// Direction of the forearm, radians from +x.
    pub dir: f32,
    pub palm_r: f32,
    /// -1 for the hand on the image's left, +1 on the right.
    pub side: f32,
}

/// The person drawn in one frame: body layers (behind held objects), finger
/// layers (in front of them), and the hands.
pub struct PersonFrame {
    pub body: Vec<Layer>,
    pub fingers: Vec<Layer>,
    pub hands: [Hand; 2],
}

const SHOULDER: V2 = v2(0.15, 0.6);
const UPPER: f32 = 0.2;
const FORE: f32 = 0.19;
const PALM: f32 = 0.032;

impl Person {
    /// A random person centred near `center_x` with arm roles [left, right].
    pub fn random(r: &mut Rand, center_x: f32, roles: [ArmRole; 2]) -> Person {
        let skin = *r.pick(&SKIN);
        let skin = r.jitter(skin, 0.03);
        let hair = *r.pick(&HAIR);
        let hair = r.jitter(hair, 0.04);
        let shirt_a = [r.f(), r.f(), r.f()];
        let feature = r.range(0.02, 0.07);
        let shirt = Material::random(r, shirt_a, feature);
        let n = r.int(40, 90);
        let strands = (0..n)
            .map(|_| Strand {
                root_angle: r.range(-PI * 0.97, -PI * 0.03),
                len: r.range(0.025, 0.09),
                curl: r.range(-1.2, 1.2),
                r: r.range(0.0008, 0.0022),
                sway: Wave::new(r, 0.0, 0.25),
            })
            .collect();
        let arms = [0, 1].map(|i| arm_motion(r, roles[i]));
        Person {
            skin,
            hair,
            shirt,
            long_hair: r.chance(0.4),
            strands,
            roles,
            center_x: Wave::new(r, center_x, 0.03),
            dy: r.range(-0.04, 0.08),
            scale: r.range(0.85, 1.1),
            head_tilt: Wave::new(r, 0.0, 0.12),
            arms,
        }
    }

    pub fn placement(&self, t: f32) -> Placement {
        Placement::new(v2(self.center_x.at(t), self.dy), 0.0, self.scale)
    }

    /// Hand position in scene units for side index `i` (0 left, 1 right).
    pub fn hand(&self, i: usize, t: f32) -> Hand {
        let p = self.placement(t);
        let (side, s, f) = self.arm_points(i, t);
        Hand { pos: p.to_scene(f + (f - s) * (PALM / FORE)), dir: libm::atan2f(f.y - s.y, f.x - s.x), palm_r: PALM * p.scale, side }
    }

    fn arm_points(&self, i: usize, t: f32) -> (f32, V2, V2) {
        let side = if i == 0 { -1.0 } else { 1.0 };
        let a1 = self.arms[i].shoulder.at(t);
        let a2 = a1 + self.arms[i].elbow.at(t);
        let shoulder = v2(SHOULDER.x * side, SHOULDER.y);
        let elbow = shoulder + V2::polar(FRAC_PI_2 - side * a1) * UPPER;
        let wrist = elbow + V2::polar(FRAC_PI_2 - side * a2) * FORE;
        (side, elbow, wrist)
    }

    /// Draw the person at time `t` seconds.
    pub fn frame(&self, t: f32) -> PersonFrame {
        let place = self.placement(t);
        let skin = Material::solid(self.skin).with(Pattern::Gradient, scale3(self.skin, 0.8), 0.25);
        let hair = Material::solid(self.hair).with(Pattern::Noise, scale3(self.hair, 1.3), 0.01);
        let layer = |shape: Sdf, material: &Material| Layer { shape, place, opacity: 1.0, material: material.clone(), label: label::PERSON };
        let mut body = Vec::new();
        let tilt = self.head_tilt.at(t);
        let head_c = v2(0.0, 0.33);
        let head_rot = |q: V2| (q - v2(0.0, 0.45)).rot(tilt) + v2(0.0, 0.45);
        if self.long_hair {
            body.push(layer(Sdf::Box { c: head_rot(v2(0.0, 0.43)), hw: 0.105, hh: 0.13, rot: tilt, round: 0.05 }, &hair));
        }
        body.push(layer(Sdf::Box { c: v2(0.0, 0.86), hw: 0.19, hh: 0.32, rot: 0.0, round: 0.07 }, &self.shirt));
        body.push(layer(Sdf::capsule(v2(0.0, 0.42), v2(0.0, 0.54), 0.042), &skin));
        body.push(layer(Sdf::Ellipse { c: head_rot(head_c), rx: 0.085, ry: 0.11, rot: tilt }, &skin));
        let dark = Material::solid([0.1, 0.08, 0.08]);
        for ex in [-0.032f32, 0.032] {
            body.push(layer(Sdf::Ellipse { c: head_rot(v2(ex, 0.315)), rx: 0.011, ry: 0.007, rot: tilt }, &dark));
        }
        body.push(layer(Sdf::capsule(head_rot(v2(-0.025, 0.385)), head_rot(v2(0.025, 0.385)), 0.005), &Material::solid(scale3(self.skin, 0.6))));
        let cap_c = head_rot(v2(0.0, 0.30));
        let cap = Sdf::Ellipse { c: cap_c, rx: 0.095, ry: 0.09, rot: tilt }
            .minus(Sdf::Box { c: head_rot(v2(0.0, 0.395)), hw: 0.075, hh: 0.075, rot: tilt, round: 0.03 });
        body.push(layer(cap, &hair));
        for s in &self.strands {
            let a = s.root_angle + tilt;
            let root = cap_c + v2(0.092 * libm::cosf(a), 0.087 * libm::sinf(a));
            let mut dir = a + s.sway.at(t);
            let mut pts = vec![root];
            let mut q = root;
            for _ in 0..4 {
                // outward, bending with the curl and with gravity
                dir += s.curl * 0.25;
                let step = V2::polar(dir) * (s.len * 0.25) + v2(0.0, s.len * 0.06);
                q = q + step;
                pts.push(q);
            }
            body.push(layer(Sdf::Polyline { pts, r: s.r }, &hair));
        }
        let mut fingers = Vec::new();
        let sleeve = self.shirt.clone();
        for i in 0..2 {
            let (side, elbow, wrist) = self.arm_points(i, t);
            let shoulder = v2(SHOULDER.x * side, SHOULDER.y);
            body.push(layer(Sdf::Cone { a: shoulder, b: elbow, ra: 0.045, rb: 0.036 }, &sleeve));
            body.push(layer(Sdf::Cone { a: elbow, b: wrist, ra: 0.035, rb: 0.027 }, &skin));
            let dir = (wrist - elbow) * (1.0 / FORE);
            let palm = wrist + dir * PALM;
            body.push(layer(Sdf::circle(palm, PALM), &skin));
            let base = libm::atan2f(dir.y, dir.x);
            for k in 0..4 {
                let fa = base + (k as f32 - 1.5) * 0.32 * side;
                let from = palm + V2::polar(fa) * (PALM * 0.5);
                let to = palm + V2::polar(fa) * (PALM + 0.028);
                fingers.push(layer(Sdf::capsule(from, to, 0.0085), &skin));
            }
        }
        PersonFrame { body, fingers, hands: [self.hand(0, t), self.hand(1, t)] }
    }
}

fn arm_motion(r: &mut Rand, role: ArmRole) -> ArmMotion {
    let (s, e) = match role {
        ArmRole::Idle => (r.range(0.05, 0.25), r.range(0.0, 0.3)),
        ArmRole::Holding => (r.range(0.75, 1.05), r.range(0.5, 0.9)),
        ArmRole::HoldingFront => (r.range(-0.15, 0.2), r.range(-1.9, -1.3)),
    };
    let amp = if role == ArmRole::Idle { 0.12 } else { 0.08 };
    ArmMotion { shoulder: Wave::new(r, s, amp), elbow: Wave::new(r, e, amp) }
}

fn scale3(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| (v * k).clamp(0.0, 1.0))
}
