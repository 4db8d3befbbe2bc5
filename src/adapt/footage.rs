//! A user's own recording and their annotations: the paper's local
//! adaptation (Sec. IV-E) starts from a camera capture, of which the user
//! labels a few frames (the paper with MatteAnything's clicks; any tool
//! that writes alpha mattes will do). Frames come from a video file or a
//! folder of png/jpg frames; labels from a folder of alpha mattes named by
//! the frame's index, counted from 0 (`12.png`, `000012.png`): its place in
//! decoding order for a video, in name order for a folder of frames.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::annotate::{pick_frames, FramePolicy};
use super::local::Capture;
use crate::data::png::{list_frames, open_image};
use crate::data::video::{self, VideoReader};
use crate::frame::{Clip, Frame, Plane, Rgb};

/// Frames of a recording with the user's labels in place of the alpha
/// (unlabelled frames hold zeros and are never trained on or scored).
pub struct Footage {
    pub clip: Clip,
    /// Sorted indices of the labelled frames.
    pub labelled: Vec<usize>,
    /// The label file of each labelled frame.
    pub label_files: Vec<PathBuf>,
}

/// Read at most `max_frames` frames of `input` (a video or a folder of
/// frames), resized to `resize` when given, and the labels in `labels`
/// (resized with them). Every problem is an error naming the file.
pub fn load(input: &Path, labels: &Path, resize: Option<(u32, u32)>, max_frames: usize) -> Result<Footage> {
    anyhow::ensure!(max_frames > 0, "--max-frames must be positive");
    let (frames, size) = read_frames(input, resize, max_frames)?;
    let mut clip = Clip { meta: crate::data::loaders::meta_for(stem(input), "footage", "footage", &frames), frames };
    let files = list_frames(labels).with_context(|| format!("{}: the labels (alpha mattes named by frame index)", labels.display()))?;
    let mut labelled = vec![];
    let mut label_files = vec![];
    for f in files {
        let name = stem(&f);
        let Some(i) = name.bytes().all(|b| b.is_ascii_digit()).then(|| name.parse::<usize>().ok()).flatten() else {
            bail!("{}: a label's name must be its frame's index (e.g. 000012.png), not '{name}'", f.display());
        };
        if i >= clip.frames.len() {
            bail!("{}: frame {i}, but {} has {} frames{}", f.display(), input.display(), clip.frames.len(), if clip.frames.len() == max_frames { " read (--max-frames)" } else { "" });
        }
        if labelled.contains(&i) {
            bail!("{}: a second label for frame {i}", f.display());
        }
        let mut pha = read_label(&f)?;
        let (w, h) = (pha.w as u32, pha.h as u32);
        if (w, h) != size.stored {
            if (w, h) != size.read {
                bail!("{}: {w}x{h}, but the frames are {}x{}", f.display(), size.stored.0, size.stored.1);
            }
        } else if size.read != size.stored {
            pha = resize_plane(&pha, size.read);
        }
        clip.frames[i].pha = pha;
        labelled.push(i);
        label_files.push(f);
    }
    // Sorted by index, files alongside.
    let mut order: Vec<usize> = (0..labelled.len()).collect();
    order.sort_by_key(|&k| labelled[k]);
    let labelled: Vec<usize> = order.iter().map(|&k| labelled[k]).collect();
    let label_files = order.iter().map(|&k| label_files[k].clone()).collect();
    Ok(Footage { clip, labelled, label_files })
}

impl Footage {
    /// Labels held out for scoring unless told: a quarter, at least one
    /// when there are two or more (one label must train).
    pub fn default_holdout(&self) -> usize {
        let n = self.labelled.len();
        if n >= 2 { (n / 4).max(1) } else { 0 }
    }

    /// Train on the labelled frames but `holdout` of them, spread over the
    /// recording, which are scored after every epoch against their labels
    /// (at least one frame trains; `holdout` 0 scores nothing).
    pub fn capture(&self, holdout: usize) -> Result<Capture> {
        let n = self.labelled.len();
        anyhow::ensure!(n > holdout, "{} labels, so at most {} can be held out for scoring (--holdout {holdout})", n, n.saturating_sub(1));
        let held: Vec<usize> = if holdout == 0 { vec![] } else { pick_frames(n, holdout, FramePolicy::Spread).into_iter().map(|k| self.labelled[k]).collect() };
        let captured: Vec<usize> = self.labelled.iter().copied().filter(|i| !held.contains(i)).collect();
        let labels = captured.iter().map(|&i| self.clip.frames[i].pha.clone()).collect();
        Ok(Capture { captured, labels, scored: held })
    }
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "footage".into())
}

/// Sizes of the input as stored and as read (after `--input-resize`).
struct Sizes {
    stored: (u32, u32),
    read: (u32, u32),
}

fn frame(rgb: &[u8], (w, h): (u32, u32)) -> Frame {
    let (w, h) = (w as usize, h as usize);
    Frame { com: Rgb::from_u8(w, h, rgb), pha: Plane { w, h, data: vec![0.0; w * h] }, fgr: None, bgr: None, label: None, person: None }
}

fn read_frames(input: &Path, resize: Option<(u32, u32)>, max_frames: usize) -> Result<(Vec<Frame>, Sizes)> {
    let mut frames = vec![];
    if video::is_video(input) {
        let mut r = VideoReader::open(input, resize)?;
        let size = Sizes { stored: r.info.display_size(), read: (r.width, r.height) };
        while frames.len() < max_frames {
            let Some(rgb) = r.next_frame()? else { break };
            frames.push(frame(&rgb, size.read));
        }
        return Ok((frames, size));
    }
    if !input.is_dir() {
        bail!("{}: not a video file ({}), a folder of frames or a clip folder (com/, pha/)", input.display(), video::EXTENSIONS.join("/"));
    }
    let files = list_frames(input)?;
    let (w, h) = image::image_dimensions(&files[0]).with_context(|| format!("{}: not a readable image", files[0].display()))?;
    let size = Sizes { stored: (w, h), read: resize.unwrap_or((w, h)) };
    for f in files.iter().take(max_frames) {
        let img = image::open(f).with_context(|| format!("{}: not a readable image", f.display()))?.to_rgb8();
        if img.dimensions() != size.stored {
            bail!("{}: {}x{}, but the folder's first frame is {w}x{h} (mixed frame sizes)", f.display(), img.width(), img.height());
        }
        let img = if size.read == size.stored { img } else { image::imageops::resize(&img, size.read.0, size.read.1, image::imageops::FilterType::Triangle) };
        frames.push(frame(img.as_raw(), size.read));
    }
    Ok((frames, size))
}

/// A label: the alpha channel of an image that has one (a cutout, as many
/// matting tools save it), else its grey level.
fn read_label(path: &Path) -> Result<Plane> {
    let img = open_image(path)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if img.color().has_alpha() {
        let a: Vec<u8> = img.to_luma_alpha8().pixels().map(|p| p.0[1]).collect();
        return Ok(Plane::from_u8(w, h, &a));
    }
    Ok(Plane::from_u8(w, h, img.to_luma8().as_raw()))
}

/// A label resized like its frame (bilinear on the 8-bit matte).
fn resize_plane(p: &Plane, (w, h): (u32, u32)) -> Plane {
    let img = image::GrayImage::from_raw(p.w as u32, p.h as u32, p.to_u8()).expect("sized");
    let r = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    Plane::from_u8(w as usize, h as usize, r.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hoimat-footage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("frames")).unwrap();
        std::fs::create_dir_all(d.join("labels")).unwrap();
        for i in 0..3u8 {
            image::save_buffer(d.join("frames").join(format!("f{i}.png")), &[40 * i; 4 * 2 * 3], 4, 2, image::ColorType::Rgb8).unwrap();
        }
        d
    }

    #[test]
    fn labels_from_a_folder_of_frames() {
        let d = scratch("ok");
        // A cutout (RGBA): its alpha is the label, not its colour.
        let mut rgba = vec![];
        for k in 0..8u8 {
            rgba.extend_from_slice(&[255, 0, 0, k * 30]);
        }
        image::save_buffer(d.join("labels/0001.png"), &rgba, 4, 2, image::ColorType::Rgba8).unwrap();
        image::save_buffer(d.join("labels/2.png"), &[255u8; 8], 4, 2, image::ColorType::L8).unwrap();
        let f = load(&d.join("frames"), &d.join("labels"), None, 10).unwrap();
        assert_eq!(f.clip.frames.len(), 3);
        assert_eq!(f.labelled, vec![1, 2]);
        assert_eq!(f.clip.frames[1].pha.to_u8(), (0..8u8).map(|k| k * 30).collect::<Vec<_>>());
        assert_eq!(f.clip.frames[0].pha.to_u8(), vec![0u8; 8]);
        // Frame 1 is the second in name order; its colour is 40/255.
        assert!((f.clip.frames[1].com.data[0] - 40.0 / 255.0).abs() < 1e-6);
        let c = f.capture(1).unwrap();
        assert_eq!((c.captured, c.scored), (vec![2], vec![1]));
        assert!(f.capture(2).is_err());
        // Resized with the frames.
        let f = load(&d.join("frames"), &d.join("labels"), Some((2, 1)), 10).unwrap();
        assert_eq!((f.clip.frames[2].pha.w, f.clip.frames[2].pha.h), (2, 1));
        assert!(f.clip.frames[2].pha.data.iter().all(|&a| a == 1.0));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_labels_name_their_file() {
        for (name, want) in [("+1.png", "frame's index"), ("1a.png", "frame's index"), ("3.png", "has 3 frames"), ("1.png", "second label")] {
            let d = scratch("bad");
            image::save_buffer(d.join("labels").join(name), &[0u8; 8], 4, 2, image::ColorType::L8).unwrap();
            if name == "1.png" {
                image::save_buffer(d.join("labels/001.png"), &[0u8; 8], 4, 2, image::ColorType::L8).unwrap();
            }
            let e = format!("{:#}", load(&d.join("frames"), &d.join("labels"), None, 10).err().unwrap());
            assert!(e.contains(want) && e.contains(d.join("labels").to_str().unwrap()), "{name}: {e}");
            let _ = std::fs::remove_dir_all(&d);
        }
        let d = scratch("size");
        image::save_buffer(d.join("labels/0.png"), &[0u8; 6], 3, 2, image::ColorType::L8).unwrap();
        let e = format!("{:#}", load(&d.join("frames"), &d.join("labels"), None, 10).err().unwrap());
        assert!(e.contains("0.png") && e.contains("3x2"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
