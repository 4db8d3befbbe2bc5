//! Generating a stand-in set to disk: PNG trees in RVM's layout, HDF5, or
//! the VideoMatte240K layout. Clips are rendered in parallel in small
//! batches and written as they finish, so memory stays bounded even for the
//! `paper` profile.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use super::error::Result;
use crate::profile::Profile;
use crate::progress;
use crate::world::{self, SetName};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Hdf5,
    /// `synvm` only: `{train,test}/{fgr,pha}/<clip>/` + `backgrounds/video/`.
    VideoMatte,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "png" => Ok(Format::Png),
            "hdf5" | "h5" => Ok(Format::Hdf5),
            "videomatte" => Ok(Format::VideoMatte),
            _ => Err(format!("unknown format '{s}' (expected png, hdf5 or videomatte)")),
        }
    }
}

#[derive(Debug)]
pub struct Generated {
    pub set: SetName,
    pub path: PathBuf,
    pub clips: usize,
    pub frames: usize,
    pub seconds: f64,
}

/// Generate `set` at `profile`/`seed` under `out` (`out/<set>/` for PNG and
/// VideoMatte layouts, `out/<set>.h5` for HDF5).
pub fn generate(set: SetName, profile: Profile, seed: u64, out: &Path, format: Format) -> Result<Generated> {
    let start = Instant::now();
    let plans = world::plan(set, profile, seed);
    let manifest = world::manifest(set, profile, seed, &plans);
    let frames: usize = plans.iter().map(|p| p.meta.n_frames).sum();
    let bar = progress::bar(plans.len() as u64, &format!("{set} ({profile})"));
    let path = match format {
        Format::Hdf5 => out.join(format!("{set}.h5")),
        _ => out.join(set.name()),
    };
    match format {
        Format::Png | Format::VideoMatte => {
            if format == Format::VideoMatte && set != SetName::SynVm {
                return Err(super::DataError::invalid(&path, "the videomatte layout holds human-only clips: use --set synvm"));
            }
            let stage = super::png::Staging::new(&path)?;
            plans.par_iter().try_for_each(|p| -> Result<()> {
                let clip = world::render(p);
                if format == Format::Png {
                    super::png::write_clip(&stage.tmp.join(&clip.meta.name), &clip)?;
                } else {
                    super::loaders::write_videomatte(&stage.tmp, &clip.meta.split, std::slice::from_ref(&clip))?;
                }
                bar.inc(1);
                Ok(())
            })?;
            super::png::write_manifest(&stage.tmp, &manifest)?;
            stage.commit()?;
        }
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => {
            let mut w = super::h5::H5Writer::create(&path, &manifest)?;
            let batch = rayon::current_num_threads().max(1) * 2;
            for chunk in plans.chunks(batch) {
                let clips: Vec<_> = chunk.par_iter().map(world::render).collect();
                for c in &clips {
                    w.add_clip(c)?;
                    bar.inc(1);
                }
            }
            w.finish()?;
        }
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => return Err(super::DataError::invalid(&path, "this build has no HDF5 support (feature `hdf5`)")),
    }
    bar.finish_and_clear();
    Ok(Generated { set, path, clips: plans.len(), frames, seconds: start.elapsed().as_secs_f64() })
}
