//! The lab: where an experiment session keeps its models, datasets and
//! results, at one profile, on one device. Notebooks and the CLI both work
//! through a `Lab`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tch::Device;

use crate::profile::Profile;
use crate::store::results::Store;
use crate::world::{self, Dataset};

/// Where progress lines go: stdout by default; a notebook can capture them.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Lab {
    pub profile: Profile,
    /// `results/<profile>`: models/, store/, figures/ live under it.
    pub root: PathBuf,
    pub device: Device,
    /// Re-run experiment runs even when the store has them (models are kept).
    pub force: bool,
    /// Seed of the synthetic world (the same data for every training seed).
    pub data_seed: u64,
    /// A folder of edited experiment definitions overriding the shipped ones.
    pub definitions: Option<PathBuf>,
    /// RVM's own checkpoint (`.pth` or `.safetensors`) as the factory model
    /// theta_f instead of the synthetic one (`reproduce --factory-import`):
    /// RVM-F, MAML-RAL and the zoo then start from it.
    pub factory_import: Option<PathBuf>,
    /// libtorch threads for training at the paper profile (None: the
    /// profile's count). The parallel executor gives each of its workers a
    /// share of the cores; the count is provenance, never part of a key.
    pub threads: Option<i32>,
    /// Set once the parallel executor has re-run every forced run except
    /// the speed runs, so the sequential pass does not run them again.
    pub forced_already: bool,
    sets: Mutex<HashMap<String, Arc<Dataset>>>,
    sink: Sink,
}

impl Lab {
    /// A lab under `results` (a folder per profile is made inside).
    /// On the CPU it sets libtorch's threads to the profile's count
    /// ([`Profile::cpu_threads`]: one at smoke and quick), so scoring and
    /// adaptation compute the same numbers on every machine.
    pub fn new(results: impl Into<PathBuf>, profile: Profile, device: Device) -> Lab {
        if device == Device::Cpu {
            tch::set_num_threads(profile.cpu_threads());
        }
        Lab {
            profile,
            root: results.into().join(profile.name()),
            device,
            force: false,
            data_seed: 0,
            definitions: None,
            factory_import: None,
            threads: None,
            forced_already: false,
            sets: Mutex::new(HashMap::new()),
            sink: Arc::new(|s: &str| println!("{s}")),
        }
    }

    /// The lab a notebook or script opens: results under `$HOIMAT_RESULTS`,
    /// else `$HOIMAT_ROOT/results` (the kernel sets `HOIMAT_ROOT` to the
    /// checkout), else `./results`; a GPU when one is present unless
    /// `HOIMAT_CPU` is set.
    pub fn open(profile: &str) -> Result<Lab> {
        let profile: Profile = profile.parse().map_err(anyhow::Error::msg)?;
        let results = match (std::env::var_os("HOIMAT_RESULTS"), std::env::var_os("HOIMAT_ROOT")) {
            (Some(r), _) => PathBuf::from(r),
            (None, Some(root)) => PathBuf::from(root).join("results"),
            (None, None) => PathBuf::from("results"),
        };
        let device = crate::torch_env::device(std::env::var_os("HOIMAT_CPU").is_some());
        Ok(Lab::new(results, profile, device))
    }

    pub fn with_sink(mut self, sink: Sink) -> Lab {
        self.sink = sink;
        self
    }

    pub fn say(&self, line: &str) {
        (self.sink)(line)
    }

    pub fn store(&self) -> Store {
        Store::new(self.root.join("store"))
    }

    pub fn figures(&self) -> PathBuf {
        self.root.join("figures")
    }

    /// A synthetic set at the lab's profile and data seed, rendered once per
    /// lab. `set:split` keeps the clips of one split (e.g. `synvm:test`).
    pub fn dataset(&self, set: &str) -> Result<Arc<Dataset>> {
        if let Some(d) = self.sets.lock().expect("dataset cache").get(set) {
            return Ok(d.clone());
        }
        let (name, split) = match set.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (set, None),
        };
        let mut d = world::generate(name, self.profile, self.data_seed)?;
        if let Some(split) = split {
            let keep: Vec<bool> = d.clips.iter().map(|c| c.meta.split == split).collect();
            anyhow::ensure!(keep.iter().any(|k| *k), "{set}: {name} has no clips in split '{split}'");
            d.clips = d.clips.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(c, _)| c).collect();
            d.manifest.clips = d.manifest.clips.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(c, _)| c).collect();
        }
        let d = Arc::new(d);
        self.sets.lock().expect("dataset cache").insert(set.to_string(), d.clone());
        Ok(d)
    }

    pub fn device_name(&self) -> String {
        match self.device {
            Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
            Device::Cuda(i) => format!("cuda:{i}"),
            d => format!("{d:?}"),
        }
    }
}
