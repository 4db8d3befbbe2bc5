//! The `hoimat` command line: a thin layer over the library.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cli;
use cli::{bench::BenchCmd, data::DataCmd, diagnose::DiagnoseCmd, train::TrainCmd};

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
    Adapt(cli::adapt::AdaptArgs),
    /// Instruments (numbers to look at before tuning anything).
    Diagnose {
        #[command(subcommand)]
        cmd: DiagnoseCmd,
    },
    /// libtorch version, threads and devices of this process.
    Info,
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

fn main() -> Result<()> {
    hoimat::memory::keep_freed_memory();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Data { cmd } => cli::data::run(cmd),
        Cmd::Bench { cmd } => cli::bench::run(cmd),
        Cmd::Train { cmd } => cli::train::run(cmd),
        Cmd::Eval { pred_dir, true_dir, json, per_clip, miou_threshold } => cli::eval::eval(&pred_dir, &true_dir, json, per_clip.as_deref(), miou_threshold),
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
        Cmd::Adapt(args) => cli::adapt::run(args),
        Cmd::Diagnose { cmd } => cli::diagnose::run(cmd),
        Cmd::Info => {
            println!("{}", serde_json::to_string_pretty(&hoimat::torch_env::info())?);
            Ok(())
        }
    }
}
