//! A minimal Matroska writer for raw frames with their own timestamps: the
//! way frames of variable-frame-rate footage reach the encoder
//! ([`super::video::VideoWriter`]) at the times the source showed them. A
//! raw pipe (`-f rawvideo -r N`) can only say "one frame every 1/N s",
//! which moves a phone recording's frames (its rate drifts with the light)
//! away from the source's, so a matte no longer lines up with the footage
//! in an editor.
//!
//! Only what ffmpeg's demuxer needs: the EBML header, a Segment of unknown
//! size (a pipe cannot seek back), Info, one uncompressed video track, and
//! each frame as a one-block Cluster with its absolute timestamp in
//! milliseconds (Matroska's customary scale). Frames are RGB24 under the
//! raw-video tag ffmpeg gives that layout (`RGB` and 24 bits per pixel),
//! read back bit for bit. The track states a default duration (the mean
//! interval): without it ffmpeg guesses a 1000 frames/s stream and gives
//! the encoder's rate control a fraction of the asked bit rate (measured:
//! 288 of 500 kb/s, 8 dB PSNR lost) and an inflated H.264 level.

use std::io::{self, Write};

/// Element IDs (Matroska spec), marker bits included.
const EBML: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];
const SEGMENT: &[u8] = &[0x18, 0x53, 0x80, 0x67];
const INFO: &[u8] = &[0x15, 0x49, 0xA9, 0x66];
const TIMESTAMP_SCALE: &[u8] = &[0x2A, 0xD7, 0xB1];
const MUXING_APP: &[u8] = &[0x4D, 0x80];
const WRITING_APP: &[u8] = &[0x57, 0x41];
const TRACKS: &[u8] = &[0x16, 0x54, 0xAE, 0x6B];
const TRACK_ENTRY: &[u8] = &[0xAE];
const TRACK_NUMBER: &[u8] = &[0xD7];
const TRACK_UID: &[u8] = &[0x73, 0xC5];
const TRACK_TYPE: &[u8] = &[0x83];
const FLAG_LACING: &[u8] = &[0x9C];
const CODEC_ID: &[u8] = &[0x86];
const VIDEO: &[u8] = &[0xE0];
const PIXEL_WIDTH: &[u8] = &[0xB0];
const PIXEL_HEIGHT: &[u8] = &[0xBA];
const COLOUR_SPACE: &[u8] = &[0x2E, 0xB5, 0x24];
const DEFAULT_DURATION: &[u8] = &[0x23, 0xE3, 0x83];
const CLUSTER: &[u8] = &[0x1F, 0x43, 0xB6, 0x75];
const CLUSTER_TIMESTAMP: &[u8] = &[0xE7];
const SIMPLE_BLOCK: &[u8] = &[0xA3];

/// An element: its ID, its size as an 8-byte vint (always valid, and no
/// size has to be known before the payload is), its payload.
fn element(id: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(id.len() + 8 + payload.len());
    v.extend_from_slice(id);
    v.push(0x01);
    v.extend_from_slice(&(payload.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(payload);
    v
}

fn uint(id: &[u8], x: u64) -> Vec<u8> {
    element(id, &x.to_be_bytes())
}

/// Writes the stream header for `width` x `height` frames lasting
/// `frame_ns` nanoseconds each by default.
pub fn write_header(out: &mut impl Write, width: u32, height: u32, frame_ns: u64) -> io::Result<()> {
    let header = [uint(&[0x42, 0x86], 1), uint(&[0x42, 0xF7], 1), uint(&[0x42, 0xF2], 4), uint(&[0x42, 0xF3], 8), element(&[0x42, 0x82], b"matroska"), uint(&[0x42, 0x87], 4), uint(&[0x42, 0x85], 2)].concat();
    out.write_all(&element(EBML, &header))?;
    // Unknown size: ID then the all-ones 8-byte vint.
    out.write_all(SEGMENT)?;
    out.write_all(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])?;
    out.write_all(&element(INFO, &[uint(TIMESTAMP_SCALE, 1_000_000), element(MUXING_APP, b"hoimat"), element(WRITING_APP, b"hoimat")].concat()))?;
    let video = element(VIDEO, &[uint(PIXEL_WIDTH, width as u64), uint(PIXEL_HEIGHT, height as u64), element(COLOUR_SPACE, b"RGB\x18")].concat());
    let entry = [uint(TRACK_NUMBER, 1), uint(TRACK_UID, 1), uint(TRACK_TYPE, 1), uint(FLAG_LACING, 0), uint(DEFAULT_DURATION, frame_ns.max(1)), element(CODEC_ID, b"V_UNCOMPRESSED"), video].concat();
    out.write_all(&element(TRACKS, &element(TRACK_ENTRY, &entry)))
}

/// Writes one RGB24 frame shown at `ms` milliseconds.
pub fn write_frame(out: &mut impl Write, rgb: &[u8], ms: u64) -> io::Result<()> {
    let stamp = uint(CLUSTER_TIMESTAMP, ms);
    // Block header: track 1 as a 1-byte vint, timestamp relative to the
    // cluster (0), flags: keyframe. The frame's bytes go out as they are.
    let block_len = 4 + rgb.len();
    let mut head = Vec::with_capacity(32);
    head.extend_from_slice(CLUSTER);
    head.push(0x01);
    head.extend_from_slice(&((stamp.len() + SIMPLE_BLOCK.len() + 8 + block_len) as u64).to_be_bytes()[1..]);
    head.extend_from_slice(&stamp);
    head.extend_from_slice(SIMPLE_BLOCK);
    head.push(0x01);
    head.extend_from_slice(&(block_len as u64).to_be_bytes()[1..]);
    head.extend_from_slice(&[0x81, 0, 0, 0x80]);
    out.write_all(&head)?;
    out.write_all(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// ffmpeg's own demuxer reads the stream: the timestamps come back as
    /// written and the pixels bit for bit.
    #[test]
    fn ffmpeg_reads_the_frames_back_at_their_times() {
        let (w, h) = (6u32, 4u32);
        let times = [0u64, 40, 80, 200, 233, 1000];
        let frames: Vec<Vec<u8>> = (0..times.len()).map(|k| (0..w * h * 3).map(|i| ((i * 7 + k as u32 * 31) % 256) as u8).collect()).collect();
        let mut s = vec![];
        write_header(&mut s, w, h, 40_000_000).unwrap();
        for (f, t) in frames.iter().zip(times) {
            write_frame(&mut s, f, t).unwrap();
        }
        let path = std::env::temp_dir().join(format!("hoimat-mkv-{}.mkv", std::process::id()));
        std::fs::write(&path, &s).unwrap();
        // The default duration (40 ms) is the rate ffmpeg tells an encoder
        // (without it: 1000 frames/s, and a starved bit rate).
        let rate = Command::new("ffprobe").args(["-v", "error", "-show_entries", "stream=r_frame_rate", "-of", "csv=p=0"]).arg(&path).output().expect("ffprobe (./run installs ffmpeg)");
        assert_eq!(String::from_utf8_lossy(&rate.stdout).trim(), "25/1");
        let probe = Command::new("ffprobe").args(["-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0"]).arg(&path).output().unwrap();
        let got: Vec<f64> = String::from_utf8_lossy(&probe.stdout).lines().map(|l| l.trim().parse().unwrap()).collect();
        assert_eq!(got, times.iter().map(|&t| t as f64 / 1000.0).collect::<Vec<_>>());
        let mut dec = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).stdout(Stdio::piped()).spawn().unwrap();
        let mut raw = vec![];
        std::io::Read::read_to_end(dec.stdout.as_mut().unwrap(), &mut raw).unwrap();
        assert!(dec.wait().unwrap().success());
        let _ = std::fs::remove_file(&path);
        assert_eq!(raw, frames.concat());
    }
}
