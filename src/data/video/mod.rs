//! Video files in and out through the `ffmpeg` and `ffprobe` programs
//! (Debian's `ffmpeg` package, which `./run` installs): frames travel as raw
//! RGB24 over pipes. Chosen by measurement (README, "Matting your own
//! video"): at 1920x1080 decoding to RGB through the pipe runs at 67-83
//! frames/s and x264 encoding at about 32 frames/s on 2 cores, 5-10x the
//! model's 6.6 frames/s there, so linking libav* through a crate (bindgen,
//! clang, a build several minutes longer) would buy nothing measurable:
//! the decoder and the colour conversion are the same libraries either way,
//! and the pipe costs one copy of each frame.


mod reader;
mod writer;

pub use reader::VideoReader;
pub use writer::{holds_times, VideoWriter};

use std::path::Path;
use std::io::Read;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// File name endings read as video.
pub const EXTENSIONS: [&str; 7] = ["mp4", "mov", "mkv", "webm", "avi", "m4v", "mpg"];

pub fn is_video(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
}

/// What `ffprobe` says of a file's first video stream.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frame rate as a fraction (e.g. 30000/1001).
    pub fps: (u32, u32),
    /// Frame count from the container, when it states one.
    pub frames: Option<u64>,
    pub codec: String,
    /// Display rotation from the stream's display matrix, in degrees
    /// (0, 90, 180 or 270; phone video is often stored sideways).
    pub rotation: u32,
    /// Sample (pixel) aspect ratio; (1, 1) for square pixels. Anamorphic
    /// video (DV, some broadcast) stores wider pictures in fewer columns.
    pub sar: (u32, u32),
    /// The file's stream index of this video (the one decoded).
    pub stream: usize,
}

impl VideoInfo {
    pub fn fps_f64(&self) -> f64 {
        self.fps.0 as f64 / self.fps.1.max(1) as f64
    }

    /// The frame size as displayed (and as [`VideoReader`] decodes it):
    /// square pixels (the width scaled by the sample aspect ratio, kept
    /// even), then the sides swapped for a quarter turn.
    pub fn display_size(&self) -> (u32, u32) {
        let (n, d) = self.sar;
        let w = if n == d { self.width } else { ((self.width as u64 * n as u64 + d as u64) / (2 * d as u64) * 2).max(2) as u32 };
        if self.rotation % 180 == 90 {
            (self.height, w)
        } else {
            (w, self.height)
        }
    }
}

/// ffprobe's rotation (any sign, any multiple of 90 in practice) as a
/// quarter turn in [0, 360); other angles are refused (no decoder applies
/// them), naming the file.
fn quarter_turns(path: &Path, degrees: f64) -> Result<u32> {
    let d = degrees.rem_euclid(360.0);
    let q = (d / 90.0).round() * 90.0;
    if (d - q).abs() > 0.5 {
        bail!("{}: a display rotation of {degrees} degrees, which is not a quarter turn", path.display());
    }
    Ok(q as u32 % 360)
}

pub(super) fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    c.stdin(Stdio::null());
    c
}

pub(super) fn missing_tool(name: &str, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot run `{name}` ({e}): video needs Debian's ffmpeg package, which ./run installs (apt-get install ffmpeg)")
}

/// Drain a child's stderr on a thread, so a chatty ffmpeg can never block
/// on a full pipe while we read its stdout or write its stdin.
pub(super) fn drain(child: &mut Child) -> Option<std::thread::JoinHandle<String>> {
    let mut e = child.stderr.take()?;
    Some(std::thread::spawn(move || {
        let mut s = String::new();
        let _ = e.read_to_string(&mut s);
        s
    }))
}

pub(super) fn collected(h: Option<std::thread::JoinHandle<String>>) -> String {
    h.and_then(|h| h.join().ok()).unwrap_or_default().trim().to_string()
}

fn parse_rate(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/').unwrap_or((s, "1"));
    let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
    (a > 0 && b > 0).then_some((a, b))
}

/// Probe `path`: a clear error naming the file when it is missing, not a
/// video, truncated beyond reading, or has no video stream.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    if !path.is_file() {
        bail!("{}: no such video file", path.display());
    }
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        bail!("{}: an empty file, not a video", path.display());
    }
    let out = tool("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "stream=index,width,height,r_frame_rate,avg_frame_rate,nb_frames,codec_name,sample_aspect_ratio:stream_disposition=attached_pic:stream_side_data=rotation", "-of", "json"])
        .arg(path)
        .output()
        .map_err(|e| missing_tool("ffprobe", e))?;
    if !out.status.success() {
        bail!("{}: not a readable video: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| format!("{}: ffprobe's answer is not JSON", path.display()))?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    // The clip, not a cover picture: a picture is marked as attached (MP4,
    // MOV) or is a still-image stream of its own (Matroska may list it
    // first), and ffmpeg's own choice would differ from ffprobe's first.
    let still = |s: &serde_json::Value| s["disposition"]["attached_pic"].as_i64() == Some(1) || ["png", "mjpeg", "bmp", "tiff", "webp", "gif"].contains(&s["codec_name"].as_str().unwrap_or(""));
    let Some(s) = streams.iter().find(|s| !still(s)).or_else(|| streams.iter().find(|s| s["disposition"]["attached_pic"].as_i64() != Some(1))) else {
        bail!("{}: has no video stream{}", path.display(), if streams.is_empty() { "" } else { " (only a cover picture)" })
    };
    let stream = s["index"].as_u64().with_context(|| format!("{}: ffprobe names no stream index", path.display()))? as usize;
    let (width, height) = (s["width"].as_u64().unwrap_or(0) as u32, s["height"].as_u64().unwrap_or(0) as u32);
    if width == 0 || height == 0 {
        bail!("{}: the video stream has no frame size (zero-sized)", path.display());
    }
    let fps = s["avg_frame_rate"].as_str().and_then(parse_rate).or_else(|| s["r_frame_rate"].as_str().and_then(parse_rate)).with_context(|| format!("{}: the video stream has no frame rate", path.display()))?;
    let frames = s["nb_frames"].as_str().and_then(|n| n.parse().ok());
    let degrees = s["side_data_list"].as_array().into_iter().flatten().find_map(|d| d["rotation"].as_f64()).unwrap_or(0.0);
    let rotation = quarter_turns(path, degrees)?;
    // "0:1" (unknown) or absent means square.
    let sar = s["sample_aspect_ratio"].as_str().and_then(|r| r.split_once(':')).and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))).filter(|&(a, b): &(u32, u32)| a > 0 && b > 0).unwrap_or((1, 1));
    Ok(VideoInfo { width, height, fps, frames, codec: s["codec_name"].as_str().unwrap_or("?").to_string(), rotation, sar, stream })
}

/// The video stream's packets, as the demuxer gives them (no decoding).
pub struct Packets {
    /// Presentation times in seconds from the first, sorted, of the
    /// packets not discarded; None when some packet has no timestamp (raw
    /// elementary streams, AVI).
    pub times: Option<Vec<f64>>,
    /// Packets the demuxer marks discarded (an edit list's cut, e.g. a clip
    /// trimmed by stream copy): the container counts them, the decoder
    /// shows none of them.
    pub discarded: usize,
}

/// Lines of `ffprobe -show_entries ENTRIES -of csv=p=0` for the stream.
fn probe_lines(path: &Path, info: &VideoInfo, entries: &str) -> Result<Vec<String>> {
    let out = tool("ffprobe")
        .args(["-v", "error", "-select_streams", &info.stream.to_string(), "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .map_err(|e| missing_tool("ffprobe", e))?;
    if !out.status.success() {
        bail!("{}: not a readable video: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
}

/// Seconds from the first; None when a time is missing.
fn relative(times: Option<Vec<f64>>) -> Option<Vec<f64>> {
    let times = times?;
    let t0 = *times.first()?;
    Some(times.iter().map(|t| t - t0).collect())
}

pub fn packets(path: &Path, info: &VideoInfo) -> Result<Packets> {
    let mut discarded = 0;
    let mut times = Some(vec![]);
    for line in probe_lines(path, info, "packet=pts_time,flags")? {
        let (t, flags) = line.split_once(',').unwrap_or((&line, ""));
        if flags.contains('D') {
            discarded += 1;
            continue;
        }
        match t.trim().parse::<f64>() {
            Ok(t) if t.is_finite() => times.iter_mut().for_each(|v| v.push(t)),
            _ => times = None,
        }
    }
    // Packets come in decoding order: sorted, they are the presentation order.
    if let Some(t) = times.as_mut() {
        t.sort_by(f64::total_cmp);
    }
    Ok(Packets { times: relative(times), discarded })
}

/// Presentation times of the frames the decoder gives, in seconds from the
/// first, from a decoding pass (ffprobe's `best_effort_timestamp`): unlike
/// the packets', these match the decoded frames one for one when the
/// decoder drops some (a stream cut mid-GOP). In the order the frames come
/// (not sorted: times that run back stay visible). None when one is
/// missing.
pub fn decoded_times(path: &Path, info: &VideoInfo) -> Result<Option<Vec<f64>>> {
    let lines = probe_lines(path, info, "frame=best_effort_timestamp_time")?;
    // Side data may follow the time on a frame's line.
    let times: Option<Vec<f64>> = lines.iter().map(|l| l.split(',').next().and_then(|t| t.trim().parse::<f64>().ok()).filter(|t| t.is_finite())).collect();
    Ok(relative(times))
}

/// How a source's frames are timed, for writing outputs at the same times.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceTiming {
    /// Each frame within half a frame of i / rate (or no timestamps to say
    /// otherwise): a constant rate shows every frame at its time.
    Constant,
    /// The frames' own times, seconds from the first, strictly rising.
    Variable(Vec<f64>),
    /// The rate varies but the decoded frames' times repeat, run back or
    /// are missing (streams joined end to end): no single clock to keep,
    /// so outputs take the average rate.
    Irregular,
}

/// A source's timing. The packets' times screen it at no decoding cost;
/// only a variable rate pays a decoding pass, so that each decoded frame
/// gets its own time even where the decoder drops frames.
pub fn source_timing(path: &Path, info: &VideoInfo) -> Result<SourceTiming> {
    let Some(times) = packets(path, info)?.times else { return Ok(SourceTiming::Constant) };
    if !variable_rate(&times, info.fps) {
        return Ok(SourceTiming::Constant);
    }
    Ok(match decoded_times(path, info)? {
        Some(t) if !variable_rate(&t, info.fps) => SourceTiming::Constant,
        Some(t) if t.windows(2).all(|w| w[1] > w[0]) => SourceTiming::Variable(t),
        _ => SourceTiming::Irregular,
    })
}

/// Whether frames at `times` would be misplaced by a constant rate `fps`:
/// some frame more than half a frame interval from i / fps. Then the
/// source is variable-frame-rate (phones vary the rate with the light) and
/// the outputs must keep its timestamps; otherwise a constant rate shows
/// every frame at its source time, to the frame.
pub fn variable_rate(times: &[f64], fps: (u32, u32)) -> bool {
    let step = fps.1 as f64 / fps.0.max(1) as f64;
    times.iter().enumerate().any(|(i, &t)| (t - i as f64 * step).abs() > 0.5 * step)
}

#[cfg(test)]
mod tests {
    use super::variable_rate;

    #[test]
    fn a_drifting_rate_is_variable_and_rounded_stamps_are_not() {
        // 29.97 frames/s stored in milliseconds: 0, 33, 67, 100, ... is
        // within half a frame of i / fps everywhere.
        let ntsc: Vec<f64> = (0..300).map(|i| (i as f64 * 1001.0 / 30.0).round() / 1000.0).collect();
        assert!(!variable_rate(&ntsc, (30000, 1001)));
        // 25 frames/s on average over 2 s, but the first second at 40
        // frames/s and the second at 10: frame 10 is shown at 0.25 s, not
        // 0.4 s (more than half of 40 ms off).
        let drift: Vec<f64> = (0..50).map(|i| if i < 40 { i as f64 * 0.025 } else { 1.0 + (i - 40) as f64 * 0.1 }).collect();
        assert!(variable_rate(&drift, (25, 1)));
        // One frame 21 ms late at 25 frames/s is more than half a frame off;
        // 19 ms is not.
        let mut late: Vec<f64> = (0..10).map(|i| i as f64 * 0.04).collect();
        late[5] += 0.019;
        assert!(!variable_rate(&late, (25, 1)));
        late[5] += 0.002;
        assert!(variable_rate(&late, (25, 1)));
    }
}
