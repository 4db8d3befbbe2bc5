//! RVM's evaluation layout: `DIR/<set>/<clip>/{com,pha,fgr,bgr,label,person}/<frame>.png`
//! with 4-digit frame names, plus `DIR/<set>/manifest.json`.
//!
//! A set is written into a temporary sibling folder and renamed into place
//! when complete, so an interrupted generation never leaves a half set that
//! looks whole.

use std::fs;
use std::path::{Path, PathBuf};

use image::{ColorType, ImageReader};

use super::error::{DataError, Result};
use crate::frame::{Clip, Frame, LabelMap, Plane, Rgb};
use crate::world::Manifest;

pub const STREAMS: [&str; 6] = ["com", "pha", "fgr", "bgr", "label", "person"];

pub fn frame_name(i: usize) -> String {
    format!("{i:04}.png")
}

fn save(path: &Path, bytes: &[u8], w: usize, h: usize, color: ColorType) -> Result<()> {
    image::save_buffer(path, bytes, w as u32, h as u32, color)
        .map_err(|source| DataError::Image { path: path.to_path_buf(), source })
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| DataError::io(p, e))
}

/// Write one clip's frames under `clip_dir`.
pub fn write_clip(clip_dir: &Path, clip: &Clip) -> Result<()> {
    // Only the streams the clip has: an empty folder would read as a stream
    // with missing frames.
    let first = clip.frames.first();
    let has = [true, true, first.is_some_and(|f| f.fgr.is_some()), first.is_some_and(|f| f.bgr.is_some()), first.is_some_and(|f| f.label.is_some()), first.is_some_and(|f| f.person.is_some())];
    for (s, has) in STREAMS.iter().zip(has) {
        if has {
            mkdir(&clip_dir.join(s))?;
        }
    }
    for (i, f) in clip.frames.iter().enumerate() {
        let n = frame_name(i);
        let (w, h) = f.size();
        save(&clip_dir.join("com").join(&n), &f.com.to_u8(), w, h, ColorType::Rgb8)?;
        save(&clip_dir.join("pha").join(&n), &f.pha.to_u8(), w, h, ColorType::L8)?;
        if let Some(fgr) = &f.fgr {
            save(&clip_dir.join("fgr").join(&n), &fgr.to_u8(), w, h, ColorType::Rgb8)?;
        }
        if let Some(bgr) = &f.bgr {
            save(&clip_dir.join("bgr").join(&n), &bgr.to_u8(), w, h, ColorType::Rgb8)?;
        }
        if let Some(l) = &f.label {
            save(&clip_dir.join("label").join(&n), &l.data, w, h, ColorType::L8)?;
        }
        if let Some(p) = &f.person {
            save(&clip_dir.join("person").join(&n), &p.to_u8(), w, h, ColorType::L8)?;
        }
    }
    Ok(())
}

/// Write the manifest as pretty JSON.
pub fn write_manifest(set_dir: &Path, m: &Manifest) -> Result<()> {
    let path = set_dir.join("manifest.json");
    let json = serde_json::to_string_pretty(m).expect("manifest serialises");
    fs::write(&path, json + "\n").map_err(|e| DataError::io(&path, e))
}

pub fn read_manifest(set_dir: &Path) -> Result<Manifest> {
    let path = set_dir.join("manifest.json");
    let text = fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| DataError::invalid(&path, format!("not a hoimat manifest: {e}")))
}

/// A folder to fill and then publish atomically with [`Staging::commit`];
/// dropped without a commit (an error part-way), it removes what it staged.
pub struct Staging {
    pub tmp: PathBuf,
    pub target: PathBuf,
}

impl Staging {
    pub fn new(target: &Path) -> Result<Staging> {
        let parent = target.parent().unwrap_or(Path::new("."));
        mkdir(parent)?;
        // Unique to this process and call, so concurrent writers never share one.
        let tmp = crate::atomic::temporary(target);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        }
        mkdir(&tmp)?;
        Ok(Staging { tmp, target: target.to_path_buf() })
    }

    /// Replace the target with the staged folder. Sets are pure functions of
    /// (set, profile, seed), so when another process puts the same set in
    /// place first (our rename then finds the target taken), its copy stands
    /// and ours is dropped.
    pub fn commit(self) -> Result<()> {
        if self.target.exists() {
            let old = crate::atomic::temporary(&self.target);
            fs::rename(&self.target, &old).map_err(|e| DataError::io(&self.target, e))?;
            let placed = fs::rename(&self.tmp, &self.target);
            let _ = fs::remove_dir_all(&old);
            return self.settle(placed);
        }
        let placed = fs::rename(&self.tmp, &self.target);
        self.settle(placed)
    }

    fn settle(&self, placed: std::io::Result<()>) -> Result<()> {
        match placed {
            Ok(()) => Ok(()),
            Err(_) if self.target.is_dir() => {
                let _ = fs::remove_dir_all(&self.tmp);
                Ok(())
            }
            Err(e) => Err(DataError::io(&self.target, e)),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After a commit the folder has moved; otherwise it is abandoned work.
        if self.tmp.is_dir() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

// ---- reading ---------------------------------------------------------------

pub(crate) fn open_image(path: &Path) -> Result<image::DynamicImage> {
    ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .decode()
        .map_err(|source| DataError::Image { path: path.to_path_buf(), source })
}

pub fn read_rgb(path: &Path) -> Result<Rgb> {
    let img = open_image(path)?.to_rgb8();
    Ok(Rgb::from_u8(img.width() as usize, img.height() as usize, img.as_raw()))
}

/// Alpha as 8-bit grey / 255 (colour files are converted to luma first).
pub fn read_gray(path: &Path) -> Result<Plane> {
    let img = open_image(path)?.to_luma8();
    Ok(Plane::from_u8(img.width() as usize, img.height() as usize, img.as_raw()))
}

pub fn read_label(path: &Path) -> Result<LabelMap> {
    let img = open_image(path)?.to_luma8();
    Ok(LabelMap { w: img.width() as usize, h: img.height() as usize, data: img.into_raw() })
}

const IMAGE_EXT: [&str; 4] = ["png", "jpg", "jpeg", "PNG"];

/// Frame files of a folder, sorted by name (stems compared to match streams).
pub fn list_frames(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXT.contains(&e) || e.eq_ignore_ascii_case("jpg")))
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(DataError::invalid(dir, "no frames (expected .png or .jpg files)"));
    }
    Ok(v)
}

pub fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Check that `other` holds exactly the frames named in `reference`.
pub fn match_frames(reference: &[PathBuf], other_dir: &Path) -> Result<Vec<PathBuf>> {
    let other = list_frames(other_dir)?;
    let (a, b): (Vec<String>, Vec<String>) = (reference.iter().map(|p| stem(p)).collect(), other.iter().map(|p| stem(p)).collect());
    if let Some(missing) = a.iter().find(|s| !b.contains(s)) {
        return Err(DataError::invalid(other_dir.join(missing), "missing frame (present in the reference stream)"));
    }
    if let Some(extra) = b.iter().find(|s| !a.contains(s)) {
        return Err(DataError::invalid(other_dir.join(extra), "extra frame (absent from the reference stream)"));
    }
    let by_stem: std::collections::HashMap<String, PathBuf> = other.into_iter().map(|p| (stem(&p), p)).collect();
    Ok(a.iter().map(|s| by_stem[s].clone()).collect())
}

pub fn check_size(path: &Path, got: (usize, usize), want: (usize, usize), context: &str) -> Result<()> {
    if got != want {
        return Err(DataError::Size { path: path.into(), got_w: got.0, got_h: got.1, want_w: want.0, want_h: want.1, context: context.into() });
    }
    Ok(())
}

/// Read a clip folder with `com/` and `pha/` (and optional `fgr/`, `bgr/`,
/// `label/`, `person/`). Every stream must hold the same frames at the same size.
pub fn read_clip(clip_dir: &Path) -> Result<Vec<Frame>> {
    let com_dir = clip_dir.join("com");
    if !com_dir.is_dir() {
        return Err(DataError::invalid(&com_dir, "missing folder (a clip needs com/ and pha/)"));
    }
    let com = list_frames(&com_dir)?;
    let pha_dir = clip_dir.join("pha");
    if !pha_dir.is_dir() {
        return Err(DataError::invalid(&pha_dir, "missing folder (a clip needs com/ and pha/)"));
    }
    let pha = match_frames(&com, &pha_dir)?;
    let optional = |name: &str| -> Result<Option<Vec<PathBuf>>> {
        let d = clip_dir.join(name);
        if d.is_dir() { match_frames(&com, &d).map(Some) } else { Ok(None) }
    };
    let (fgr, bgr, lab, person) = (optional("fgr")?, optional("bgr")?, optional("label")?, optional("person")?);
    let mut frames = Vec::with_capacity(com.len());
    for i in 0..com.len() {
        let c = read_rgb(&com[i])?;
        let size = (c.w, c.h);
        let p = read_gray(&pha[i])?;
        check_size(&pha[i], (p.w, p.h), size, "its composite")?;
        // Frame i of an optional stream, read and checked against the composite's size.
        fn frame_of<T>(v: &Option<Vec<PathBuf>>, i: usize, size: (usize, usize), read: fn(&Path) -> Result<T>, dims: fn(&T) -> (usize, usize)) -> Result<Option<T>> {
            let Some(v) = v else { return Ok(None) };
            let x = read(&v[i])?;
            check_size(&v[i], dims(&x), size, "its composite")?;
            Ok(Some(x))
        }
        frames.push(Frame {
            com: c,
            pha: p,
            fgr: frame_of(&fgr, i, size, read_rgb, |x| (x.w, x.h))?,
            bgr: frame_of(&bgr, i, size, read_rgb, |x| (x.w, x.h))?,
            label: frame_of(&lab, i, size, read_label, |x| (x.w, x.h))?,
            person: frame_of(&person, i, size, read_gray, |x| (x.w, x.h))?,
        });
    }
    Ok(frames)
}
