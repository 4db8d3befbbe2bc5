//! Generation speed of the procedural world.

use std::time::Instant;

use crate::profile::Profile;
use crate::world::{self, SetName};

pub fn run(seed: u64) -> anyhow::Result<()> {
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
