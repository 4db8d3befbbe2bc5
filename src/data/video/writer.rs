//! Encoding: RGB24 frames to H.264 or VP9 through `ffmpeg`, at a constant
//! rate or at the source's own frame times (`data::mkv`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};

use anyhow::{bail, Context, Result};

use super::{collected, drain, missing_tool, tool};

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
    /// Each frame's time in milliseconds, when the frames carry their own
    /// (variable-rate footage); None for a constant rate.
    times: Option<Vec<u64>>,
    /// The mean interval of `times` in milliseconds (1 / rate without
    /// two): the track's default duration and the step past the list.
    step_ms: f64,
    written: usize,
}

/// Whether a container holds per-frame times: AVI states one rate for all
/// frames, and MPEG program streams lose them at small sizes (measured:
/// most timestamps unset at 64x36), so a variable-rate source goes to
/// either at its average rate.
pub fn holds_times(path: &Path) -> bool {
    !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("avi") || e.eq_ignore_ascii_case("mpg"))
}

impl VideoWriter {
    /// Frames at a constant rate `fps`.
    pub fn create(path: &Path, width: u32, height: u32, fps: (u32, u32), mbps: f64) -> Result<VideoWriter> {
        Self::open(path, width, height, fps, None, mbps)
    }

    /// Frames shown at `times` (seconds from the first, ascending): a
    /// variable-frame-rate source's timestamps, kept to the millisecond
    /// (Matroska's scale) in the output. Frames past the list (there
    /// should be none) follow at its mean interval, or 1 / `fps`.
    pub fn create_timed(path: &Path, width: u32, height: u32, fps: (u32, u32), times: &[f64], mbps: f64) -> Result<VideoWriter> {
        anyhow::ensure!(times.windows(2).all(|w| w[1] > w[0]) && times.iter().all(|t| t.is_finite() && *t >= 0.0), "{}: frame times must rise from 0", path.display());
        let ms: Vec<u64> = times.iter().map(|t| (t * 1000.0).round() as u64).collect();
        anyhow::ensure!(ms.windows(2).all(|w| w[1] > w[0]), "{}: two frames less than a millisecond apart cannot keep their times", path.display());
        anyhow::ensure!(holds_times(path), "{}: AVI and MPEG-PS hold no dependable per-frame times (write MP4, MOV, MKV or WebM)", path.display());
        Self::open(path, width, height, fps, Some(ms), mbps)
    }

    fn open(path: &Path, width: u32, height: u32, fps: (u32, u32), times: Option<Vec<u64>>, mbps: f64) -> Result<VideoWriter> {
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
        let mut cmd = tool("ffmpeg");
        cmd.args(["-v", "error", "-y"]);
        if times.is_some() {
            // Timestamped frames (data::mkv), encoded at those times: the
            // encoder counts in the input's milliseconds, and no frame is
            // duplicated or dropped to make a constant rate.
            cmd.args(["-f", "matroska", "-i", "-", "-enc_time_base", "-1", "-vsync", "passthrough"]);
        } else {
            cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{width}x{height}"), "-r", &format!("{}/{}", fps.0, fps.1), "-i", "-"]);
        }
        let child = cmd
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
        let step_ms = match times.as_deref() {
            Some([first, .., last]) => (last - first) as f64 / (times.as_ref().map_or(1, Vec::len) - 1) as f64,
            _ => 1000.0 * fps.1 as f64 / fps.0 as f64,
        };
        let mut w = VideoWriter { target: path.to_path_buf(), tmp, child: Some(child), stdin, stderr, frame_bytes: width as usize * height as usize * 3, times, step_ms, written: 0 };
        if w.times.is_some() {
            let r = crate::data::mkv::write_header(w.stdin.as_mut().expect("piped"), width, height, (step_ms * 1e6).round() as u64);
            w.check(r)?;
        }
        Ok(w)
    }

    /// The time of the next frame in milliseconds (timed writers).
    fn next_ms(&self, times: &[u64]) -> u64 {
        let i = self.written;
        match (times.get(i), times.last()) {
            (Some(&t), _) => t,
            (None, last) => (last.map_or(-self.step_ms, |&l| l as f64) + (i + 1 - times.len()) as f64 * self.step_ms).round() as u64,
        }
    }

    pub fn write(&mut self, rgb: &[u8]) -> Result<()> {
        anyhow::ensure!(rgb.len() == self.frame_bytes, "{}: a frame of {} bytes, expected {}", self.target.display(), rgb.len(), self.frame_bytes);
        let r = match self.times.as_deref() {
            Some(times) => {
                let ms = self.next_ms(times);
                crate::data::mkv::write_frame(self.stdin.as_mut().expect("open until finish"), rgb, ms)
            }
            None => self.stdin.as_mut().expect("open until finish").write_all(rgb),
        };
        self.written += 1;
        self.check(r)
    }

    /// A failed write means the encoder stopped: say why, from its stderr.
    fn check(&mut self, r: std::io::Result<()>) -> Result<()> {
        if let Err(e) = r {
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
