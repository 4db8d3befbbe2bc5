//! Loaders for the real layouts of the paper's datasets (SPEC section 2), so
//! a user who has the real data points the same code at it:
//!
//! - VideoMatte240K: `ROOT/{train,test}/fgr/<clip>/<frame>.jpg` and
//!   `ROOT/{train,test}/pha/<clip>/<frame>.jpg`, composited at load time over
//!   `ROOT/backgrounds/image/*` or `ROOT/backgrounds/video/<clip>/*`;
//! - composited evaluation clips: `ROOT/<clip>/com/*.png` + `pha/` (+ `fgr/`);
//! - image sets: `ROOT/image/*.png` + `ROOT/alpha/*.png` with the same stems.

use std::fs;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::error::{DataError, Result};
use super::png::{check_size, list_frames, match_frames, read_clip, read_gray, read_rgb, stem};
use crate::frame::{Clip, ClipMeta, Frame, Interaction, Rgb};
use crate::world::rng::Rand;

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    v.sort();
    Ok(v)
}

/// Metadata of a clip read from files (nothing known beyond its frames).
pub(crate) fn meta_for(name: String, split: &str, clip_type: &str, frames: &[Frame]) -> ClipMeta {
    let (w, h) = frames.first().map(|f| f.size()).unwrap_or((0, 0));
    ClipMeta {
        name,
        split: split.into(),
        clip_type: clip_type.into(),
        background: "unknown".into(),
        families: vec![],
        interferer_families: vec![],
        interaction: Interaction::None,
        n_frames: frames.len(),
        width: w,
        height: h,
    }
}

/// Load one composited clip folder (`com/`, `pha/`, optional `fgr/`, ...).
pub fn load_clip(clip_dir: &Path) -> Result<Clip> {
    let frames = read_clip(clip_dir)?;
    let name = clip_dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Clip { meta: meta_for(name, "eval", "composited", &frames), frames })
}

/// Load every clip of a composited evaluation set (each sub-folder with a
/// `com/` folder). If hoimat wrote the set, its manifest supplies the metadata.
pub fn load_composited(root: &Path) -> Result<Vec<Clip>> {
    if !root.is_dir() {
        return Err(DataError::invalid(root, "not a folder"));
    }
    // A hoimat-written set lists its clips (in generation order) and their
    // metadata in its manifest; any other set is read folder by folder.
    let mut clips = Vec::new();
    if let Ok(m) = super::png::read_manifest(root) {
        for meta in m.clips {
            let mut clip = load_clip(&root.join(&meta.name))?;
            clip.meta = meta;
            clips.push(clip);
        }
    } else {
        for d in subdirs(root)? {
            if d.join("com").is_dir() {
                clips.push(load_clip(&d)?);
            }
        }
    }
    if clips.is_empty() {
        return Err(DataError::invalid(root, "no clips (expected <clip>/com/*.png and <clip>/pha/*.png)"));
    }
    Ok(clips)
}

/// Load an image matting set: `image/*` and `alpha/*` with the same stems;
/// each image becomes a one-frame clip.
pub fn load_image_set(root: &Path) -> Result<Vec<Clip>> {
    let images = list_frames(&root.join("image"))?;
    let alphas = match_frames(&images, &root.join("alpha"))?;
    let mut clips = Vec::with_capacity(images.len());
    for (ip, ap) in images.iter().zip(&alphas) {
        let com = read_rgb(ip)?;
        let pha = read_gray(ap)?;
        check_size(ap, (pha.w, pha.h), (com.w, com.h), "its image")?;
        let frames = vec![Frame { com, pha, fgr: None, bgr: None, label: None, person: None }];
        clips.push(Clip { meta: meta_for(stem(ip), "eval", "image", &frames), frames });
    }
    Ok(clips)
}

/// A background source for VideoMatte240K-style compositing.
enum Bg {
    Image(PathBuf),
    Video(Vec<PathBuf>),
}

fn backgrounds(root: &Path) -> Result<Vec<Bg>> {
    let mut v = Vec::new();
    let img = root.join("backgrounds").join("image");
    if img.is_dir() {
        v.extend(list_frames(&img)?.into_iter().map(Bg::Image));
    }
    let vid = root.join("backgrounds").join("video");
    if vid.is_dir() {
        for d in subdirs(&vid)? {
            v.push(Bg::Video(list_frames(&d)?));
        }
    }
    if v.is_empty() {
        return Err(DataError::invalid(root.join("backgrounds"), "no backgrounds (expected backgrounds/image/* or backgrounds/video/<clip>/*)"));
    }
    Ok(v)
}

fn resized(path: &Path, w: usize, h: usize) -> Result<Rgb> {
    let img = super::png::open_image(path)?.to_rgb8();
    let img = if (img.width() as usize, img.height() as usize) == (w, h) {
        img
    } else {
        image::imageops::resize(&img, w as u32, h as u32, FilterType::Triangle)
    };
    Ok(Rgb::from_u8(w, h, img.as_raw()))
}

/// Load a VideoMatte240K-style split, compositing each clip over a background
/// chosen by `seed` (image backgrounds are still; video backgrounds advance
/// one frame per frame and loop). I = aF + (1-a)B (paper Eq. 1).
pub fn load_videomatte(root: &Path, split: &str, seed: u64) -> Result<Vec<Clip>> {
    let fgr_root = root.join(split).join("fgr");
    let pha_root = root.join(split).join("pha");
    for d in [&fgr_root, &pha_root] {
        if !d.is_dir() {
            return Err(DataError::invalid(d, "missing folder (VideoMatte240K layout: <split>/fgr/<clip>/ and <split>/pha/<clip>/)"));
        }
    }
    let bgs = backgrounds(root)?;
    let mut clips = Vec::new();
    for (ci, clip_dir) in subdirs(&fgr_root)?.into_iter().enumerate() {
        let name = clip_dir.file_name().unwrap().to_string_lossy().into_owned();
        let fgr_files = list_frames(&clip_dir)?;
        let pha_dir = pha_root.join(&name);
        if !pha_dir.is_dir() {
            return Err(DataError::invalid(&pha_dir, "missing alpha folder for this foreground clip"));
        }
        let pha_files = match_frames(&fgr_files, &pha_dir)?;
        let mut r = Rand::keyed(&format!("videomatte/{split}/{name}/{ci}"), seed);
        let bg = r.pick(&bgs);
        let mut frames = Vec::with_capacity(fgr_files.len());
        for (i, (fp, ap)) in fgr_files.iter().zip(&pha_files).enumerate() {
            let fgr = read_rgb(fp)?;
            let pha = read_gray(ap)?;
            check_size(ap, (pha.w, pha.h), (fgr.w, fgr.h), "its foreground")?;
            let bgr = match bg {
                Bg::Image(p) => resized(p, fgr.w, fgr.h)?,
                Bg::Video(v) => resized(&v[i % v.len()], fgr.w, fgr.h)?,
            };
            let mut com = vec![0.0; fgr.data.len()];
            for (j, c) in com.iter_mut().enumerate() {
                let a = pha.data[j / 3];
                *c = a * fgr.data[j] + (1.0 - a) * bgr.data[j];
            }
            let com = Rgb::new(fgr.w, fgr.h, com);
            frames.push(Frame { com, pha, fgr: Some(fgr), bgr: Some(bgr), label: None, person: None });
        }
        clips.push(Clip { meta: meta_for(name, split, "human_only", &frames), frames });
    }
    if clips.is_empty() {
        return Err(DataError::invalid(&fgr_root, "no clips"));
    }
    Ok(clips)
}

/// Write clips in the VideoMatte240K layout (foreground and alpha only, plus
/// each clip's background frames as video backgrounds): the synthetic `synvm`
/// set in the shape of the real one, so its loader can be exercised.
pub fn write_videomatte(root: &Path, split: &str, clips: &[Clip]) -> Result<()> {
    for clip in clips {
        let fd = root.join(split).join("fgr").join(&clip.meta.name);
        let pd = root.join(split).join("pha").join(&clip.meta.name);
        let bd = root.join("backgrounds").join("video").join(&clip.meta.name);
        for d in [&fd, &pd, &bd] {
            fs::create_dir_all(d).map_err(|e| DataError::io(d, e))?;
        }
        for (i, f) in clip.frames.iter().enumerate() {
            let (w, h) = f.size();
            let n = super::png::frame_name(i);
            let fgr = f.fgr.as_ref().ok_or_else(|| DataError::invalid(&fd, "clip has no foreground"))?;
            let bgr = f.bgr.as_ref().ok_or_else(|| DataError::invalid(&bd, "clip has no background"))?;
            let save = |p: PathBuf, b: &[u8], c: image::ColorType| {
                image::save_buffer(&p, b, w as u32, h as u32, c).map_err(|source| DataError::Image { path: p.clone(), source })
            };
            save(fd.join(&n), &fgr.to_u8(), image::ColorType::Rgb8)?;
            save(pd.join(&n), &f.pha.to_u8(), image::ColorType::L8)?;
            save(bd.join(&n), &bgr.to_u8(), image::ColorType::Rgb8)?;
        }
    }
    Ok(())
}
