//! The `hoimat` command line: a thin layer over the library.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use hoimat::data::export::{self, Format};
use hoimat::profile::Profile;
use hoimat::world::{self, families, SetName};

#[derive(Parser)]
#[command(name = "hoimat", version, about = "Real-time video matting under human-object interaction: MAML-RAL and peers")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Synthetic datasets: generate, preview, list object families.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Benchmarks that print numbers (never asserted in tests).
    Bench {
        #[command(subcommand)]
        cmd: BenchCmd,
    },
    /// The paper end to end at a profile: datasets, training, tables, REPORT.md.
    Reproduce {
        #[arg(long, default_value = "quick")]
        profile: Profile,
        /// Seed of the synthetic world (training seeds are in each experiment's definition).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Only these experiments (comma-separated ids, e.g. table2,table4).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// A folder of experiment definitions (<id>.toml) that override or add to the shipped ones.
        #[arg(long)]
        definitions: Option<PathBuf>,
        /// Stay on the CPU even when CUDA is available.
        #[arg(long)]
        cpu: bool,
        /// Where datasets go (a folder per profile is made inside).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Where figures and reports go.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Regenerate datasets and re-run experiment runs even when stored (trained models are kept).
        #[arg(long)]
        force: bool,
        /// Start from RVM's own checkpoint (torch.save .pth or .safetensors with
        /// RVM's keys) as the factory model instead of training one.
        #[arg(long)]
        factory_import: Option<PathBuf>,
    },
    /// Score predicted alpha mattes against ground truth (RVM's metrics plus mIoU).
    Eval {
        /// Predictions: <dir>/<dataset>/<clip>/pha/<frame>.png (and fgr/).
        #[arg(long)]
        pred_dir: PathBuf,
        /// Ground truth, same layout.
        #[arg(long)]
        true_dir: PathBuf,
        /// Print one JSON object (pha_mad, pha_mse, pha_grad, pha_conn, pha_dtssd, miou[, fgr_mad, fgr_mse]).
        #[arg(long)]
        json: bool,
        /// Also write per-clip means to this Parquet file.
        #[arg(long)]
        per_clip: Option<PathBuf>,
        /// mIoU foreground threshold (alpha >= T).
        #[arg(long, default_value_t = hoimat::metrics::DEFAULT_MIOU_THRESHOLD)]
        miou_threshold: f32,
    },
    /// Train models.
    Train {
        #[command(subcommand)]
        cmd: TrainCmd,
    },
    /// Matte with a checkpoint: a video file or a folder of frames (outputs
    /// chosen by --output-*), or a clip tree (<dir>/.../<clip>/com/*.png)
    /// written as pha/ and fgr/ under --out.
    Infer {
        #[arg(long)]
        ckpt: PathBuf,
        /// A video file (mp4/mov/mkv/webm/avi), a folder of png/jpg frames, or a clip tree.
        #[arg(long)]
        input: PathBuf,
        /// Clip trees: the output root.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Video or frame-folder input: where the alpha matte goes.
        #[arg(long)]
        output_alpha: Option<PathBuf>,
        /// ... the foreground.
        #[arg(long)]
        output_foreground: Option<PathBuf>,
        /// ... the composition (over RVM's green in video, RGBA in PNG).
        #[arg(long)]
        output_composition: Option<PathBuf>,
        /// video (one file per output) or png (a folder of frames per output).
        #[arg(long, value_enum, default_value = "video")]
        output_type: hoimat::infer::media::OutputType,
        /// Bit rate of video outputs.
        #[arg(long, default_value_t = 8.0)]
        output_video_mbps: f64,
        /// Frames per forward pass (the recurrent state carries across passes).
        #[arg(long, default_value_t = 4)]
        seq_chunk: usize,
        /// Scale the input to WxH first (e.g. 1280x720).
        #[arg(long)]
        input_resize: Option<String>,
        /// Frame rate written for a folder of frames (a video keeps its own).
        #[arg(long, default_value = "30")]
        input_fps: String,
        /// RVM's downsample_ratio in (0, 1]: the network sees the frames
        /// scaled by it and the refiner restores full size (default: RVM's
        /// automatic min(1, 512 / longer side) when the refiner holds RVM's
        /// trained weights; 1 for a refiner at hoimat's start and for the zoo).
        #[arg(long)]
        downsample_ratio: Option<f64>,
        /// cpu or cuda (default: cuda when present).
        #[arg(long)]
        device: Option<String>,
        /// f32, or f16 on CUDA.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// Replace outputs that exist.
        #[arg(long)]
        overwrite: bool,
        /// Stay on the CPU even when CUDA is available.
        #[arg(long)]
        cpu: bool,
    },
    /// RVM's own checkpoints in: a torch.save(state_dict) .pth (e.g. RVM's
    /// released rvm_mobilenetv3.pth) or a safetensors file with RVM's keys.
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// hoimat checkpoints out in RVM's format.
    Export {
        #[command(subcommand)]
        cmd: ExportCmd,
    },
    /// Local adaptation of a model to one clip (paper Sec. IV-E): annotate a
    /// few frames, train with SGT or normally, score the held-out frames.
    Adapt {
        /// The model to adapt (e.g. a MAML-RAL checkpoint).
        #[arg(long)]
        ckpt: PathBuf,
        /// The factory model theta_f for CC and FC (default: the one the
        /// checkpoint was meta-trained from, per its sidecar).
        #[arg(long)]
        factory: Option<PathBuf>,
        /// A clip folder with com/ and pha/ (pha is the truth the simulated
        /// annotator degrades and the held-out frames are scored against).
        #[arg(long)]
        clip: PathBuf,
        /// Profile for the defaults and the background pool.
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long)]
        frames: Option<usize>,
        #[arg(long)]
        strategy: Option<hoimat::adapt::Strategy>,
        #[arg(long)]
        sampling: Option<hoimat::adapt::SamplingKind>,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        groups: Option<usize>,
        /// Frames per sequence (k).
        #[arg(long)]
        seq_len: Option<usize>,
        #[arg(long)]
        lr: Option<f64>,
        /// Label noise of the simulated annotator (0 = perfect).
        #[arg(long, default_value_t = 0.3)]
        noise: f32,
        #[arg(long)]
        no_cc: bool,
        #[arg(long)]
        no_fc: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// RVM's downsample_ratio for scoring the held-out frames (as `infer`'s).
        #[arg(long)]
        downsample_ratio: Option<f64>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        cpu: bool,
    },
    /// Instruments (numbers to look at before tuning anything).
    Diagnose {
        #[command(subcommand)]
        cmd: DiagnoseCmd,
    },
    /// libtorch version, threads and devices of this process.
    Info,
}

#[derive(Subcommand)]
enum DiagnoseCmd {
    /// MAML-RAL's inner step at theta_f for several step sizes alpha: does it
    /// lower the task's loss, and how far the second-order meta-gradient
    /// turns from the first-order direction (means over real meta tasks).
    Alpha {
        #[arg(long)]
        factory: PathBuf,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.05,0.02,0.01,0.005,0.002,0.001")]
        alphas: Vec<f64>,
        #[arg(long, default_value_t = 8)]
        tasks: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Leave FC (g2 = 0) or CC (g3 = 0) out of the inner loss, to see which term bends it.
        #[arg(long)]
        no_fc: bool,
        #[arg(long)]
        no_cc: bool,
        /// Temperature of FC's relaxed hash, in units of the map's std (default 0.5).
        #[arg(long)]
        fc_tau: Option<f64>,
        #[arg(long)]
        cpu: bool,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Check every key and shape against RVM's MattingNetwork('mobilenetv3')
    /// and write a hoimat checkpoint (sidecar records the source).
    Rvm {
        ckpt: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Write RVM's state dict (.pth for torch.load + load_state_dict, or .safetensors).
    Rvm {
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TrainCmd {
    /// The factory model: human-only video (synvm), the matting loss, Adam.
    Factory {
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Continue from the checkpoint at --out (same configuration).
        #[arg(long)]
        resume: bool,
        /// Override the profile's number of steps.
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        cpu: bool,
    },
    /// RVM-F: the factory model fine-tuned on every synmeta clip (the paper's baseline).
    Finetune {
        #[arg(long)]
        factory: PathBuf,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        cpu: bool,
    },
    /// A seed paper's system from the zoo (modnet, attention_memory, adam,
    /// vmfm, dfimat) with its own loss, on synvm train + synmeta.
    Zoo {
        /// The architecture.
        #[arg(long)]
        model: hoimat::model::Arch,
        /// Start the backbone from this checkpoint's (a factory model);
        /// without it the backbone starts from random weights.
        #[arg(long)]
        factory: Option<PathBuf>,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        cpu: bool,
    },
    /// MAML-RAL (paper Alg. 1) from a factory checkpoint.
    MamlRal {
        #[arg(long)]
        factory: PathBuf,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Without the continual-learning constraint (g3 = 0).
        #[arg(long)]
        no_cc: bool,
        /// Without the feature-aware constraint (g2 = 0).
        #[arg(long)]
        no_fc: bool,
        /// Weights g1,g2,g3 of Eq. 10 (default 0.7,0.1,0.2).
        #[arg(long)]
        gamma: Option<String>,
        /// First-order MAML instead of the exact second-order meta-gradient.
        #[arg(long)]
        first_order: bool,
        /// Use the whole Eq. 10 (with CC and FC) as the outer loss too (a
        /// deviation from Alg. 1, where the constraints are in the inner loss only).
        #[arg(long)]
        constrained_outer: bool,
        /// Composite meta tasks over backgrounds with interfering objects of
        /// the meta families half the time (negatives; a deviation, off by default).
        #[arg(long)]
        negatives: bool,
        /// Probability that a task's test sequence is human-only synvm video
        /// (rehearsal in the meta-objective; a deviation, 0 by default).
        #[arg(long, default_value_t = 0.0)]
        human_tasks: f32,
        /// BatchNorm on the factory's running statistics during
        /// meta-training (the other BatchNorm policy; off by default).
        #[arg(long)]
        frozen_bn: bool,
        /// Let the passes' batch statistics update the running statistics
        /// (the BatchNorm policy before the engine fix; off by default).
        #[arg(long)]
        track_bn: bool,
        /// How CC's distance is taken: squared (default), norm, or smoothed:R.
        #[arg(long)]
        cc_distance: Option<hoimat::meta::constraints::Distance>,
        /// How FC's distance is taken: squared (default), norm, or smoothed:R.
        #[arg(long)]
        fc_distance: Option<hoimat::meta::constraints::Distance>,
        /// The outer update: adam (default) or sgd (Alg. 1 line 10).
        #[arg(long)]
        outer: Option<hoimat::meta::maml_ral::OuterOptimizer>,
        /// Inner step size alpha (default: the profile's).
        #[arg(long)]
        alpha: Option<f64>,
        /// Meta step size beta (default: the profile's).
        #[arg(long)]
        beta: Option<f64>,
        #[arg(long)]
        iterations: Option<u64>,
        /// Tasks per meta-iteration (default: the profile's).
        #[arg(long)]
        tasks: Option<usize>,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        cpu: bool,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Render a stand-in set to disk.
    Generate {
        /// synvm, synmeta, synibhoi, synvbhoi, or all.
        #[arg(long)]
        set: String,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// png (RVM's layout), hdf5 (one file per set), or videomatte (synvm in VideoMatte240K's layout).
        #[arg(long, default_value = "png")]
        format: Format,
    },
    /// A contact sheet of a few clips: composite, alpha, labels, foreground.
    Preview {
        #[arg(long)]
        set: SetName,
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 6)]
        clips: usize,
    },
    /// The object families and which split they belong to.
    Families,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Frames per second of the world generator at the quick and paper sizes.
    World {
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Time of one local-adaptation step and per clip, at the quick and paper widths.
    Adapt {
        #[arg(long)]
        cpu: bool,
    },
    /// Time and peak memory of one MAML-RAL meta-iteration, second vs first order.
    Meta {
        #[arg(long)]
        cpu: bool,
    },
    /// Model inference and training-step speed, against PyTorch eager.
    Model {
        #[arg(long)]
        cpu: bool,
        /// Skip the PyTorch eager reference.
        #[arg(long)]
        no_reference: bool,
    },
    /// The device check (benches/gpu_check.sh runs it on a GPU machine): CUDA
    /// found and used, CPU/CUDA parity, frames/s at 512x288 and 1920x1080
    /// (ratio 0.25), one second-order meta-iteration; one JSON line each.
    Gpu {
        /// The same code on the CPU at small sizes (what tests run).
        #[arg(long)]
        dry_run: bool,
    },
    /// The zoo beside RVM: parameters, FLOPs, frames/s and training-step time, with ratios.
    Zoo {
        #[arg(long)]
        cpu: bool,
        /// Only these architectures (comma-separated; RVM is always measured, as the baseline).
        #[arg(long, value_delimiter = ',')]
        models: Vec<hoimat::model::Arch>,
    },
    /// Our evaluator vs the RVM-style Python reference: agreement and speed-up.
    Eval {
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Clips of synvbhoi to evaluate (the first N).
        #[arg(long, default_value_t = 16)]
        clips: usize,
        /// Frames per clip at most.
        #[arg(long, default_value_t = 24)]
        frames: usize,
    },
}

fn sets(arg: &str) -> Result<Vec<SetName>> {
    if arg == "all" {
        return Ok(SetName::ALL.to_vec());
    }
    arg.split(',').map(|s| s.parse::<SetName>().map_err(anyhow::Error::msg)).collect()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Data { cmd } => data(cmd),
        Cmd::Bench { cmd: BenchCmd::World { seed } } => hoimat::bench::world::run(seed),
        Cmd::Bench { cmd: BenchCmd::Gpu { dry_run } } => hoimat::bench::gpu::run(dry_run),
        Cmd::Bench { cmd: BenchCmd::Adapt { cpu } } => hoimat::bench::adapt::run(hoimat::torch_env::device(cpu)),
        Cmd::Bench { cmd: BenchCmd::Zoo { cpu, models } } => {
            let models = if models.is_empty() { hoimat::model::Arch::ZOO.to_vec() } else { models };
            hoimat::bench::zoo::run(hoimat::torch_env::device(cpu), &models)
        }
        Cmd::Bench { cmd: BenchCmd::Meta { cpu } } => hoimat::bench::meta::run(hoimat::torch_env::device(cpu)),
        Cmd::Bench { cmd: BenchCmd::Model { cpu, no_reference } } => hoimat::bench::model::run(hoimat::torch_env::device(cpu), !no_reference),
        Cmd::Bench { cmd: BenchCmd::Eval { profile, seed, clips, frames } } => hoimat::bench::eval::run(profile, seed, clips, frames),
        Cmd::Eval { pred_dir, true_dir, json, per_clip, miou_threshold } => eval(&pred_dir, &true_dir, json, per_clip.as_deref(), miou_threshold),
        Cmd::Reproduce { profile, seed, only, definitions, cpu, data, results, force, factory_import } => {
            let o = hoimat::experiments::pipeline::ReproduceOptions { profile, only, definitions, force, results, data, data_seed: seed, device: hoimat::torch_env::device(cpu), factory_import };
            hoimat::experiments::pipeline::reproduce(&o).map(|_| ())
        }
        Cmd::Train { cmd: TrainCmd::Factory { profile, seed, out, resume, steps, cpu } } => {
            let mut cfg = hoimat::train::supervised::FactoryConfig::for_profile(profile, seed);
            if let Some(s) = steps {
                cfg.set_steps(s);
            }
            let device = hoimat::torch_env::device(cpu);
            println!("factory model: profile {profile}, seed {seed}, {} steps, device {device:?}", cfg.steps);
            let run = hoimat::train::supervised::train(&cfg, &out, resume, device)?;
            println!(
                "done in {:.1} s: synvm test MAD {:.2} (x1e3), mIoU {:.4} -> {}",
                run.seconds, run.final_val.mad, run.final_val.miou, out.display()
            );
            Ok(())
        }
        Cmd::Train { cmd: TrainCmd::Finetune { factory, profile, seed, out, resume, steps, cpu } } => {
            let mut cfg = hoimat::train::supervised::finetune_config(profile, seed, &factory);
            if let Some(s) = steps {
                cfg.set_steps(s);
            }
            let device = hoimat::torch_env::device(cpu);
            println!("RVM-F: fine-tuning {} on synmeta, profile {profile}, seed {seed}, {} steps", factory.display(), cfg.steps);
            let run = hoimat::train::supervised::train(&cfg, &out, resume, device)?;
            println!("done in {:.1} s: synvm test MAD {:.2} (x1e3), mIoU {:.4} -> {}", run.seconds, run.final_val.mad, run.final_val.miou, out.display());
            Ok(())
        }
        Cmd::Train { cmd: TrainCmd::Zoo { model, factory, profile, seed, out, resume, steps, cpu } } => {
            let mut cfg = hoimat::train::supervised::zoo_config(profile, seed, model, factory.as_deref().unwrap_or(std::path::Path::new("")));
            cfg.init_backbone = factory.clone();
            if let Some(s) = steps {
                cfg.set_steps(s);
            }
            let device = hoimat::torch_env::device(cpu);
            let from = factory.as_ref().map_or("random weights".to_string(), |f| format!("the backbone of {}", f.display()));
            println!("{model}: profile {profile}, seed {seed}, {} steps from {from}, device {device:?}", cfg.steps);
            let run = hoimat::train::supervised::train(&cfg, &out, resume, device)?;
            println!("done in {:.1} s: synvm test MAD {:.2} (x1e3), mIoU {:.4} -> {}", run.seconds, run.final_val.mad, run.final_val.miou, out.display());
            Ok(())
        }
        Cmd::Train { cmd: TrainCmd::MamlRal { factory, profile, seed, out, no_cc, no_fc, gamma, first_order, constrained_outer, negatives, human_tasks, frozen_bn, track_bn, cc_distance, fc_distance, outer, alpha, beta, iterations, tasks, resume, cpu } } => {
            let mut cfg = hoimat::meta::maml_ral::MamlRalConfig::for_profile(profile, seed, &factory);
            let mut w = cfg.weights.clone();
            if let Some(g) = gamma {
                let v: Vec<f64> = g.split(',').map(|x| x.trim().parse::<f64>()).collect::<std::result::Result<_, _>>().context("--gamma takes three numbers: g1,g2,g3")?;
                anyhow::ensure!(v.len() == 3, "--gamma takes three numbers: g1,g2,g3");
                w = hoimat::meta::hoi_loss::HoiWeights::new(v[0], v[1], v[2]);
            }
            if no_cc {
                w.g3 = 0.0;
            }
            if no_fc {
                w.g2 = 0.0;
            }
            let spec = hoimat::experiments::MetaSpec { first_order, constrained_outer, negatives, human_tasks, frozen_bn, track_bn, cc_distance, fc_distance, outer, alpha, beta, iterations, tasks, ..hoimat::experiments::MetaSpec::weights(w.g1, w.g2, w.g3) };
            spec.apply(&mut cfg);
            let device = hoimat::torch_env::device(cpu);
            println!(
                "MAML-RAL: profile {profile}, seed {seed}, {} iterations x {} tasks, gamma ({}, {}, {}), {} order",
                cfg.iterations, cfg.tasks_per_iteration, cfg.weights.g1, cfg.weights.g2, cfg.weights.g3, if first_order { "first" } else { "second" }
            );
            let run = hoimat::meta::maml_ral::train(&cfg, &out, resume, device)?;
            let last = run.log.last();
            println!(
                "done in {:.1} s: last inner loss {:.4}, outer loss {:.4} -> {}",
                run.seconds,
                last.map_or(f64::NAN, |l| l.inner_loss),
                last.map_or(f64::NAN, |l| l.outer_loss),
                out.display()
            );
            Ok(())
        }
        Cmd::Import { cmd: ImportCmd::Rvm { ckpt, out } } => {
            let cfg = hoimat::model::rvm::import(&ckpt, &out)?;
            println!("{} -> {} (RVM, width {}, every key and shape checked)", ckpt.display(), out.display(), cfg.width);
            Ok(())
        }
        Cmd::Export { cmd: ExportCmd::Rvm { model, out } } => {
            hoimat::model::rvm::export(&model, &out)?;
            println!("{} -> {} (RVM's state dict)", model.display(), out.display());
            Ok(())
        }
        Cmd::Infer { ckpt, input, out, output_alpha, output_foreground, output_composition, output_type, output_video_mbps, seq_chunk, input_resize, input_fps, downsample_ratio, device, dtype, overwrite, cpu } => {
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
            let parse_size = |s: &str| -> Result<(u32, u32)> {
                let (w, h) = s.split_once('x').with_context(|| format!("--input-resize {s}: expected WxH"))?;
                Ok((w.parse().with_context(|| format!("--input-resize {s}: width"))?, h.parse().with_context(|| format!("--input-resize {s}: height"))?))
            };
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
                resize: input_resize.as_deref().map(parse_size).transpose()?,
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
            Ok(())
        }
        Cmd::Adapt { ckpt, factory, clip, profile, frames, strategy, sampling, epochs, groups, seq_len, lr, noise, no_cc, no_fc, seed, downsample_ratio, out, cpu } => {
            let mut cfg = hoimat::adapt::AdaptConfig::for_profile(profile);
            cfg.frames = frames.unwrap_or(cfg.frames);
            cfg.strategy = strategy.unwrap_or(cfg.strategy);
            cfg.sampling = sampling.unwrap_or(cfg.sampling);
            cfg.epochs = epochs.unwrap_or(cfg.epochs);
            cfg.groups = groups.unwrap_or(cfg.groups);
            cfg.seq_len = seq_len.unwrap_or(cfg.seq_len);
            cfg.lr = lr.unwrap_or(cfg.lr);
            cfg.seed = seed;
            if let Some(r) = downsample_ratio {
                anyhow::ensure!(r > 0.0 && r <= 1.0, "--downsample-ratio must be in (0, 1], got {r}");
            }
            cfg.downsample_ratio = downsample_ratio;
            if no_cc {
                cfg.weights.g3 = 0.0;
            }
            if no_fc {
                cfg.weights.g2 = 0.0;
            }
            adapt_cmd(&ckpt, factory.as_deref(), &clip, profile, noise, &cfg, &out, hoimat::torch_env::device(cpu))
        }
        Cmd::Diagnose { cmd: DiagnoseCmd::Alpha { factory, profile, alphas, tasks, seed, no_fc, no_cc, fc_tau, cpu } } => {
            let mut cfg = hoimat::meta::maml_ral::MamlRalConfig::for_profile(profile, seed, &factory);
            if no_fc {
                cfg.weights.g2 = 0.0;
            }
            if no_cc {
                cfg.weights.g3 = 0.0;
            }
            cfg.fc.tau = fc_tau.unwrap_or(cfg.fc.tau);
            let rows = hoimat::meta::diagnose::alpha_scan(&cfg, &alphas, tasks, hoimat::torch_env::device(cpu))?;
            println!("MAML-RAL inner step at theta_f ({}), means over {tasks} synmeta tasks (synthetic data)", factory.display());
            println!("{:>8} {:>11} {:>11} {:>9} {:>11} {:>11} {:>10} {:>8}", "alpha", "inner", "inner'", "lowered", "outer", "outer'", "|meta|/|fo|", "cos");
            for r in rows {
                println!("{:>8} {:>11.5} {:>11.5} {:>9.2} {:>11.5} {:>11.5} {:>10.3} {:>+8.3}", r.alpha, r.inner_before, r.inner_after, r.inner_lowered, r.outer_before, r.outer_after, r.norm_ratio, r.cosine);
            }
            Ok(())
        }
        Cmd::Info => {
            println!("{}", serde_json::to_string_pretty(&hoimat::torch_env::info())?);
            Ok(())
        }
    }
}

fn data(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Generate { set, profile, seed, out, format } => {
            for s in sets(&set)? {
                let g = export::generate(s, profile, seed, &out, format)?;
                println!(
                    "{}: {} clips, {} frames -> {} ({:.1} s, {:.0} frames/s)",
                    g.set, g.clips, g.frames, g.path.display(), g.seconds, g.frames as f64 / g.seconds
                );
            }
            Ok(())
        }
        DataCmd::Preview { set, profile, seed, out, clips } => {
            let plans = world::plan(set, profile, seed);
            let picked: Vec<_> = pick_spread(&plans, clips).into_iter().map(world::render).collect();
            hoimat::data::preview::write_contact_sheet(&picked, clips, &out)?;
            println!("{} ({} clips of {set} at {profile}) -> {}", "contact sheet", picked.len(), out.display());
            Ok(())
        }
        DataCmd::Families => {
            println!("{:<14} {:<7} topology", "family", "split");
            for f in families::FAMILIES {
                println!("{:<14} {:<7} {}", f.name, format!("{:?}", f.split).to_lowercase(), f.topology);
            }
            Ok(())
        }
    }
}

/// The first `n` plans (VBHOI cycles through its four types, so any four
/// consecutive clips show every type).
fn pick_spread(plans: &[world::scene::ClipPlan], n: usize) -> Vec<&world::scene::ClipPlan> {
    plans.iter().take(n).collect()
}

fn eval(pred: &std::path::Path, truth: &std::path::Path, json: bool, per_clip: Option<&std::path::Path>, miou_threshold: f32) -> Result<()> {
    use hoimat::store::{Column, Table};
    let opts = hoimat::metrics::EvalOptions { miou_threshold, ..Default::default() };
    let report = hoimat::metrics::evaluate_dirs(pred, truth, &opts)?;
    if let Some(path) = per_clip {
        let c = &report.clips;
        let f = |g: &dyn Fn(&hoimat::metrics::ClipScores) -> Option<f64>| Column::F64(c.iter().map(g).collect());
        Table::new()
            .with("dataset", Column::Str(c.iter().map(|x| x.dataset.clone()).collect()))?
            .with("clip", Column::Str(c.iter().map(|x| x.clip.clone()).collect()))?
            .with("n_frames", Column::I64(c.iter().map(|x| x.n_frames as i64).collect()))?
            .with("pha_mad_x1e3", f(&|x| Some(x.pha_mad)))?
            .with("pha_mse_x1e3", f(&|x| Some(x.pha_mse)))?
            .with("pha_grad_div1e3", f(&|x| Some(x.pha_grad)))?
            .with("pha_conn_div1e3", f(&|x| Some(x.pha_conn)))?
            .with("pha_dtssd_x1e2", f(&|x| Some(x.pha_dtssd)))?
            .with("miou_fraction", f(&|x| Some(x.miou)))?
            .with("fgr_mad_x1e3", f(&|x| x.fgr_mad))?
            .with("fgr_mse_x1e3", f(&|x| x.fgr_mse))?
            .write_parquet(path)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{} clips", report.clips.len());
        println!("MAD  (x1e3)  {:>10.4}", report.pha_mad);
        println!("MSE  (x1e3)  {:>10.4}", report.pha_mse);
        println!("Grad (/1e3)  {:>10.4}", report.pha_grad);
        println!("Conn (/1e3)  {:>10.4}", report.pha_conn);
        println!("dtSSD (x1e2) {:>10.4}", report.pha_dtssd);
        println!("mIoU (%)     {:>10.2}", 100.0 * report.miou);
        if let (Some(a), Some(b)) = (report.fgr_mad, report.fgr_mse) {
            println!("fgr MAD (x1e3) {a:.4}, fgr MSE (x1e3) {b:.4}");
        }
    }
    Ok(())
}


#[allow(clippy::too_many_arguments)]
fn adapt_cmd(
    ckpt: &std::path::Path,
    factory: Option<&std::path::Path>,
    clip_dir: &std::path::Path,
    profile: Profile,
    noise: f32,
    cfg: &hoimat::adapt::AdaptConfig,
    out: &std::path::Path,
    device: tch::Device,
) -> Result<()> {
    use hoimat::model::checkpoint;
    let (model, side) = checkpoint::load(ckpt, device)?;
    let factory_path = match factory {
        Some(p) => p.to_path_buf(),
        None => side.provenance["config"]["factory"]
            .as_str()
            .or_else(|| side.provenance["config"]["init"].as_str())
            .map(PathBuf::from)
            .unwrap_or_else(|| ckpt.to_path_buf()),
    };
    let (factory_net, _) = checkpoint::load(&factory_path, device).with_context(|| format!("loading the factory model {}", factory_path.display()))?;
    let clip = hoimat::data::loaders::load_clip(clip_dir)?;
    let (w, h) = clip.frames[0].size();
    // Background pool: the synvm training clips' backgrounds, when their size matches.
    let backgrounds: Vec<tch::Tensor> = if profile.frame_size() == (w, h) {
        world::generate("synvm", profile, 0)?.clips.iter().filter(|c| c.meta.split == "train").filter_map(|c| hoimat::train::batch::ClipTensors::from_clip(c).bgr).collect()
    } else {
        eprintln!("note: {}x{} differs from the {profile} profile's size; background replacement is off", w, h);
        vec![]
    };
    let annotator = hoimat::adapt::NoisyAnnotator { noise };
    println!(
        "adapting {} to {} ({} frames): {} captured, {:?} / {:?}, {} epochs, lr {}, factory {}",
        ckpt.display(), clip_dir.display(), clip.frames.len(), cfg.frames, cfg.strategy, cfg.sampling, cfg.epochs, cfg.lr, factory_path.display()
    );
    let run = hoimat::adapt::adapt(&model, &factory_net, &clip, &annotator, &backgrounds, cfg, None, |l| {
        println!("epoch {:>3}: held-out mIoU {:.4}, MAD {:.2} (x1e3), train {:.1} s", l.epoch, l.miou, l.mad, l.train_s);
    });
    let mut adapted = model.duplicate();
    adapted.params = run.params.detached(false);
    let prov = serde_json::json!({"trainer": "local_adaptation", "config": cfg, "from": ckpt, "factory": factory_path, "clip": clip_dir, "annotator": hoimat::adapt::Annotator::name(&annotator), "captured": run.captured, "log": run.log, "done": true});
    checkpoint::save(&adapted, out, prov)?;
    let last = run.log.last().expect("epoch 0 is always logged");
    println!("held-out mIoU {:.4} -> {:.4} in {:.1} s of training -> {}", run.log[0].miou, last.miou, last.train_s, out.display());
    Ok(())
}
