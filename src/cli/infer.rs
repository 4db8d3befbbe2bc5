//! `hoimat infer`: a checkpoint over a clip tree, a video file or a folder
//! of frames (`hoimat::infer`, `hoimat::infer::media`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct InferArgs {
        #[arg(long)]
        pub ckpt: PathBuf,
        /// A video file (mp4/mov/mkv/webm/avi), a folder of png/jpg frames, or a clip tree.
        #[arg(long)]
        pub input: PathBuf,
        /// Clip trees: the output root.
        #[arg(long)]
        pub out: Option<PathBuf>,
        /// Video or frame-folder input: where the alpha matte goes.
        #[arg(long)]
        pub output_alpha: Option<PathBuf>,
        /// ... the foreground.
        #[arg(long)]
        pub output_foreground: Option<PathBuf>,
        /// ... the composition (over RVM's green in video, RGBA in PNG).
        #[arg(long)]
        pub output_composition: Option<PathBuf>,
        /// video (one file per output) or png (a folder of frames per output).
        #[arg(long, value_enum, default_value = "video")]
        pub output_type: hoimat::infer::media::OutputType,
        /// Bit rate of video outputs.
        #[arg(long, default_value_t = 8.0)]
        pub output_video_mbps: f64,
        /// Frames per forward pass (the recurrent state carries across passes).
        /// RVM's default, 1, is also the fastest on this CPU (512x288, paper
        /// width: 8.0 frames/s at 1 against 5.0 at 4).
        #[arg(long, default_value_t = 1)]
        pub seq_chunk: usize,
        /// Scale the input to WxH first (e.g. 1280x720).
        #[arg(long)]
        pub input_resize: Option<String>,
        /// Frame rate written for a folder of frames (a video keeps its own).
        #[arg(long, default_value = "30")]
        pub input_fps: String,
        /// RVM's downsample_ratio in (0, 1]: the network sees the frames
        /// scaled by it and the refiner restores full size (default: RVM's
        /// automatic min(1, 512 / longer side) when the refiner holds RVM's
        /// trained weights; 1 for a refiner at hoimat's start and for the zoo).
        #[arg(long)]
        pub downsample_ratio: Option<f64>,
        /// cpu or cuda (default: cuda when present).
        #[arg(long)]
        pub device: Option<String>,
        /// f32, or f16 on CUDA.
        #[arg(long, default_value = "f32")]
        pub dtype: String,
        /// Replace outputs that exist.
        #[arg(long)]
        pub overwrite: bool,
        /// Stay on the CPU even when CUDA is available.
        #[arg(long)]
        pub cpu: bool,
    }

pub fn run(args: InferArgs) -> Result<()> {
    let InferArgs { ckpt, input, out, output_alpha, output_foreground, output_composition, output_type, output_video_mbps, seq_chunk, input_resize, input_fps, downsample_ratio, device, dtype, overwrite, cpu } = args;
    let device = match device.as_deref() {
        None => hoimat::torch_env::device(cpu),
        Some("cpu") => tch::Device::Cpu,
        Some("cuda") if tch::Cuda::is_available() => tch::Device::Cuda(0),
        Some("cuda") => anyhow::bail!("--device cuda: CUDA is not available to this process"),
        Some(d) => anyhow::bail!("--device {d}: expected cpu or cuda"),
    };
    let half = match dtype.as_str() {
        "f32" => false,
        "f16" => true,
        d => anyhow::bail!("--dtype {d}: expected f32 or f16"),
    };
    let (mut net, _) = hoimat::model::checkpoint::load_model(&ckpt, device)?;
    let t = Instant::now();
    let media = hoimat::data::video::is_video(&input) || hoimat::infer::media::is_frame_folder(&input) || output_alpha.is_some() || output_foreground.is_some() || output_composition.is_some();
    if !media {
        let out = out.context("a clip tree needs --out (a video or a folder of frames needs --output-alpha/--output-foreground/--output-composition)")?;
        let n = hoimat::infer::infer_tree(net.as_ref(), &input, &out, device, downsample_ratio, hoimat::model::matter::refiner_trained(net.as_ref()))?;
        println!("{n} frames in {:.1} s -> {}", t.elapsed().as_secs_f64(), out.display());
        return Ok(());
    }
    if half {
        anyhow::ensure!(device != tch::Device::Cpu, "--dtype f16 needs CUDA");
        let (p, b) = (net.params().map(|_, t| t.to_kind(tch::Kind::Half)), net.buffers().map(|_, t| t.to_kind(tch::Kind::Half)));
        net.set_weights(p, b);
    }
    let fps = match input_fps.split_once('/') {
        Some((a, b)) => (a.parse()?, b.parse()?),
        None => (input_fps.parse().with_context(|| format!("--input-fps {input_fps}"))?, 1),
    };
    let o = hoimat::infer::media::MediaOptions {
        alpha: output_alpha,
        foreground: output_foreground,
        composition: output_composition,
        output_type,
        mbps: output_video_mbps,
        seq_chunk,
        resize: input_resize.as_deref().map(super::parse_size).transpose()?,
        ratio: downsample_ratio,
        half,
        overwrite,
        folder_fps: fps,
    };
    let r = hoimat::infer::media::infer_media(net.as_ref(), &input, &o, device)?;
    println!(
        "{} frames of {}x{} at {}/{} fps, downsample ratio {:.3}, in {:.1} s: decode {:.1} frames/s, model {:.1}, encode {:.1}",
        r.frames, r.width, r.height, r.fps.0, r.fps.1, r.downsample_ratio, t.elapsed().as_secs_f64(), r.decode_fps, r.model_fps, r.encode_fps
    );
    if let [.., last] = r.frame_times[..] {
        println!("variable frame rate ({:.1} frames/s on average over {last:.2} s): video outputs keep the source's frame times (AVI and MPEG-PS outputs take the average rate)", r.fps.0 as f64 / r.fps.1 as f64);
    }
    if r.irregular_times {
        eprintln!("warning: {}: the frame rate varies but the frames' timestamps repeat, run back or are missing (streams joined end to end?); the video outputs take the average rate", input.display());
    }
    Ok(())
        }
