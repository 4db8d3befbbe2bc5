//! Video files in and out through the `ffmpeg` and `ffprobe` programs
//! (Debian's `ffmpeg` package, which `./run` installs): frames travel as raw
//! RGB24 over pipes. Chosen by measurement (README, "Matting your own
//! video"): at 1920x1080 decoding to RGB through the pipe runs at 67-83
//! frames/s and x264 encoding at about 32 frames/s on 2 cores, 5-10x the
//! model's 6.6 frames/s there, so linking libav* through a crate (bindgen,
//! clang, a build several minutes longer) would buy nothing measurable:
//! the decoder and the colour conversion are the same libraries either way,
//! and the pipe costs one copy of each frame.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

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

fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    c.stdin(Stdio::null());
    c
}

fn missing_tool(name: &str, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot run `{name}` ({e}): video needs Debian's ffmpeg package, which ./run installs (apt-get install ffmpeg)")
}

/// Drain a child's stderr on a thread, so a chatty ffmpeg can never block
/// on a full pipe while we read its stdout or write its stdin.
fn drain(child: &mut Child) -> Option<std::thread::JoinHandle<String>> {
    let mut e = child.stderr.take()?;
    Some(std::thread::spawn(move || {
        let mut s = String::new();
        let _ = e.read_to_string(&mut s);
        s
    }))
}

fn collected(h: Option<std::thread::JoinHandle<String>>) -> String {
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

/// Decoded frames of a video, RGB24, in order, optionally resized.
pub struct VideoReader {
    path: PathBuf,
    child: Child,
    stdout: ChildStdout,
    stderr: Option<std::thread::JoinHandle<String>>,
    pub width: u32,
    pub height: u32,
    pub info: VideoInfo,
    read: u64,
}

impl VideoReader {
    pub fn open(path: &Path, resize: Option<(u32, u32)>) -> Result<VideoReader> {
        if let Some((w, h)) = resize {
            anyhow::ensure!(w > 0 && h > 0, "--input-resize {w}x{h}: both sides must be positive");
        }
        let info = probe(path)?;
        // Frames as displayed: ffmpeg applies the display rotation (a phone
        // held upright records sideways frames and a quarter turn), so the
        // matte is computed on an upright person and the outputs play
        // upright without any rotation flag; a resize applies after it.
        let (width, height) = resize.unwrap_or(info.display_size());
        let mut cmd = tool("ffmpeg");
        cmd.args(["-v", "error", "-nostdin", "-i"]).arg(path).args(["-map", &format!("0:{}", info.stream)]);
        // Scaled to the display size (square pixels) or the asked size, and
        // the size always named, so the bytes per frame are the ones
        // counted here whatever ffmpeg decides about rotation.
        let flags = if resize.is_some() || info.sar.0 != info.sar.1 { ":flags=bilinear" } else { "" };
        cmd.args(["-vf", &format!("scale={width}:{height}{flags},setsar=1")]);
        // Every decoded frame once, at its own timestamp (no duplication or drops).
        cmd.args(["-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| missing_tool("ffmpeg", e))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = drain(&mut child);
        Ok(VideoReader { path: path.to_path_buf(), child, stdout, stderr, width, height, info, read: 0 })
    }

    /// The next frame's RGB24 bytes, None at the end. A decoder that fails
    /// (a truncated or corrupt file) is an error naming the file.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>> {
        let n = self.width as usize * self.height as usize * 3;
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let k = self.stdout.read(&mut buf[got..]).with_context(|| format!("{}: reading decoded frames", self.path.display()))?;
            if k == 0 {
                break;
            }
            got += k;
        }
        if got == n && n > 0 {
            self.read += 1;
            return Ok(Some(buf));
        }
        let status = self.child.wait()?;
        let err = collected(self.stderr.take());
        if got != 0 || !status.success() {
            bail!("{}: decoding failed after {} frames (a truncated or corrupt video?): {}", self.path.display(), self.read, err);
        }
        if self.read == 0 {
            bail!("{}: the video has no frames", self.path.display());
        }
        // ffmpeg ends cleanly at a cut in the stream: hold it to the count
        // the container states.
        if let Some(want) = self.info.frames.filter(|w| self.read < *w) {
            bail!("{}: decoded {} of the {want} frames the file states (a truncated video?)", self.path.display(), self.read);
        }
        Ok(None)
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Encodes RGB24 frames (H.264 in MP4/MOV/MKV/AVI, VP9 in WebM) to a unique
/// temporary beside `path`, renamed into place by [`finish`](Self::finish):
/// a killed run never leaves a half-written file under the final name.
pub struct VideoWriter {
    target: PathBuf,
    tmp: PathBuf,
    /// The encoder, until `finish` waits for it.
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stderr: Option<std::thread::JoinHandle<String>>,
    frame_bytes: usize,
}

impl VideoWriter {
    pub fn create(path: &Path, width: u32, height: u32, fps: (u32, u32), mbps: f64) -> Result<VideoWriter> {
        if width % 2 == 1 || height % 2 == 1 {
            bail!("{}: {width}x{height} has an odd side, which 4:2:0 video cannot hold (use --input-resize or PNG output)", path.display());
        }
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).with_context(|| format!("{}: cannot create", d.display()))?;
        }
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        // The temporary keeps its sweepable name; the container is named to ffmpeg.
        let tmp = crate::atomic::temporary(path);
        let format = match ext.as_str() {
            "mov" => "mov",
            "mkv" => "matroska",
            "webm" => "webm",
            "avi" => "avi",
            "mpg" => "mpeg",
            _ => "mp4",
        };
        anyhow::ensure!(mbps.is_finite() && mbps > 0.0, "{}: video bit rate {mbps} Mb/s is not positive", path.display());
        anyhow::ensure!(fps.0 > 0 && fps.1 > 0, "{}: frame rate {}/{} is not positive", path.display(), fps.0, fps.1);
        // MP4/MOV with the index first, so a cut file still lists its frames.
        let codec: &[&str] = match ext.as_str() {
            "webm" => &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
            "mp4" | "mov" | "m4v" | "" => &["-c:v", "libx264", "-preset", "veryfast", "-movflags", "+faststart"],
            _ => &["-c:v", "libx264", "-preset", "veryfast"],
        };
        let child = tool("ffmpeg")
            .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{width}x{height}"), "-r", &format!("{}/{}", fps.0, fps.1), "-i", "-"])
            .args(codec)
            .args(["-pix_fmt", "yuv420p", "-b:v", &format!("{}k", (mbps * 1000.0).round() as u64), "-f", format])
            .arg(&tmp)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| missing_tool("ffmpeg", e))?;
        let mut child = child;
        let stdin = child.stdin.take();
        let stderr = drain(&mut child);
        Ok(VideoWriter { target: path.to_path_buf(), tmp, child: Some(child), stdin, stderr, frame_bytes: width as usize * height as usize * 3 })
    }

    pub fn write(&mut self, rgb: &[u8]) -> Result<()> {
        anyhow::ensure!(rgb.len() == self.frame_bytes, "{}: a frame of {} bytes, expected {}", self.target.display(), rgb.len(), self.frame_bytes);
        if let Err(e) = self.stdin.as_mut().expect("open until finish").write_all(rgb) {
            drop(self.stdin.take());
            if let Some(mut c) = self.child.take() {
                let _ = c.wait();
            }
            bail!("{}: the encoder stopped ({e}): {}", self.target.display(), collected(self.stderr.take()));
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.take().expect("finished once").wait()?;
        if !status.success() {
            bail!("{}: encoding failed: {}", self.target.display(), collected(self.stderr.take()));
        }
        std::fs::File::open(&self.tmp).and_then(|f| f.sync_all()).with_context(|| format!("{}: cannot sync", self.tmp.display()))?;
        std::fs::rename(&self.tmp, &self.target).with_context(|| format!("{}: cannot write", self.target.display()))
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // Unfinished (an error or a panic): stop the encoder; whatever it
        // wrote is removed, so no file ever stands under the final name.
        drop(self.stdin.take());
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.tmp);
    }
}
