//! `hoimat bench ...`: the benchmarks (`hoimat::bench`), which print numbers.

use anyhow::Result;
use clap::Subcommand;

use hoimat::profile::Profile;

#[derive(Subcommand)]
pub enum BenchCmd {
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

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::World { seed } => hoimat::bench::world::run(seed),
        BenchCmd::Gpu { dry_run } => hoimat::bench::gpu::run(dry_run),
        BenchCmd::Adapt { cpu } => hoimat::bench::adapt::run(hoimat::torch_env::device(cpu)),
        BenchCmd::Zoo { cpu, models } => {
            let models = if models.is_empty() { hoimat::model::Arch::ZOO.to_vec() } else { models };
            hoimat::bench::zoo::run(hoimat::torch_env::device(cpu), &models)
        }
        BenchCmd::Meta { cpu } => hoimat::bench::meta::run(hoimat::torch_env::device(cpu)),
        BenchCmd::Model { cpu, no_reference } => hoimat::bench::model::run(hoimat::torch_env::device(cpu), !no_reference),
        BenchCmd::Video { frames } => hoimat::bench::video::run(frames),
        BenchCmd::Eval { profile, seed, clips, frames, keep } => hoimat::bench::eval::run(profile, seed, clips, frames, keep.as_deref()),
    }
}
