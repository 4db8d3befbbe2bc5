//! In-memory video: frames of composite, alpha, foreground, background and
//! labels, as f32 in [0, 1] (labels as u8). Both the synthetic world and the
//! loaders of real layouts produce these, so everything downstream is
//! indifferent to where a clip came from.

use serde::{Deserialize, Serialize};

/// One channel, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

/// Three interleaved channels (RGB), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

/// What each pixel shows, by the layer that contributes most to it.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelMap {
    pub w: usize,
    pub h: usize,
    pub data: Vec<u8>,
}

/// Label values of [`LabelMap`].
pub mod label {
    pub const BACKGROUND: u8 = 0;
    pub const PERSON: u8 = 1;
    /// An object held in a hand (connected to the person): foreground.
    pub const HELD_OBJECT: u8 = 2;
    /// An object near the person, not touching it (the paper's Fig. 11): foreground.
    pub const FREE_OBJECT: u8 = 3;
    /// An object in the background: NOT foreground.
    pub const INTERFERER: u8 = 4;
    pub const NAMES: [&str; 5] = ["background", "person", "held_object", "free_object", "interferer"];
}

impl Plane {
    pub fn new(w: usize, h: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), w * h, "plane data does not match {w}x{h}");
        Plane { w, h, data }
    }
    pub fn filled(w: usize, h: usize, v: f32) -> Self {
        Plane { w, h, data: vec![v; w * h] }
    }
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|v| quantize(*v)).collect()
    }
    pub fn from_u8(w: usize, h: usize, bytes: &[u8]) -> Self {
        Plane::new(w, h, bytes.iter().map(|b| *b as f32 / 255.0).collect())
    }
}

impl Rgb {
    pub fn new(w: usize, h: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), w * h * 3, "rgb data does not match {w}x{h}x3");
        Rgb { w, h, data }
    }
    pub fn filled(w: usize, h: usize, c: [f32; 3]) -> Self {
        let mut data = Vec::with_capacity(w * h * 3);
        for _ in 0..w * h {
            data.extend_from_slice(&c);
        }
        Rgb { w, h, data }
    }
    pub fn px(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.w + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|v| quantize(*v)).collect()
    }
    pub fn from_u8(w: usize, h: usize, bytes: &[u8]) -> Self {
        Rgb::new(w, h, bytes.iter().map(|b| *b as f32 / 255.0).collect())
    }
}

/// 8-bit quantisation used for every file we write: round to nearest.
pub fn quantize(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// One video frame. `com` and `pha` are always present; the rest exist for
/// synthetic data and for real layouts that ship them.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub com: Rgb,
    pub pha: Plane,
    pub fgr: Option<Rgb>,
    pub bgr: Option<Rgb>,
    pub label: Option<LabelMap>,
}

impl Frame {
    pub fn size(&self) -> (usize, usize) {
        (self.com.w, self.com.h)
    }
}

/// How the held object relates to the person in a clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    /// Human only (no object in the foreground).
    None,
    /// Held in a hand: touches or overlaps it.
    Connected,
    /// Near the person but not touching (the paper's Fig. 11).
    Disconnected,
}

/// What a clip is, as written to `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipMeta {
    pub name: String,
    /// `train`/`test` for synvm, `meta` for synmeta, `eval` for the rest,
    /// or the folder a loader read it from.
    pub split: String,
    /// e.g. `human_only`, `green_screen`, `solid`, `solid_interferers`,
    /// `room_camera_motion`, `web_mixed`, `image`.
    pub clip_type: String,
    pub background: String,
    /// Families of the foreground object(s).
    pub families: Vec<String>,
    /// Families of the background interferers.
    pub interferer_families: Vec<String>,
    pub interaction: Interaction,
    pub n_frames: usize,
    pub width: usize,
    pub height: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub meta: ClipMeta,
    pub frames: Vec<Frame>,
}
