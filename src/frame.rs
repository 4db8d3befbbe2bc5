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

/// A buffer whose length does not fit its declared size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("buffer of length {got} does not match {w}x{h}x{channels} (= {expected})")]
    BadLength { w: usize, h: usize, channels: usize, expected: usize, got: usize },
    #[error("image size {w}x{h}x{channels} overflows usize")]
    Overflow { w: usize, h: usize, channels: usize },
}

fn checked_len(w: usize, h: usize, channels: usize, got: usize) -> Result<(), ShapeError> {
    let expected = w.checked_mul(h).and_then(|n| n.checked_mul(channels)).ok_or(ShapeError::Overflow { w, h, channels })?;
    if got != expected {
        return Err(ShapeError::BadLength { w, h, channels, expected, got });
    }
    Ok(())
}

impl Plane {
    /// Wraps a row-major buffer; fails if `data.len() != w * h`.
    pub fn try_new(w: usize, h: usize, data: Vec<f32>) -> Result<Self, ShapeError> {
        checked_len(w, h, 1, data.len())?;
        Ok(Plane { w, h, data })
    }
    /// 8-bit grey to [0, 1], dividing by 255 in f32 exactly like
    /// `img.astype(np.float32) / 255`, so thresholds compare identically.
    pub fn from_gray8(img: &image::GrayImage) -> Self {
        Plane::from_u8(img.width() as usize, img.height() as usize, img.as_raw())
    }
    /// Value at column `x`, row `y` (panics when out of range, like indexing).
    pub fn get(&self, x: usize, y: usize) -> f32 {
        assert!(x < self.w && y < self.h, "Plane::get({x}, {y}) outside {}x{}", self.w, self.h);
        self.data[y * self.w + x]
    }
    pub fn dims(&self) -> (usize, usize) {
        (self.w, self.h)
    }
    /// Panics on a length mismatch: for buffers built by the library itself.
    pub fn new(w: usize, h: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), w * h, "plane data does not match {w}x{h}");
        Plane { w, h, data }
    }
    pub fn filled(w: usize, h: usize, v: f32) -> Self {
        Plane { w, h, data: vec![v; w * h] }
    }
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|v| quantize(*v)).collect()
    }
    pub fn from_u8(w: usize, h: usize, bytes: &[u8]) -> Self {
        Plane::new(w, h, bytes.iter().map(|b| *b as f32 / 255.0).collect())
    }
    /// Rounded to 8 bits and back, as if written to PNG and read again (so
    /// in-memory scores equal `hoimat eval` on written files).
    pub fn quantised(&self) -> Plane {
        Plane::from_u8(self.w, self.h, &self.to_u8())
    }
}

impl Rgb {
    /// Wraps an interleaved buffer; fails if `data.len() != w * h * 3`.
    pub fn try_new(w: usize, h: usize, data: Vec<f32>) -> Result<Self, ShapeError> {
        checked_len(w, h, 3, data.len())?;
        Ok(Rgb { w, h, data })
    }
    /// 8-bit RGB to [0, 1], dividing by 255 in f32.
    pub fn from_rgb8(img: &image::RgbImage) -> Self {
        Rgb::from_u8(img.width() as usize, img.height() as usize, img.as_raw())
    }
    /// The three channels at column `x`, row `y` (panics when out of range).
    pub fn get(&self, x: usize, y: usize) -> [f32; 3] {
        assert!(x < self.w && y < self.h, "Rgb::get({x}, {y}) outside {}x{}", self.w, self.h);
        self.px(x, y)
    }
    pub fn dims(&self) -> (usize, usize) {
        (self.w, self.h)
    }
    /// Panics on a length mismatch: for buffers built by the library itself.
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
    /// The same scene rendered without any object (the person-only alpha):
    /// object pixels are then exactly those the person does not explain
    /// (`metrics::hoi`). Synthetic data only.
    pub person: Option<Plane>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_new_validates_length() {
        assert!(Plane::try_new(2, 2, vec![0.0; 4]).is_ok());
        let e = Plane::try_new(2, 2, vec![0.0; 3]).unwrap_err();
        assert!(matches!(e, ShapeError::BadLength { expected: 4, got: 3, .. }));
        assert!(Plane::try_new(usize::MAX, 2, vec![]).is_err());
        assert!(Rgb::try_new(2, 1, vec![0.0; 6]).is_ok());
        assert!(Rgb::try_new(2, 1, vec![0.0; 2]).is_err());
    }

    #[test]
    fn eight_bit_conversions_divide_by_255() {
        let img = image::GrayImage::from_raw(3, 2, vec![0, 51, 255, 102, 153, 204]).unwrap();
        let a = Plane::from_gray8(&img);
        assert_eq!(a.dims(), (3, 2));
        assert_eq!(a.get(2, 0), 1.0);
        assert_eq!(a.get(1, 0), 51.0f32 / 255.0);
        assert_eq!(a.get(0, 1), 102.0f32 / 255.0);
        let rgb = image::RgbImage::from_raw(1, 1, vec![0, 255, 51]).unwrap();
        assert_eq!(Rgb::from_rgb8(&rgb).get(0, 0), [0.0, 1.0, 0.2]);
        assert_eq!(quantize(0.2), 51);
        assert_eq!(quantize(1.7), 255);
    }
}
