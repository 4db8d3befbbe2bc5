//! Video in and out (`hoimat infer` on footage): a video made here from the
//! world's frames and encoded by the same library round-trips with its
//! frame count and rate; PNG outputs from the video equal those from the
//! same frames as a folder byte for byte; the alpha video is within codec
//! error of the PNG alpha; every bad input is a clear error naming the file,
//! and a failed run leaves nothing under the final name.

use std::path::{Path, PathBuf};

use hoimat::data::video::{probe, VideoReader, VideoWriter};
use hoimat::infer::media::{infer_media, MediaOptions, OutputType};
use hoimat::model::{MattingNet, ModelConfig};
use tch::Device;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-video-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An untrained RVM whose alpha is soft (0.5 +- a little, varying with the
/// input), so comparisons see real values rather than a matte clamped flat.
fn soft_net() -> MattingNet {
    let net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, 0);
    tch::no_grad(|| {
        let _ = net.params.get("project_mat.conv.weight").narrow(0, 3, 1).shallow_clone().g_mul_scalar_(0.05);
        let _ = net.params.get("project_mat.conv.bias").narrow(0, 3, 1).shallow_clone().fill_(0.5);
    });
    net
}

fn options(alpha: Option<PathBuf>, fgr: Option<PathBuf>, t: OutputType) -> MediaOptions {
    MediaOptions { alpha, foreground: fgr, composition: None, output_type: t, mbps: 20.0, seq_chunk: 3, resize: None, ratio: None, half: false, overwrite: false, folder_fps: (25, 1) }
}

/// A 64x36 clip of the world at 25 frames/s, written by hoimat's encoder.
fn world_video(dir: &Path) -> (PathBuf, usize) {
    let ds = hoimat::world::generate("synvbhoi", hoimat::profile::Profile::Smoke, 0).unwrap();
    let clip = &ds.clips[0];
    let (w, h) = (clip.meta.width as u32, clip.meta.height as u32);
    let path = dir.join("clip.mp4");
    let mut v = VideoWriter::create(&path, w, h, (25, 1), 20.0).unwrap();
    for f in &clip.frames {
        v.write(&f.com.to_u8()).unwrap();
    }
    v.finish().unwrap();
    (path, clip.frames.len())
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())).collect();
    v.sort();
    v
}

#[test]
fn a_video_round_trips_and_matches_the_png_path() {
    let dir = scratch("roundtrip");
    let (video, n) = world_video(&dir);
    let info = probe(&video).unwrap();
    assert_eq!((info.width, info.height, info.fps, info.frames), (64, 36, (25, 1), Some(n as u64)));
    // The same frames as a folder: what the decoder gives.
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut r = VideoReader::open(&video, None).unwrap();
    let mut i = 0;
    while let Some(f) = r.next_frame().unwrap() {
        image::save_buffer(frames.join(format!("{i:04}.png")), &f, 64, 36, image::ColorType::Rgb8).unwrap();
        i += 1;
    }
    assert_eq!(i, n);
    let net = soft_net();
    let from_video = dir.join("v_pha");
    let rep = infer_media(&net, &video, &options(Some(from_video.clone()), Some(dir.join("v_fgr")), OutputType::Png), Device::Cpu).unwrap();
    assert_eq!((rep.frames, rep.fps), (n as u64, (25, 1)));
    assert!(rep.frame_times.is_empty(), "a constant-rate clip is written at its rate");
    let from_folder = dir.join("f_pha");
    infer_media(&net, &frames, &options(Some(from_folder.clone()), Some(dir.join("f_fgr")), OutputType::Png), Device::Cpu).unwrap();
    let (a, b) = (files(&from_video), files(&from_folder));
    assert_eq!(a.len(), n);
    assert!(a == b, "PNG outputs from the video and from its frames differ");
    assert_eq!(files(&dir.join("v_fgr")), files(&dir.join("f_fgr")));
    // The state carries across calls: one frame per call gives the mattes of
    // three per call (up to one 8-bit level of float reordering).
    let one = dir.join("one_pha");
    infer_media(&net, &video, &MediaOptions { seq_chunk: 1, ..options(Some(one.clone()), None, OutputType::Png) }, Device::Cpu).unwrap();
    for ((_, x), (_, y)) in files(&one).iter().zip(&a) {
        let (x, y) = (image::load_from_memory(x).unwrap().to_luma8().into_raw(), image::load_from_memory(y).unwrap().to_luma8().into_raw());
        assert!(x.iter().zip(&y).all(|(p, q)| p.abs_diff(*q) <= 1));
    }
    // The alpha as video: same count and rate, within codec error of the PNGs.
    let alpha_mp4 = dir.join("alpha.mp4");
    infer_media(&net, &video, &options(Some(alpha_mp4.clone()), None, OutputType::Video), Device::Cpu).unwrap();
    let ai = probe(&alpha_mp4).unwrap();
    assert_eq!((ai.fps, ai.frames), ((25, 1), Some(n as u64)));
    let mut r = VideoReader::open(&alpha_mp4, None).unwrap();
    let (mut sum, mut count, mut spread) = (0.0f64, 0usize, 0.0f64);
    for (_, png) in &a {
        let want = image::load_from_memory(png).unwrap().to_luma8().into_raw();
        let got = r.next_frame().unwrap().expect("a frame per PNG");
        for (k, w) in want.iter().enumerate() {
            sum += (got[3 * k] as f64 - *w as f64).abs();
            spread += (*w as f64 - 127.5).abs();
            count += 1;
        }
    }
    assert!(r.next_frame().unwrap().is_none());
    let mad = sum / count as f64;
    assert!(mad < 2.0, "alpha video vs PNG: mean |difference| {mad:.2} of 255");
    // Soft: on average within 100 levels of mid-grey (flat 0 or 255 is 127.5).
    assert!(spread / (count as f64) < 100.0, "the alpha is clamped flat: {}", spread / count as f64);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_are_errors_naming_the_file_and_leave_no_output() {
    let dir = scratch("bad");
    let net = soft_net();
    let run = |input: &Path, out: &Path, overwrite: bool| {
        let o = MediaOptions { overwrite, ..options(Some(out.to_path_buf()), None, OutputType::Video) };
        infer_media(&net, input, &o, Device::Cpu).map(|_| ()).map_err(|e| format!("{e:#}"))
    };
    let out = dir.join("alpha.mp4");
    let check = |what: &str, input: &Path, want: &str| {
        let e = run(input, &out, false).unwrap_err();
        assert!(e.contains(&input.display().to_string()) && e.contains(want), "{what}: {e}");
        assert!(!out.exists(), "{what}: an output under the final name");
    };
    check("missing", &dir.join("nope.mp4"), "no such");
    std::fs::write(dir.join("empty.mp4"), b"").unwrap();
    check("empty", &dir.join("empty.mp4"), "empty file");
    std::fs::write(dir.join("text.mp4"), b"this is not a video at all").unwrap();
    check("corrupt", &dir.join("text.mp4"), "not a readable video");
    let (video, _) = world_video(&dir);
    // Cut mid-stream: the index (written first) still lists every frame, the
    // decoder ends early and cleanly, and the count gives it away.
    let bytes = std::fs::read(&video).unwrap();
    std::fs::write(dir.join("cut.mp4"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert!(probe(&dir.join("cut.mp4")).is_ok(), "the cut file still probes");
    let e = run(&dir.join("cut.mp4"), &out, false).unwrap_err();
    assert!(e.contains("cut.mp4") && (e.contains("truncated") || e.contains("decoding failed")), "truncated: {e}");
    assert!(!out.exists());
    std::fs::create_dir_all(dir.join("none")).unwrap();
    check("no frames", &dir.join("none"), "no frames");
    // Mixed frame sizes: the odd frame is named, and the half-written output is gone.
    let mixed = dir.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    for i in 0..4 {
        let (w, h) = if i == 3 { (32, 18) } else { (64, 36) };
        image::save_buffer(mixed.join(format!("{i:04}.png")), &vec![90u8; (w * h * 3) as usize], w, h, image::ColorType::Rgb8).unwrap();
    }
    let e = run(&mixed, &out, false).unwrap_err();
    assert!(e.contains(&mixed.join("0003.png").display().to_string()) && e.contains("mixed frame sizes"), "{e}");
    assert!(!out.exists());
    // An existing output is refused unless --overwrite.
    std::fs::write(&out, b"keep me").unwrap();
    let e = run(&video, &out, false).unwrap_err();
    assert!(e.contains(&out.display().to_string()) && e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    run(&video, &out, true).unwrap();
    assert!(probe(&out).is_ok());
    // No temporaries left beside the outputs.
    let stale: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".tmp-")).collect();
    assert!(stale.is_empty(), "{stale:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Phone video: frames stored sideways with a display rotation. The reader
/// applies the stream's display matrix, so the frames, their size and every
/// output are upright. ffprobe shows the matrix ffmpeg 5.1 writes for a
/// `rotate=90` tag as [0 -1; 1 0]: by the matrix's definition (libavutil's
/// display.h: x' = a x + c y, y' = b x + d y, plus a translation) a stored
/// pixel (x, y) is shown at (y, W - 1 - x).
#[test]
fn a_rotated_video_is_read_upright() {
    let dir = scratch("rotated");
    let (video, n) = world_video(&dir);
    let rotated = dir.join("rotated.mp4");
    let s = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&video)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
        .arg(&rotated)
        .status()
        .unwrap();
    assert!(s.success());
    let info = probe(&rotated).unwrap();
    assert_eq!((info.width, info.height), (64, 36), "stored sideways");
    assert_eq!(info.rotation % 180, 90, "{info:?}");
    assert_eq!(info.display_size(), (36, 64));
    let (mut plain, mut upright) = (VideoReader::open(&video, None).unwrap(), VideoReader::open(&rotated, None).unwrap());
    assert_eq!((upright.width, upright.height), (36, 64));
    let (mut right, mut opposite, mut frames) = (0.0f64, 0.0f64, 0);
    while let Some(a) = plain.next_frame().unwrap() {
        let b = upright.next_frame().unwrap().expect("as many frames");
        // Stored (x, y) of 64x36 is shown at (y, 63 - x) by that matrix;
        // the opposite quarter turn would show it at (35 - y, x).
        for y in 0..36usize {
            for x in 0..64usize {
                for c in 0..3 {
                    let v = a[(y * 64 + x) * 3 + c] as f64;
                    right += (b[((63 - x) * 36 + y) * 3 + c] as f64 - v).abs();
                    opposite += (b[(x * 36 + (35 - y)) * 3 + c] as f64 - v).abs();
                }
            }
        }
        frames += 1;
    }
    assert_eq!(frames, n);
    assert!(upright.next_frame().unwrap().is_none());
    let per = (frames * 64 * 36 * 3) as f64;
    // Measured bit-exact; a little slack for another ffmpeg's conversions.
    assert!(right / per < 1.0 && opposite / per > 5.0, "matrix's turn {:.2}, opposite turn {:.2} levels", right / per, opposite / per);
    // infer follows: an upright alpha of the displayed size.
    let net = soft_net();
    let out = dir.join("pha");
    let rep = infer_media(&net, &rotated, &options(Some(out.clone()), None, OutputType::Png), Device::Cpu).unwrap();
    assert_eq!((rep.width, rep.height, rep.frames), (36, 64, n as u64));
    let first = image::open(out.join(&files(&out)[0].0)).unwrap();
    assert_eq!((first.width(), first.height()), (36, 64));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Anamorphic pixels are made square (the picture as displayed), and a
/// cover picture stored as the file's first video stream is skipped.
#[test]
fn anamorphic_pixels_are_squared_and_cover_art_is_skipped() {
    let dir = scratch("sar");
    let (video, n) = world_video(&dir);
    let ffmpeg = |args: &[&str]| assert!(std::process::Command::new("ffmpeg").arg("-v").arg("error").args(args).status().unwrap().success(), "{args:?}");
    let wide = dir.join("wide.mkv");
    ffmpeg(&["-i", video.to_str().unwrap(), "-vf", "setsar=2/1", "-c:v", "libx264", "-qp", "0", wide.to_str().unwrap()]);
    let info = probe(&wide).unwrap();
    assert_eq!((info.width, info.height, info.sar), (64, 36, (2, 1)));
    assert_eq!(info.display_size(), (128, 36));
    let mut r = VideoReader::open(&wide, None).unwrap();
    assert_eq!((r.width, r.height), (128, 36));
    // Stretched, not padded: column 2x of the wide frame shows column x.
    let mut plain = VideoReader::open(&video, None).unwrap();
    let (mut k, mut stretched, mut unstretched) = (0, 0.0f64, 0.0f64);
    while let Some(f) = r.next_frame().unwrap() {
        assert_eq!(f.len(), 128 * 36 * 3);
        let o = plain.next_frame().unwrap().unwrap();
        for y in 0..36 {
            for x in 0..64 {
                for c in 0..3 {
                    let v = o[(y * 64 + x) * 3 + c] as f64;
                    stretched += (f[(y * 128 + 2 * x) * 3 + c] as f64 - v).abs();
                    unstretched += (f[(y * 128 + x) * 3 + c] as f64 - v).abs();
                }
            }
        }
        k += 1;
    }
    assert_eq!(k, n);
    let per = (n * 64 * 36 * 3) as f64;
    eprintln!("anamorphic: {:.2} levels off stretched, {:.2} unstretched", stretched / per, unstretched / per);
    assert!(stretched / per < 4.0 && unstretched / per > 2.0 * stretched / per, "{:.2} / {:.2}", stretched / per, unstretched / per);
    // A cover picture before the clip: Matroska keeps the streams in the
    // order given (MP4 and MOV put an attached picture last), and the
    // picture is larger than the clip, so "the first video stream" and
    // "the largest" would both pick it.
    let cover = dir.join("cover.png");
    image::save_buffer(&cover, &vec![200u8; 200 * 200 * 3], 200, 200, image::ColorType::Rgb8).unwrap();
    let with_cover = dir.join("with_cover.mkv");
    ffmpeg(&["-i", video.to_str().unwrap(), "-i", cover.to_str().unwrap(), "-map", "1", "-map", "0", "-c", "copy", with_cover.to_str().unwrap()]);
    let info = probe(&with_cover).unwrap();
    assert_eq!((info.width, info.height, info.stream), (64, 36, 1), "{info:?}");
    let (mut a, mut b) = (VideoReader::open(&video, None).unwrap(), VideoReader::open(&with_cover, None).unwrap());
    while let Some(x) = a.next_frame().unwrap() {
        assert_eq!(Some(x), b.next_frame().unwrap(), "the clip's frames, not the cover");
    }
    assert!(b.next_frame().unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Presentation times (s) of a file's decoded frames, as ffprobe reports
/// them, from the first.
fn shown_at(path: &Path) -> Vec<f64> {
    let out = std::process::Command::new("ffprobe").args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0"]).arg(path).output().unwrap();
    let t: Vec<f64> = String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).map(|l| l.trim().trim_end_matches(',').parse().unwrap()).collect();
    t.iter().map(|x| x - t[0]).collect()
}

/// A phone's footage changes its frame rate with the light: the outputs
/// show each frame when the source did, not at the average rate.
#[test]
fn variable_frame_rate_footage_keeps_its_frame_times() {
    let dir = scratch("vfr");
    // 20 frames made by ffmpeg (not hoimat): ten 40 ms apart, then gaps of
    // 120, 200, 280, ... ms (frame N at 40 N + 80 max(0, N - 9) ms).
    let src = dir.join("vfr.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-frames:v", "20", "-vf", "settb=1/1000,setpts='N*40+gte(N\\,10)*(N-9)*80'", "-vsync", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success());
    let want: Vec<f64> = (0..20).map(|n: i32| (40 * n + 80 * (n - 9).max(0)) as f64 / 1000.0).collect();
    let near = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1.5e-3);
    assert!(near(&shown_at(&src), &want), "the source: {:?}", shown_at(&src));
    let net = soft_net();
    let (mp4, webm) = (dir.join("alpha.mp4"), dir.join("comp.webm"));
    let o = MediaOptions { composition: Some(webm.clone()), ..options(Some(mp4.clone()), None, OutputType::Video) };
    let rep = infer_media(&net, &src, &o, Device::Cpu).unwrap();
    assert_eq!(rep.frames, 20);
    assert!(near(&rep.frame_times, &want), "{:?}", rep.frame_times);
    for out in [&mp4, &webm] {
        assert!(near(&shown_at(out), &want), "{}: frames shown at {:?}", out.display(), shown_at(out));
    }
    // The pictures are the PNG path's, within codec error.
    let pngs = dir.join("pha");
    infer_media(&net, &src, &options(Some(pngs.clone()), None, OutputType::Png), Device::Cpu).unwrap();
    let mut r = VideoReader::open(&mp4, None).unwrap();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (_, png) in files(&pngs) {
        let want = image::load_from_memory(&png).unwrap().to_luma8().into_raw();
        let got = r.next_frame().unwrap().expect("a frame per PNG");
        sum += want.iter().enumerate().map(|(k, w)| (got[3 * k] as f64 - *w as f64).abs()).sum::<f64>();
        count += want.len();
    }
    assert!(r.next_frame().unwrap().is_none());
    assert!(sum / (count as f64) < 2.0, "timed alpha video vs PNG: mean |difference| {:.2}", sum / count as f64);
    // An AVI output has one rate for all frames: it takes the average.
    let avi = dir.join("alpha.avi");
    infer_media(&net, &src, &options(Some(avi.clone()), None, OutputType::Video), Device::Cpu).unwrap();
    assert_eq!(VideoReader::open(&avi, None).unwrap().info.fps, (125, 9));
    let mut r = VideoReader::open(&avi, None).unwrap();
    let mut n = 0;
    while r.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 20);

    // Joined streams whose times repeat: no single clock, so the outputs
    // take the average rate (every frame kept), and the report says so.
    let list = dir.join("list.txt");
    std::fs::write(&list, "file 'vfr.ts'\nfile 'vfr.ts'\n").unwrap();
    let run = |args: &[&str]| assert!(std::process::Command::new("ffmpeg").current_dir(&dir).args(["-v", "error", "-y"]).args(args).status().unwrap().success());
    run(&["-i", "vfr.mp4", "-c", "copy", "-bsf:v", "h264_mp4toannexb", "vfr.ts"]);
    std::fs::write(dir.join("twice.mpg"), [std::fs::read(dir.join("vfr.ts")).unwrap(), std::fs::read(dir.join("vfr.ts")).unwrap()].concat()).unwrap();
    let out = dir.join("twice.mp4");
    let rep = infer_media(&net, &dir.join("twice.mpg"), &options(Some(out.clone()), None, OutputType::Video), Device::Cpu).unwrap();
    assert!(rep.irregular_times && rep.frame_times.is_empty(), "{rep:?}");
    assert_eq!((rep.frames, probe(&out).unwrap().frames), (40, Some(40)));
    // The second copy 20 ms later: sorted, the times would rise (0, 20,
    // 40, ... ms) and squeeze the clip into half its length; in decoding
    // order they run back, and the outputs take the average rate.
    run(&["-i", "vfr.mp4", "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-output_ts_offset", "0.02", "later.ts"]);
    std::fs::write(dir.join("offset.mpg"), [std::fs::read(dir.join("vfr.ts")).unwrap(), std::fs::read(dir.join("later.ts")).unwrap()].concat()).unwrap();
    let out = dir.join("offset.mp4");
    let rep = infer_media(&net, &dir.join("offset.mpg"), &options(Some(out.clone()), None, OutputType::Video), Device::Cpu).unwrap();
    assert!(rep.irregular_times, "{rep:?}");
    assert_eq!(rep.frames, 40);

    // A clip trimmed by stream copy (an edit list): the container states
    // frames the decoder never shows; they are not taken for truncation.
    run(&["-ss", "0.5", "-i", "vfr.mp4", "-c", "copy", "trimmed.mp4"]);
    let trimmed = dir.join("trimmed.mp4");
    let info = probe(&trimmed).unwrap();
    let discarded = hoimat::data::video::packets(&trimmed, &info).unwrap().discarded;
    let mut r = VideoReader::open(&trimmed, None).unwrap();
    let mut n = 0u64;
    while r.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert!(discarded > 0, "the trim is an edit list");
    assert_eq!(n + discarded as u64, info.frames.unwrap());
    assert_eq!(hoimat::data::video::decoded_times(&trimmed, &info).unwrap().unwrap().len() as u64, n);
    let _ = std::fs::remove_dir_all(&dir);
}
