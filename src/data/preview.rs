//! Contact sheets: for a few clips, one row each of composite, alpha, label
//! map (colour-coded) and foreground over a checkerboard, from the middle
//! frame, enlarged so even the smoke profile is visible.

use std::path::Path;

use image::{Rgb as Px, RgbImage};

use super::error::{DataError, Result};
use crate::frame::{label, Clip};

/// Colours of the label map: background, person, held object, free object,
/// interferer.
pub const LABEL_COLORS: [[u8; 3]; 5] = [[20, 20, 20], [240, 200, 150], [60, 140, 255], [255, 210, 40], [230, 50, 50]];

pub fn contact_sheet(clips: &[Clip], max_clips: usize) -> RgbImage {
    let clips: Vec<&Clip> = clips.iter().filter(|c| !c.frames.is_empty()).take(max_clips).collect();
    let (w, h) = clips.first().map(|c| c.frames[0].size()).unwrap_or((1, 1));
    let k = (256 / w).max(1) as u32; // integer enlargement, nearest neighbour
    let (tw, th) = (w as u32 * k, h as u32 * k);
    let gap = 4;
    let mut img = RgbImage::from_pixel(4 * (tw + gap) + gap, clips.len() as u32 * (th + gap) + gap, Px([255, 255, 255]));
    for (row, clip) in clips.iter().enumerate() {
        let f = &clip.frames[clip.frames.len() / 2];
        let y0 = gap + row as u32 * (th + gap);
        for col in 0..4u32 {
            let x0 = gap + col * (tw + gap);
            for y in 0..th {
                for x in 0..tw {
                    let (sx, sy) = ((x / k) as usize, (y / k) as usize);
                    let i = sy * w + sx;
                    let rgb = |v: [f32; 3]| Px(v.map(crate::frame::quantize));
                    let px = match col {
                        0 => rgb(f.com.px(sx, sy)),
                        1 => {
                            let a = crate::frame::quantize(f.pha.data[i]);
                            Px([a, a, a])
                        }
                        2 => match &f.label {
                            Some(l) => Px(LABEL_COLORS[(l.data[i] as usize).min(label::NAMES.len() - 1)]),
                            None => Px([128, 128, 128]),
                        },
                        _ => {
                            let a = f.pha.data[i];
                            let checker = if ((x / 8) + (y / 8)) % 2 == 0 { 0.8 } else { 0.55 };
                            let fg = f.fgr.as_ref().map(|g| g.px(sx, sy)).unwrap_or(f.com.px(sx, sy));
                            rgb(fg.map(|c| a * c + (1.0 - a) * checker))
                        }
                    };
                    img.put_pixel(x0 + x, y0 + y, px);
                }
            }
        }
    }
    img
}

pub fn write_contact_sheet(clips: &[Clip], max_clips: usize, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    }
    contact_sheet(clips, max_clips).save(out).map_err(|source| DataError::Image { path: out.to_path_buf(), source })
}
