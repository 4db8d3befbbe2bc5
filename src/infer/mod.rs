//! Inference over a clip tree in RVM's layout: every folder holding `com/`
//! is a clip; its frames run through the model in order with the recurrent
//! state carried across the clip, and `pha/` and `fgr/` PNGs are written
//! under the same relative path in the output tree.

pub mod media;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tch::Device;

use crate::data::png::{list_frames, read_rgb, stem};
use crate::frame::{Clip, Frame, Plane};
use crate::model::Matter;
use crate::train::batch::{to_plane, to_rgb, ClipTensors};
use crate::model::matter::resolve_ratio;
use crate::train::validate::predict_clip_at;

/// Clip folders (those with a `com/` folder) below `root`, sorted.
pub fn find_clips(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("com").is_dir() {
            out.push(d);
            continue;
        }
        for e in std::fs::read_dir(&d).with_context(|| format!("{}: cannot list", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        anyhow::bail!("{}: no clips (expected <clip>/com/*.png below it)", root.display());
    }
    Ok(out)
}

/// Run `net` over every clip below `input`, writing to `out`, at RVM's
/// `downsample_ratio` (None: see [`resolve_ratio`]). Returns the number of
/// frames processed.
pub fn infer_tree(net: &dyn Matter, input: &Path, out: &Path, device: Device, ratio: Option<f64>, trained_refiner: bool) -> Result<usize> {
    if net.prompt_channels() > 0 {
        anyhow::bail!("a {} model needs user input (clicks) for every frame; `hoimat infer` runs automatic models only", net.arch());
    }
    let clips = find_clips(input)?;
    let bar = crate::progress::bar(clips.len() as u64, "infer");
    let mut total = 0;
    for dir in clips {
        let files = list_frames(&dir.join("com"))?;
        let mut frames = Vec::with_capacity(files.len());
        for f in &files {
            let com = read_rgb(f)?;
            if let Some(first) = frames.first().map(|x: &Frame| x.size()) {
                crate::data::png::check_size(f, (com.w, com.h), first, "the clip's first frame")?;
            }
            let pha = Plane::filled(com.w, com.h, 0.0);
            frames.push(Frame { com, pha, fgr: None, bgr: None, label: None, person: None });
        }
        let (w, h) = frames[0].size();
        let meta = crate::data::loaders::meta_for(stem(&dir), "", "", &frames);
        let ct = ClipTensors::from_clip(&Clip { meta, frames });
        let r = resolve_ratio(net, ratio, h as i64, w as i64, trained_refiner)?;
        let (pha, fgr) = predict_clip_at(net, net.params(), &ct, 8, device, r);
        let rel = dir.strip_prefix(input).unwrap_or(&dir);
        let od = out.join(rel);
        std::fs::create_dir_all(od.join("pha"))?;
        std::fs::create_dir_all(od.join("fgr"))?;
        for (i, f) in files.iter().enumerate() {
            let p = to_plane(&pha.get(i as i64));
            let g = to_rgb(&fgr.get(i as i64));
            let name = format!("{}.png", stem(f));
            image::save_buffer(od.join("pha").join(&name), &p.to_u8(), w as u32, h as u32, image::ColorType::L8)?;
            image::save_buffer(od.join("fgr").join(&name), &g.to_u8(), w as u32, h as u32, image::ColorType::Rgb8)?;
        }
        total += files.len();
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(total)
}
