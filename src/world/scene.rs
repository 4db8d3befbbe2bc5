//! A clip: a person, the objects they interact with, a background, over
//! time. Rendering a frame composites I = aF + (1-a)B (paper Eq. 1) exactly
//! in f32; the illumination gain scales F and B alike, so the equation holds
//! for what is stored.

use std::f32::consts::TAU;

use super::background::Background;
use super::families::ObjectModel;
use super::geom::{v2, Placement, Rect, V2};
use super::person::{Person, Wave};
use super::raster::Layer;
use crate::frame::{label, ClipMeta, Frame, Interaction, LabelMap, Plane, Rgb};

/// How an object is attached to the scene.
#[derive(Clone, Debug)]
pub enum Hold {
    /// Held in hand `hand` (0 left, 1 right): the grip sits on the palm and the
    /// object extends along the forearm, turned by `twist`.
    Hand { hand: usize, twist: Wave },
    /// Floating near the person at an offset from the body axis, bobbing;
    /// never touching (checked when the clip is planned).
    Free { offset: V2, bob: Wave },
}

#[derive(Clone, Debug)]
pub struct SceneObject {
    pub family: String,
    pub model: ObjectModel,
    /// Object height in scene units.
    pub size: f32,
    pub hold: Hold,
}

/// Everything needed to render a clip, drawn from its random stream.
#[derive(Clone, Debug)]
pub struct ClipPlan {
    pub meta: ClipMeta,
    pub fps: f32,
    /// Time of frame 0 in seconds (stills use different moments).
    pub t0: f32,
    pub person: Person,
    pub objects: Vec<SceneObject>,
    pub background: Background,
}

impl SceneObject {
    pub fn placement(&self, person: &Person, t: f32) -> Placement {
        match &self.hold {
            Hold::Hand { hand, twist } => {
                let hnd = person.hand(*hand, t);
                let to_center = self.model.center() - self.model.grip;
                let angle = hnd.dir - libm::atan2f(to_center.y, to_center.x) + twist.at(t);
                let grip = (self.model.grip * self.size).rot(angle);
                Placement::new(hnd.pos - grip, angle, self.size)
            }
            Hold::Free { offset, bob } => {
                let c = v2(person.center_x.at(t), person.dy) + *offset + v2(0.0, bob.at(t));
                let center = (self.model.center() * self.size).rot(0.0);
                Placement::new(c - center, 0.15 * libm::sinf(TAU * bob.freq * t), self.size)
            }
        }
    }

    pub fn layers(&self, person: &Person, t: f32) -> Vec<Layer> {
        let place = self.placement(person, t);
        let lab = match self.hold {
            Hold::Hand { .. } => label::HELD_OBJECT,
            Hold::Free { .. } => label::FREE_OBJECT,
        };
        self.model
            .parts
            .iter()
            .map(|p| Layer { shape: p.shape.clone(), place, opacity: p.opacity, material: p.material.clone(), label: lab })
            .collect()
    }

    pub fn bounds(&self, person: &Person, t: f32) -> Rect {
        let place = self.placement(person, t);
        self.model.parts.iter().fold(Rect::empty(), |r, p| r.union(p.shape.bounds().placed(&place)))
    }
}

impl ClipPlan {
    pub fn time(&self, i: usize) -> f32 {
        self.t0 + i as f32 / self.fps
    }

    /// Render frame `i`.
    pub fn frame(&self, i: usize) -> Frame {
        let (w, h) = (self.meta.width, self.meta.height);
        let t = self.time(i);
        let pf = self.person.frame(t);
        let mut layers = pf.body;
        for o in &self.objects {
            layers.extend(o.layers(&self.person, t));
        }
        layers.extend(pf.fingers);
        let (bg, bg_labels) = self.background.render(w, h, t);
        let shirt = &self.person.shirt;
        let fg = super::raster::flatten(&layers, w, h, |x, y| shirt.color(super::raster::pixel_center(x, y, h)));
        // The same person without its objects: what a person-only matte is.
        let person = if self.objects.is_empty() {
            fg.alpha.clone()
        } else {
            let body: Vec<_> = layers.iter().filter(|l| l.label == label::PERSON).cloned().collect();
            super::raster::flatten(&body, w, h, |_, _| [0.0; 3]).alpha
        };
        let gain = self.background.light.at(t);
        let n = w * h;
        let mut com = Vec::with_capacity(n * 3);
        let mut fgr = Vec::with_capacity(n * 3);
        let mut bgr = Vec::with_capacity(n * 3);
        let mut lab = Vec::with_capacity(n);
        for i in 0..n {
            let a = fg.alpha[i];
            for k in 0..3 {
                let f = (fg.color[i * 3 + k] * gain).clamp(0.0, 1.0);
                let b = (bg.data[i * 3 + k] * gain).clamp(0.0, 1.0);
                fgr.push(f);
                bgr.push(b);
                com.push(a * f + (1.0 - a) * b);
            }
            // The label of whatever contributes most: the strongest
            // foreground layer, or the background seen through the rest.
            lab.push(if fg.label_weight[i] >= 1.0 - a { fg.label[i] } else { bg_labels[i] });
        }
        Frame {
            com: Rgb::new(w, h, com),
            pha: Plane::new(w, h, fg.alpha),
            fgr: Some(Rgb::new(w, h, fgr)),
            bgr: Some(Rgb::new(w, h, bgr)),
            label: Some(LabelMap { w, h, data: lab }),
            person: Some(Plane::new(w, h, person)),
        }
    }

    /// The person's conservative bounding box at time `t`.
    pub fn person_bounds(&self, t: f32) -> Rect {
        let pf = self.person.frame(t);
        pf.body.iter().chain(&pf.fingers).fold(Rect::empty(), |r, l| r.union(l.shape.bounds().placed(&l.place)))
    }

    pub fn interaction(&self) -> Interaction {
        if self.objects.is_empty() {
            Interaction::None
        } else if self.objects.iter().any(|o| matches!(o.hold, Hold::Free { .. })) {
            Interaction::Disconnected
        } else {
            Interaction::Connected
        }
    }
}
