//! `hoimat data ...`: generate, preview and list the synthetic world's sets.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use hoimat::data::export::{self, Format};
use hoimat::profile::Profile;
use hoimat::world::{self, families, SetName};

#[derive(Subcommand)]
pub enum DataCmd {
    /// Render a stand-in set to disk.
    Generate {
        /// synvm, synmeta, synibhoi, synvbhoi, all (those four), or a
        /// diagnostic set: synvbhoi_seen, syntwin.
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

fn sets(arg: &str) -> Result<Vec<SetName>> {
    if arg == "all" {
        return Ok(SetName::ALL.to_vec());
    }
    arg.split(',').map(|s| s.parse::<SetName>().map_err(anyhow::Error::msg)).collect()
}

pub fn run(cmd: DataCmd) -> Result<()> {
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
