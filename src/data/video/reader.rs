//! Decoding: frames of a video as RGB24, as displayed, through `ffmpeg`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};

use anyhow::{bail, Context, Result};

use super::{collected, drain, missing_tool, probe, tool, VideoInfo};

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
        // the container states, less the packets an edit list discards (a
        // clip trimmed by stream copy states them but shows none).
        if let Some(stated) = self.info.frames.filter(|w| self.read < *w) {
            let want = stated.saturating_sub(super::packets(&self.path, &self.info)?.discarded as u64);
            if self.read < want {
                bail!("{}: decoded {} of the {want} frames the file states (a truncated video?)", self.path.display(), self.read);
            }
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
