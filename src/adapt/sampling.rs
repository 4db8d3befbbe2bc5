//! How adaptation draws its k-frame sequences from the captured frames
//! (paper Sec. IV-E 3). Sequential: an epoch walks the frames k at a time
//! from the start until all are covered (the server-side way). Random: an
//! epoch is one sequence of k consecutive captured frames at a random start,
//! so an epoch costs one step however long the clip is.

use serde::{Deserialize, Serialize};

use crate::world::rng::Rand;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingKind {
    Random,
    Sequential,
}

impl std::str::FromStr for SamplingKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(SamplingKind::Random),
            "sequential" => Ok(SamplingKind::Sequential),
            _ => Err(format!("unknown sampling '{s}' (expected random or sequential)")),
        }
    }
}

/// Start indices (into the captured frames, `n` of them) of the sequences
/// of one epoch, each `k` long (the last sequential window is clamped to
/// end at the last frame).
pub fn epoch_windows(n: usize, k: usize, kind: SamplingKind, r: &mut Rand) -> Vec<usize> {
    let k = k.min(n).max(1);
    match kind {
        SamplingKind::Random => vec![r.int(0, n - k + 1)],
        SamplingKind::Sequential => (0..n.div_ceil(k)).map(|i| (i * k).min(n - k)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_covers_every_frame_and_random_is_one_window() {
        let mut r = Rand::keyed("s", 0);
        assert_eq!(epoch_windows(25, 10, SamplingKind::Sequential, &mut r), vec![0, 10, 15]);
        assert_eq!(epoch_windows(20, 10, SamplingKind::Sequential, &mut r), vec![0, 10]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let w = epoch_windows(25, 10, SamplingKind::Random, &mut r);
            assert_eq!(w.len(), 1);
            assert!(w[0] <= 15);
            seen.insert(w[0]);
        }
        assert_eq!(seen.len(), 16, "every start 0..=15 is drawn");
        assert_eq!(epoch_windows(4, 10, SamplingKind::Random, &mut r), vec![0], "k is clamped to n");
    }
}
