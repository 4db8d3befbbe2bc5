//! The procedural HOI world: synthetic stand-ins for the paper's private
//! datasets, with exact ground truth (alpha, foreground, background, labels).
//!
//! Everything is a pure function of (set, profile, seed). Pixels are
//! computed with `libm` (not the platform's maths library) and per-clip
//! ChaCha streams, so the same call gives the same bytes on any machine, in
//! any order, on any number of threads.

pub mod background;
pub mod families;
pub mod geom;
pub mod person;
pub mod raster;
pub mod rng;
pub mod scene;
pub mod sets;
pub mod shape;
pub mod texture;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use sets::{meta_tasks, plan, set_size, SetName, SetSize, GENERATOR_VERSION};

use crate::frame::{Clip, ClipMeta};
use crate::profile::Profile;

/// What `manifest.json` records about a generated set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub set: String,
    pub stands_for: String,
    pub profile: String,
    pub seed: u64,
    pub generator_version: u32,
    pub width: usize,
    pub height: usize,
    pub fps: f32,
    /// Synthetic stand-in, not the paper's data: said in every manifest.
    pub note: String,
    pub clips: Vec<ClipMeta>,
}

/// A generated set in memory.
pub struct Dataset {
    pub manifest: Manifest,
    pub clips: Vec<Clip>,
}

pub fn manifest(set: SetName, profile: Profile, seed: u64, plans: &[scene::ClipPlan]) -> Manifest {
    let (w, h) = profile.frame_size();
    Manifest {
        set: set.name().into(),
        stands_for: set.stands_for().into(),
        profile: profile.name().into(),
        seed,
        generator_version: GENERATOR_VERSION,
        width: w,
        height: h,
        fps: sets::FPS,
        note: format!("synthetic stand-in for {} rendered by hoimat's procedural HOI world", set.stands_for()),
        clips: plans.iter().map(|p| p.meta.clone()).collect(),
    }
}

/// Render one planned clip (frames in parallel).
pub fn render(plan: &scene::ClipPlan) -> Clip {
    let frames = (0..plan.meta.n_frames).into_par_iter().map(|i| plan.frame(i)).collect();
    Clip { meta: plan.meta.clone(), frames }
}

/// Generate a whole set in memory. Use [`plan`] + [`render`] to stream clips
/// one at a time when a set is too large to hold (the `paper` profile).
pub fn generate(set: &str, profile: Profile, seed: u64) -> anyhow::Result<Dataset> {
    let set: SetName = set.parse().map_err(anyhow::Error::msg)?;
    let plans = plan(set, profile, seed);
    let clips = plans.par_iter().map(render).collect();
    Ok(Dataset { manifest: manifest(set, profile, seed, &plans), clips })
}
