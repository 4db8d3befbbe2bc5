//! The `hoimat` command line: a thin layer over the library.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod cli;
use cli::{data::DataCmd, train::TrainCmd};

use hoimat::profile::Profile;

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
    Reproduce(cli::reproduce::ReproduceArgs),
    /// Execute one node of a reproduction's plan (a model or a run; see `reproduce --plan`); a no-op when stored.
    RunTask(cli::reproduce::RunTaskArgs),
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
    Infer(cli::infer::InferArgs),
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
        /// annotator degrades and the held-out frames are scored against),
        /// or your own recording: a video file or a folder of frames, with
        /// `--labels`.
        #[arg(long)]
        clip: PathBuf,
        /// For a recording: your alpha mattes of some of its frames, named by
        /// frame index in decoding order (000012.png). They are what the
        /// model trains on, but `--holdout` of them, which are scored.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Labelled frames held out for scoring (default: a quarter).
        #[arg(long)]
        holdout: Option<usize>,
        /// For a recording: resize frames (and labels) to WxH.
        #[arg(long)]
        input_resize: Option<String>,
        /// For a recording: frames read at most (all are held in memory).
        #[arg(long, default_value_t = 300)]
        max_frames: usize,
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
    /// Video decoding and encoding through ffmpeg, constant-rate vs timed (variable-rate) output.
    Video {
        /// Frames per size.
        #[arg(long, default_value_t = 60)]
        frames: u32,
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
        /// Keep the two trees in this folder (to profile `hoimat eval` on them).
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
}



fn main() -> Result<()> {
    hoimat::memory::keep_freed_memory();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Data { cmd } => cli::data::run(cmd),
        Cmd::Bench { cmd: BenchCmd::World { seed } } => hoimat::bench::world::run(seed),
        Cmd::Bench { cmd: BenchCmd::Gpu { dry_run } } => hoimat::bench::gpu::run(dry_run),
        Cmd::Bench { cmd: BenchCmd::Adapt { cpu } } => hoimat::bench::adapt::run(hoimat::torch_env::device(cpu)),
        Cmd::Bench { cmd: BenchCmd::Zoo { cpu, models } } => {
            let models = if models.is_empty() { hoimat::model::Arch::ZOO.to_vec() } else { models };
            hoimat::bench::zoo::run(hoimat::torch_env::device(cpu), &models)
        }
        Cmd::Bench { cmd: BenchCmd::Meta { cpu } } => hoimat::bench::meta::run(hoimat::torch_env::device(cpu)),
        Cmd::Bench { cmd: BenchCmd::Model { cpu, no_reference } } => hoimat::bench::model::run(hoimat::torch_env::device(cpu), !no_reference),
        Cmd::Bench { cmd: BenchCmd::Video { frames } } => hoimat::bench::video::run(frames),
        Cmd::Bench { cmd: BenchCmd::Eval { profile, seed, clips, frames, keep } } => hoimat::bench::eval::run(profile, seed, clips, frames, keep.as_deref()),
        Cmd::Train { cmd } => cli::train::run(cmd),
        Cmd::Eval { pred_dir, true_dir, json, per_clip, miou_threshold } => eval(&pred_dir, &true_dir, json, per_clip.as_deref(), miou_threshold),
        Cmd::Reproduce(args) => cli::reproduce::reproduce(args),
        Cmd::RunTask(args) => cli::reproduce::run_task(args),
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
        Cmd::Infer(args) => cli::infer::run(args),
        Cmd::Adapt { ckpt, factory, clip, labels, holdout, input_resize, max_frames, profile, frames, strategy, sampling, epochs, groups, seq_len, lr, noise, no_cc, no_fc, seed, downsample_ratio, out, cpu } => {
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
            let footage = Footage { labels, holdout, resize: input_resize.as_deref().map(cli::parse_size).transpose()?, max_frames };
            adapt_cmd(&ckpt, factory.as_deref(), &clip, &footage, profile, noise, &cfg, &out, hoimat::torch_env::device(cpu))
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
            .with("miou_tolerant_fraction", f(&|x| x.hoi.as_ref().and_then(|h| h.miou_tolerant)))?
            .with("held_iou", f(&|x| x.hoi.as_ref().and_then(|h| h.held_iou)))?
            .with("held_recall", f(&|x| x.hoi.as_ref().and_then(|h| h.held_recall)))?
            .with("held_precision", f(&|x| x.hoi.as_ref().and_then(|h| h.held_precision)))?
            .with("free_recall", f(&|x| x.hoi.as_ref().and_then(|h| h.free_recall)))?
            .with("interferer_fp", f(&|x| x.hoi.as_ref().and_then(|h| h.interferer_fp)))?
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
        if let Some(h) = &report.hoi {
            let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.2}", 100.0 * v));
            println!("objects (truth has label maps; pixels pooled over the tree):");
            println!("mIoU, ±1 px boundary ignored (%) {}", pct(h.miou_tolerant));
            println!("held object IoU / recall / precision (%) {} / {} / {}", pct(h.held_iou), pct(h.held_recall), pct(h.held_precision));
            println!("free-object recall (%) {}, interferer FP rate (%) {}", pct(h.free_recall), pct(h.interferer_fp));
            println!("{:<12} {:>10} {:>8} {:>8}", "region", "MAD x1e3", "FP %", "FN %");
            for (r, e) in &h.regions {
                println!("{r:<12} {:>10.2} {:>8.2} {:>8.2}", e.mad, 100.0 * e.fp, 100.0 * e.fn_share);
            }
        }
    }
    Ok(())
}


/// `adapt`'s options for a recording (a video or a folder of frames).
#[derive(serde::Serialize)]
struct Footage {
    labels: Option<PathBuf>,
    holdout: Option<usize>,
    resize: Option<(u32, u32)>,
    max_frames: usize,
}

#[allow(clippy::too_many_arguments)]
fn adapt_cmd(
    ckpt: &std::path::Path,
    factory: Option<&std::path::Path>,
    clip_dir: &std::path::Path,
    footage: &Footage,
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
    // A clip folder holds its truth (com/ and pha/); anything else is a
    // recording, whose labels the user made.
    anyhow::ensure!(clip_dir.exists(), "{}: no such file or folder", clip_dir.display());
    let recording = !clip_dir.join("com").is_dir();
    if !recording && (footage.holdout.is_some() || footage.resize.is_some()) {
        anyhow::bail!("{}: a clip folder is scored on every frame not captured; --holdout and --input-resize are for a video or a folder of frames", clip_dir.display());
    }
    let rec = match (&footage.labels, recording) {
        (Some(labels), true) => Some(hoimat::adapt::footage::load(clip_dir, labels, footage.resize, footage.max_frames)?),
        (None, true) => anyhow::bail!("{}: a recording has no truth; give your alpha mattes of some of its frames with --labels DIR (named by frame index, e.g. 000012.png)", clip_dir.display()),
        (Some(_), false) => anyhow::bail!("{}: a clip folder (com/, pha/) is labelled by the simulated annotator; --labels is for a video or a folder of frames", clip_dir.display()),
        (None, false) => None,
    };
    let loaded;
    let clip = match &rec {
        Some(r) => &r.clip,
        None => {
            loaded = hoimat::data::loaders::load_clip(clip_dir)?;
            &loaded
        }
    };
    let (w, h) = clip.frames[0].size();
    // Background pool: the synvm training clips' backgrounds, when their size matches.
    let backgrounds: Vec<tch::Tensor> = if profile.frame_size() == (w, h) {
        hoimat::world::generate("synvm", profile, 0)?.clips.iter().filter(|c| c.meta.split == "train").filter_map(|c| hoimat::train::batch::ClipTensors::from_clip(c).bgr).collect()
    } else {
        eprintln!("note: {}x{} differs from the {profile} profile's size; background replacement is off", w, h);
        vec![]
    };
    let on_epoch = |l: &hoimat::adapt::EpochLog| println!("epoch {:>3}: held-out mIoU {:.4}, MAD {:.2} (x1e3), train {:.1} s", l.epoch, l.miou, l.mad, l.train_s);
    if let Some(rec) = &rec {
        let n = rec.labelled.len();
        // A quarter of the labels scored, at least one when two or more.
        let capture = rec.capture(footage.holdout.unwrap_or(if n >= 2 { (n / 4).max(1) } else { 0 }))?;
        println!(
            "adapting {} to {} ({} frames of {w}x{h}, your labels): {} labelled frames train, {} scored ({:?}), {:?} / {:?}, {} epochs, lr {}, factory {}",
            ckpt.display(), clip_dir.display(), clip.frames.len(), capture.captured.len(), capture.scored.len(), capture.scored, cfg.strategy, cfg.sampling, cfg.epochs, cfg.lr, factory_path.display()
        );
        let run = hoimat::adapt::adapt_capture(&model, &factory_net, clip, capture, &backgrounds, cfg, None, on_epoch);
        let prov = serde_json::json!({"trainer": "local_adaptation", "config": cfg, "from": ckpt, "factory": factory_path, "clip": clip_dir, "frames_read": clip.frames.len(), "size": [w, h], "recording": footage, "label_files": rec.label_files, "annotator": "user labels", "captured": run.captured, "scored": run.scored, "log": run.log, "done": true});
        return save_adapted(&model, run, out, prov);
    }
    let annotator = hoimat::adapt::NoisyAnnotator { noise };
    println!(
        "adapting {} to {} ({} frames): {} captured, {:?} / {:?}, {} epochs, lr {}, factory {}",
        ckpt.display(), clip_dir.display(), clip.frames.len(), cfg.frames, cfg.strategy, cfg.sampling, cfg.epochs, cfg.lr, factory_path.display()
    );
    let run = hoimat::adapt::adapt(&model, &factory_net, clip, &annotator, &backgrounds, cfg, None, on_epoch);
    let prov = serde_json::json!({"trainer": "local_adaptation", "config": cfg, "from": ckpt, "factory": factory_path, "clip": clip_dir, "annotator": hoimat::adapt::Annotator::name(&annotator), "captured": run.captured, "log": run.log, "done": true});
    save_adapted(&model, run, out, prov)
}

fn save_adapted(model: &hoimat::model::MattingNet, run: hoimat::adapt::AdaptRun, out: &std::path::Path, prov: serde_json::Value) -> Result<()> {
    let mut adapted = model.duplicate();
    adapted.params = run.params.detached(false);
    hoimat::model::checkpoint::save(&adapted, out, prov)?;
    let last = run.log.last().expect("epoch 0 is always logged");
    println!("held-out mIoU {:.4} -> {:.4} in {:.1} s of training -> {}", run.log[0].miou, last.miou, last.train_s, out.display());
    Ok(())
}
