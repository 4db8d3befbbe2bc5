//! Video input and output speed through `ffmpeg`: decoding to RGB24, and
//! encoding at a constant rate against encoding with the frames' own times
//! (variable-rate footage through `data::mkv`), measured in one run.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::data::video::{VideoReader, VideoWriter};

/// A moving pattern with noise, so the encoder has real work (a flat frame
/// would encode at no cost).
fn frame(w: u32, h: u32, k: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let n = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ k.wrapping_mul(83_492_791)) >> 27;
            let g = ((x + 4 * k) * 255 / w.max(1)) as u8;
            v.extend_from_slice(&[g.wrapping_add(n as u8), ((y * 255) / h.max(1)) as u8, (k * 8) as u8 ^ g]);
        }
    }
    v
}

fn encode(path: &Path, w: u32, h: u32, frames: &[Vec<u8>], times: Option<&[f64]>) -> Result<f64> {
    let t = Instant::now();
    let mut v = match times {
        Some(times) => VideoWriter::create_timed(path, w, h, (25, 1), times, 8.0)?,
        None => VideoWriter::create(path, w, h, (25, 1), 8.0)?,
    };
    for f in frames {
        v.write(f)?;
    }
    v.finish()?;
    Ok(frames.len() as f64 / t.elapsed().as_secs_f64())
}

pub fn run(frames: u32) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("hoimat-bench-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure(&dir, frames);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(dir: &Path, frames: u32) -> Result<()> {
    println!("frames/s through ffmpeg (H.264 at 8 Mb/s, {frames} frames; the timed writer keeps each frame's own time)");
    println!("{:>10} {:>8} {:>18} {:>15} {:>7} {:>18}", "size", "decode", "encode (constant)", "encode (timed)", "ratio", "file kB (c / t)");
    for (w, h) in [(512u32, 288u32), (1920, 1080)] {
        let clip: Vec<Vec<u8>> = (0..frames).map(|k| frame(w, h, k)).collect();
        // 25 frames/s on average, alternately 30 and 50 ms apart.
        let times: Vec<f64> = (0..frames as usize).map(|i| (i / 2) as f64 * 0.08 + (i % 2) as f64 * 0.03).collect();
        let (cfr, vfr) = (dir.join(format!("c{w}.mp4")), dir.join(format!("v{w}.mp4")));
        let constant = encode(&cfr, w, h, &clip, None)?;
        let timed = encode(&vfr, w, h, &clip, Some(&times))?;
        let t = Instant::now();
        let mut r = VideoReader::open(&cfr, None)?;
        let mut n = 0;
        while r.next_frame()?.is_some() {
            n += 1;
        }
        let decode = n as f64 / t.elapsed().as_secs_f64();
        let kb = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len() / 1000);
        println!("{:>10} {:>8.1} {:>18.1} {:>15.1} {:>7.2} {:>18}", format!("{w}x{h}"), decode, constant, timed, timed / constant, format!("{} / {}", kb(&cfr), kb(&vfr)));
    }
    Ok(())
}
