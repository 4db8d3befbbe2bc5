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
    /// The paper end to end at a profile (so far: the four datasets and their previews).
    Reproduce {
        #[arg(long, default_value = "quick")]
        profile: Profile,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where datasets go (a folder per profile is made inside).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Where figures and reports go.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Regenerate even if a matching dataset exists.
        #[arg(long)]
        force: bool,
    },
    /// libtorch version, threads and devices of this process.
    Info,
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
        Cmd::Bench { cmd: BenchCmd::World { seed } } => bench_world(seed),
        Cmd::Reproduce { profile, seed, data, results, force } => reproduce(profile, seed, &data, &results, force),
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

fn bench_world(seed: u64) -> Result<()> {
    println!("world generator, {} threads", rayon::current_num_threads());
    println!("{:<8} {:>9} {:>8} {:>10} {:>12}", "profile", "size", "frames", "seconds", "frames/s");
    for profile in [Profile::Quick, Profile::Paper] {
        let (w, h) = profile.frame_size();
        // A fixed sample of VBHOI clips (all four types), 12 frames each.
        let mut plans = world::plan(SetName::SynVbhoi, profile, seed);
        plans.truncate(8);
        for p in &mut plans {
            p.meta.n_frames = p.meta.n_frames.min(12);
        }
        let frames: usize = plans.iter().map(|p| p.meta.n_frames).sum();
        let t = Instant::now();
        let clips: Vec<_> = plans.iter().map(world::render).collect();
        let s = t.elapsed().as_secs_f64();
        assert_eq!(clips.len(), plans.len());
        println!("{:<8} {:>9} {:>8} {:>10.2} {:>12.1}", profile.name(), format!("{w}x{h}"), frames, s, frames as f64 / s);
    }
    let t = Instant::now();
    let mut total = 0;
    for set in SetName::ALL {
        let ds = world::generate(set.name(), Profile::Quick, seed)?;
        total += ds.clips.iter().map(|c| c.frames.len()).sum::<usize>();
    }
    println!("all four sets at quick (in memory): {total} frames in {:.2} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn reproduce(profile: Profile, seed: u64, data_root: &std::path::Path, results: &std::path::Path, force: bool) -> Result<()> {
    let start = Instant::now();
    println!("hoimat reproduce: profile {profile}, seed {seed}, device {:?}", hoimat::torch_env::device(false));
    println!("All data are synthetic stand-ins for the paper's private datasets (hoimat's procedural HOI world).");
    let out = data_root.join(profile.name());
    for set in SetName::ALL {
        let dir = out.join(set.name());
        let current = hoimat::data::png::read_manifest(&dir)
            .map(|m| m.seed == seed && m.generator_version == world::GENERATOR_VERSION && m.profile == profile.name())
            .unwrap_or(false);
        if current && !force {
            println!("{set}: up to date in {}", dir.display());
        } else {
            let g = export::generate(set, profile, seed, &out, Format::Png).with_context(|| format!("generating {set}"))?;
            println!("{set} ({}): {} clips, {} frames in {:.1} s -> {}", set.stands_for(), g.clips, g.frames, g.seconds, g.path.display());
        }
        let plans = world::plan(set, profile, seed);
        let picked: Vec<_> = pick_spread(&plans, 4).into_iter().map(world::render).collect();
        let fig = results.join("figures").join(format!("world_{set}_{profile}.png"));
        hoimat::data::preview::write_contact_sheet(&picked, 4, &fig)?;
    }
    println!("previews in {}", results.join("figures").display());
    println!("Not yet part of this pipeline: training, evaluation, tables and figures (see the open issues).");
    println!("total: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
