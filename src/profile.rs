//! Named experiment scales. A profile scales counts, sizes and steps, never
//! the algorithm (SPEC section 8).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Tiny, seconds: what tests use.
    Smoke,
    /// The default: the whole paper on a 2-core CPU in well under an hour.
    Quick,
    /// The paper's counts and 512x288, for a GPU.
    Paper,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Smoke, Profile::Quick, Profile::Paper];

    /// Frame size (width, height): 16:9 like the paper's 512x288.
    pub fn frame_size(self) -> (usize, usize) {
        match self {
            Profile::Smoke => (64, 36),
            Profile::Quick => (128, 72),
            Profile::Paper => (512, 288),
        }
    }

    /// libtorch threads on the CPU. At smoke and quick the networks are so
    /// small that a second thread does not help (a quick second-order
    /// meta-iteration: 1.53 s on one thread, 1.63 s on two) while it changes
    /// the floating-point order, so these profiles use one thread on every
    /// machine: their numbers do not depend on the core count, and parallel
    /// workers (one per core) give the same numbers as one process. At
    /// paper every core helps.
    pub fn cpu_threads(self) -> i32 {
        match self {
            Profile::Smoke | Profile::Quick => 1,
            Profile::Paper => std::thread::available_parallelism().map_or(1, |n| n.get() as i32),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Paper => "paper",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "smoke" => Ok(Profile::Smoke),
            "quick" => Ok(Profile::Quick),
            "paper" => Ok(Profile::Paper),
            _ => Err(format!("unknown profile '{s}' (expected smoke, quick or paper)")),
        }
    }
}
