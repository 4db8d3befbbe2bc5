//! Matting a user's own footage, as RVM's `convert_video` does: the input is
//! a video file or a folder of png/jpg frames; the outputs (any of alpha,
//! foreground, composition) are videos or PNG sequences. The recurrent
//! state is carried through the whole input, `seq_chunk` frames per
//! forward; frame rate and frame count are kept. Decoding, the model and
//! encoding are timed apart, so the report says which one bounds the speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::data::png::{list_frames, Staging};
use crate::data::video::{self, VideoReader, VideoWriter};
use crate::model::matter::{refiner_trained, resolve_ratio};
use crate::model::Matter;

/// RVM's green-screen colour for compositions (120, 255, 155).
const GREEN: [f32; 3] = [120.0 / 255.0, 1.0, 155.0 / 255.0];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputType {
    Video,
    Png,
}

#[derive(Clone, Debug)]
pub struct MediaOptions {
    pub alpha: Option<PathBuf>,
    pub foreground: Option<PathBuf>,
    /// Video: over RVM's green; PNG: RGBA (foreground with alpha).
    pub composition: Option<PathBuf>,
    pub output_type: OutputType,
    pub mbps: f64,
    pub seq_chunk: usize,
    pub resize: Option<(u32, u32)>,
    pub ratio: Option<f64>,
    /// Half precision (CUDA only; the caller converts the weights).
    pub half: bool,
    pub overwrite: bool,
    /// Frame rate given to a folder of frames (a video keeps its own).
    pub folder_fps: (u32, u32),
}

/// What a run did and where the time went.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MediaReport {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub fps: (u32, u32),
    pub downsample_ratio: f64,
    pub decode_fps: f64,
    pub model_fps: f64,
    pub encode_fps: f64,
    /// The source's own frame times, kept in video outputs, when its rate
    /// varies (`data::video::variable_rate`); empty for a constant rate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frame_times: Vec<f64>,
    /// The source's rate varies but its times repeat or run back, so the
    /// video outputs took the average rate.
    pub irregular_times: bool,
}

/// A folder that holds frames directly (png/jpg), not clips.
pub fn is_frame_folder(path: &Path) -> bool {
    path.is_dir() && list_frames(path).is_ok_and(|v| !v.is_empty())
}

enum Source {
    Video(Box<VideoReader>),
    Frames { files: Vec<PathBuf>, next: usize, size: (u32, u32), resize: Option<(u32, u32)> },
}

impl Source {
    /// The source, its frame size, rate and count.
    fn open(input: &Path, resize: Option<(u32, u32)>, folder_fps: (u32, u32)) -> Result<(Source, (u32, u32), (u32, u32), Option<u64>)> {
        if video::is_video(input) {
            let r = VideoReader::open(input, resize)?;
            let (size, fps, n) = ((r.width, r.height), r.info.fps, r.info.frames);
            return Ok((Source::Video(Box::new(r)), size, fps, n));
        }
        if input.is_dir() {
            let files = list_frames(input)?;
            let Some(first) = files.first() else { bail!("{}: no png/jpg frames in the folder (zero frames)", input.display()) };
            let (w, h) = image::image_dimensions(first).with_context(|| format!("{}: not a readable image", first.display()))?;
            if w == 0 || h == 0 {
                bail!("{}: a zero-sized frame", first.display());
            }
            let n = files.len() as u64;
            let size = resize.unwrap_or((w, h));
            return Ok((Source::Frames { files, next: 0, size: (w, h), resize }, size, folder_fps, Some(n)));
        }
        if input.is_file() {
            bail!("{}: not a video file ({}) or a folder of frames", input.display(), video::EXTENSIONS.join("/"));
        }
        bail!("{}: no such file or folder", input.display())
    }

    fn next(&mut self) -> Result<Option<Vec<u8>>> {
        match self {
            Source::Video(r) => r.next_frame(),
            Source::Frames { files, next, size, resize } => {
                let Some(f) = files.get(*next) else { return Ok(None) };
                *next += 1;
                let img = image::open(f).with_context(|| format!("{}: not a readable image", f.display()))?.to_rgb8();
                if resize.is_none() && img.dimensions() != *size {
                    bail!("{}: {}x{}, but the folder's first frame is {}x{} (mixed frame sizes; --input-resize scales them all)", f.display(), img.width(), img.height(), size.0, size.1);
                }
                let img = match resize {
                    Some((w, h)) if (*w, *h) != *size => image::imageops::resize(&img, *w, *h, image::imageops::FilterType::Triangle),
                    _ => img,
                };
                Ok(Some(img.into_raw()))
            }
        }
    }
}

enum Sink {
    Video(VideoWriter),
    Png { stage: Staging, next: usize },
}

#[derive(Clone, Copy)]
enum Kind3 {
    Alpha,
    Foreground,
    Composition,
}

impl Sink {
    fn create(path: &Path, o: &MediaOptions, size: (u32, u32), fps: (u32, u32), times: &[f64]) -> Result<Sink> {
        if path.exists() && !o.overwrite {
            bail!("{}: already exists (pass --overwrite to replace it)", path.display());
        }
        Ok(match o.output_type {
            OutputType::Video if !times.is_empty() && video::holds_times(path) => Sink::Video(VideoWriter::create_timed(path, size.0, size.1, fps, times, o.mbps)?),
            OutputType::Video => Sink::Video(VideoWriter::create(path, size.0, size.1, fps, o.mbps)?),
            OutputType::Png => Sink::Png { stage: Staging::new(path).map_err(|e| anyhow::anyhow!("{e}"))?, next: 0 },
        })
    }

    /// One frame: `pha` [H*W] and `fgr` [H*W*3] as 8-bit values.
    fn write(&mut self, kind: Kind3, pha: &[u8], fgr: &[u8], size: (u32, u32)) -> Result<()> {
        let (w, h) = size;
        match self {
            Sink::Video(v) => {
                let rgb: Vec<u8> = match kind {
                    Kind3::Alpha => pha.iter().flat_map(|a| [*a; 3]).collect(),
                    Kind3::Foreground => fgr.to_vec(),
                    Kind3::Composition => fgr
                        .chunks_exact(3)
                        .zip(pha)
                        .flat_map(|(c, a)| {
                            let a = *a as f32 / 255.0;
                            [0, 1, 2].map(|i| crate::frame::quantize(c[i] as f32 / 255.0 * a + GREEN[i] * (1.0 - a)))
                        })
                        .collect(),
                };
                v.write(&rgb)
            }
            Sink::Png { stage, next } => {
                let file = stage.tmp.join(format!("{:06}.png", *next));
                *next += 1;
                let saved = match kind {
                    Kind3::Alpha => image::save_buffer(&file, pha, w, h, image::ColorType::L8),
                    Kind3::Foreground => image::save_buffer(&file, fgr, w, h, image::ColorType::Rgb8),
                    Kind3::Composition => {
                        let rgba: Vec<u8> = fgr.chunks_exact(3).zip(pha).flat_map(|(c, a)| [c[0], c[1], c[2], *a]).collect();
                        image::save_buffer(&file, &rgba, w, h, image::ColorType::Rgba8)
                    }
                };
                saved.with_context(|| format!("{}: cannot write", file.display()))
            }
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Video(v) => v.finish(),
            Sink::Png { stage, .. } => stage.commit().map_err(|e| anyhow::anyhow!("{e}")),
        }
    }
}

/// Run `net` over `input`, writing the requested outputs.
pub fn infer_media(net: &dyn Matter, input: &Path, o: &MediaOptions, device: Device) -> Result<MediaReport> {
    if net.prompt_channels() > 0 {
        bail!("a {} model needs user input (clicks) for every frame; `hoimat infer` runs automatic models only", net.arch());
    }
    let outputs: Vec<(Kind3, &PathBuf)> = [(Kind3::Alpha, &o.alpha), (Kind3::Foreground, &o.foreground), (Kind3::Composition, &o.composition)].into_iter().filter_map(|(k, p)| p.as_ref().map(|p| (k, p))).collect();
    if outputs.is_empty() {
        bail!("nothing to write: give --output-alpha, --output-foreground or --output-composition");
    }
    if o.half && device == Device::Cpu {
        bail!("--dtype f16 needs CUDA");
    }
    if o.half && net.arch() != crate::model::Arch::Rvm {
        bail!("--dtype f16 runs RVM's network only (the {} model mixes float32 attention in)", net.arch());
    }
    if let Some((w, h)) = o.resize {
        anyhow::ensure!(w > 0 && h > 0, "--input-resize {w}x{h}: both sides must be positive");
    }
    let (mut source, size, fps, count) = Source::open(input, o.resize, o.folder_fps)?;
    // Video outputs keep a variable-rate source's frame times.
    // (Only when some output can hold them: the check may decode the input once.)
    let keeps = o.output_type == OutputType::Video && outputs.iter().any(|(_, p)| video::holds_times(p));
    let timing = match &source {
        Source::Video(r) if keeps => video::source_timing(input, &r.info)?,
        _ => video::SourceTiming::Constant,
    };
    let times = match &timing {
        video::SourceTiming::Variable(t) => t.clone(),
        _ => vec![],
    };
    let ratio = resolve_ratio(net, o.ratio, size.1 as i64, size.0 as i64, refiner_trained(net))?;
    let mut sinks = outputs.iter().map(|(k, p)| Ok((*k, Sink::create(p, o, size, fps, &times)?))).collect::<Result<Vec<_>>>()?;
    let bar = crate::progress::bar(count.unwrap_or(0), "matting");
    let (mut t_dec, mut t_model, mut t_enc) = (0.0, 0.0, 0.0);
    let mut rec: Option<Vec<Tensor>> = None;
    let mut frames = 0u64;
    let (w, h) = (size.0 as i64, size.1 as i64);
    loop {
        let t0 = Instant::now();
        let mut chunk = Vec::with_capacity(o.seq_chunk);
        while chunk.len() < o.seq_chunk.max(1) {
            match source.next()? {
                Some(f) => chunk.push(f),
                None => break,
            }
        }
        t_dec += t0.elapsed().as_secs_f64();
        if chunk.is_empty() {
            break;
        }
        let t1 = Instant::now();
        let t = chunk.len() as i64;
        let bytes: Vec<u8> = chunk.concat();
        let src = Tensor::from_slice(&bytes).view([1, t, h, w, 3]).permute([0, 1, 4, 2, 3]).contiguous().to_kind(Kind::Float) / 255.0;
        let src = if o.half { src.to_device(device).to_kind(Kind::Half) } else { src.to_device(device) };
        let out = tch::no_grad(|| net.run_at(net.params(), &src, rec.as_deref(), ratio));
        let pha = out.pha.to_kind(Kind::Float).to_device(Device::Cpu);
        let fgr = out.fgr.to_kind(Kind::Float).to_device(Device::Cpu);
        rec = Some(out.state);
        t_model += t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        for i in 0..t {
            let p = crate::train::batch::to_plane(&pha.get(0).get(i)).to_u8();
            let f = crate::train::batch::to_rgb(&fgr.get(0).get(i)).to_u8();
            for (k, s) in sinks.iter_mut() {
                s.write(*k, &p, &f, size)?;
            }
        }
        t_enc += t2.elapsed().as_secs_f64();
        frames += t as u64;
        bar.inc(t as u64);
        bar.set_message(format!("model {:.1} frames/s", frames as f64 / t_model.max(1e-9)));
    }
    if !times.is_empty() && times.len() as u64 != frames {
        eprintln!("warning: {}: {} frame times for {frames} decoded frames (the decoder and ffprobe disagree); frames past the times follow at the mean interval", input.display(), times.len());
    }
    let t3 = Instant::now();
    for (_, s) in sinks {
        s.finish()?;
    }
    t_enc += t3.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let per = |t: f64| frames as f64 / t.max(1e-9);
    Ok(MediaReport { frames, width: size.0, height: size.1, fps, downsample_ratio: ratio, decode_fps: per(t_dec), model_fps: per(t_model), encode_fps: per(t_enc), irregular_times: timing == video::SourceTiming::Irregular, frame_times: times })
}
