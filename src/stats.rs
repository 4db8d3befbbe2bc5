//! Honest verdicts for paper claims.
//!
//! A verdict taken from the sign of a mean difference ignores its spread: a
//! 0.1 gain over noise of 1.0 is not a finding. Here the difference between
//! two methods is paired (same seed, same clip, scored by both), bootstrapped,
//! and a claim is judged only by whether the 95% interval clears zero (or a
//! tolerance margin). Seeds (training runs) and clips (test material) are
//! both sources of variance, so the bootstrap resamples at two levels: seeds,
//! then clips within each drawn seed. Resampling clips alone would treat one
//! lucky training run as if it were the method.

use std::collections::BTreeMap;

/// One paired observation: the same seed and clip scored by both methods.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub seed: i64,
    pub clip: String,
    pub diff: f64,
}

/// A bootstrap percentile interval around the plain mean of the pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub n_seeds: usize,
    pub n_pairs: usize,
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fixed, documented
/// generator, so an interval is reproducible from its `rng_seed` whatever the
/// version of any random-number crate.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An index in `0..n` (n > 0) by multiply-shift; its bias, under n/2^64,
    /// is far below the bootstrap's own noise.
    fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// The `q` quantile of ascending `sorted` by linear interpolation between
/// order statistics at position `(n - 1) * q` (numpy's default, 'linear').
/// NaN for an empty slice.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let i = pos.floor() as usize;
    if i + 1 >= n {
        return sorted[n - 1];
    }
    sorted[i] + (sorted[i + 1] - sorted[i]) * (pos - i as f64)
}

/// Two-level bootstrap of the mean paired difference: each resample draws
/// seeds with replacement, then within each drawn seed draws that seed's
/// clips with replacement; the statistic is the mean of the drawn differences
/// (all drawn pairs weighted equally). With one seed only clips are
/// resampled. `resamples` draws (at least one), deterministic for a given
/// `rng_seed`. Percentile interval at `level` (0.95 -> 2.5% and 97.5%
/// quantiles, see [`quantile`]). `mean` is the plain mean of all pairs.
/// Pairs with a non-finite difference are left out. Returns None when fewer
/// than 2 pairs remain (no spread to judge).
pub fn paired_bootstrap(pairs: &[Pair], resamples: usize, level: f64, rng_seed: u64) -> Option<Interval> {
    let mut by_seed: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.diff.is_finite()) {
        by_seed.entry(p.seed).or_default().push(p.diff);
    }
    let groups: Vec<Vec<f64>> = by_seed.into_values().collect();
    let n_pairs: usize = groups.iter().map(Vec::len).sum();
    if n_pairs < 2 {
        return None;
    }
    let mean = groups.iter().flatten().sum::<f64>() / n_pairs as f64;
    let mut rng = SplitMix64(rng_seed);
    let mut stats = Vec::with_capacity(resamples.max(1));
    for _ in 0..resamples.max(1) {
        let (mut sum, mut count) = (0.0f64, 0usize);
        for _ in 0..groups.len() {
            let g = &groups[rng.below(groups.len())];
            for _ in 0..g.len() {
                sum += g[rng.below(g.len())];
            }
            count += g.len();
        }
        stats.push(sum / count as f64);
    }
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    Some(Interval { mean, lo: quantile(&stats, tail), hi: quantile(&stats, 1.0 - tail), n_seeds: groups.len(), n_pairs })
}

/// A claim's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Held,
    NotHeld,
    Inconclusive,
}

impl Decision {
    /// "HELD", "NOT HELD" or "INCONCLUSIVE".
    pub fn word(&self) -> &'static str {
        match self {
            Decision::Held => "HELD",
            Decision::NotHeld => "NOT HELD",
            Decision::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// The relations [`decide`] understands.
pub const RELATIONS: [&str; 3] = ["better", "worse", "not_worse"];

/// `gain` interval oriented so that positive means "left is better"; `margin`
/// >= 0 is the allowed loss for a `not_worse` claim (ignored otherwise; a
/// negative or NaN margin counts as 0).
/// "better": Held if lo > 0, NotHeld if hi < 0, else Inconclusive.
/// "worse": Held if hi < 0, NotHeld if lo > 0, else Inconclusive.
/// "not_worse": Held if lo >= -margin (identical results are not worse),
/// NotHeld if hi < -margin, else Inconclusive.
/// An unknown relation, or a NaN bound, is Inconclusive: no claim is held
/// by default.
pub fn decide(relation: &str, gain: &Interval, margin: f64) -> Decision {
    let (held, not_held) = match relation {
        "better" => (gain.lo > 0.0, gain.hi < 0.0),
        "worse" => (gain.hi < 0.0, gain.lo > 0.0),
        "not_worse" => {
            let m = margin.max(0.0);
            (gain.lo >= -m, gain.hi < -m)
        }
        _ => (false, false),
    };
    if held {
        Decision::Held
    } else if not_held {
        Decision::NotHeld
    } else {
        Decision::Inconclusive
    }
}

/// Finite values by key; a repeated key keeps its last value.
fn finite_by_key(xs: &[((i64, String), f64)]) -> BTreeMap<(i64, String), f64> {
    xs.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.clone(), *v)).collect()
}

/// Pairs from two keyed value lists: key = (seed, clip); only keys present in
/// both with finite values; diff = left - right. Sorted by key.
pub fn pair_up(left: &[((i64, String), f64)], right: &[((i64, String), f64)]) -> Vec<Pair> {
    let right = finite_by_key(right);
    finite_by_key(left)
        .into_iter()
        .filter_map(|(key, l)| {
            let r = *right.get(&key)?;
            Some(Pair { seed: key.0, clip: key.1, diff: l - r })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(seeds: i64, clips: usize, f: impl Fn(i64, usize) -> f64) -> Vec<Pair> {
        let mut v = Vec::new();
        for s in 0..seeds {
            for c in 0..clips {
                v.push(Pair { seed: s, clip: format!("c{c}"), diff: f(s, c) });
            }
        }
        v
    }

    fn iv(lo: f64, hi: f64) -> Interval {
        Interval { mean: (lo + hi) / 2.0, lo, hi, n_seeds: 1, n_pairs: 2 }
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.25), 1.75); // pos 0.75
        assert_eq!(quantile(&s, 0.5), 2.5); // pos 1.5
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert!((quantile(&[10.0, 20.0, 30.0], 0.9) - 28.0).abs() < 1e-12); // pos 1.8
        assert_eq!(quantile(&[5.0], 0.3), 5.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn constant_differences_give_a_point_interval() {
        let up = paired_bootstrap(&grid(3, 4, |_, _| 0.3), 4000, 0.95, 1).unwrap();
        assert_eq!((up.lo, up.hi), (up.mean, up.mean));
        assert!((up.mean - 0.3).abs() < 1e-12);
        assert_eq!((up.n_seeds, up.n_pairs), (3, 12));
        assert_eq!(decide("better", &up, 0.0), Decision::Held);
        let down = paired_bootstrap(&grid(3, 4, |_, _| -0.3), 4000, 0.95, 1).unwrap();
        assert_eq!((down.lo, down.hi), (down.mean, down.mean));
        assert_eq!(decide("better", &down, 0.0), Decision::NotHeld);
        assert_eq!(decide("worse", &down, 0.0), Decision::Held);
    }

    #[test]
    fn symmetric_noise_is_inconclusive() {
        let pairs = grid(5, 10, |_, c| if c % 2 == 0 { 1.0 } else { -1.0 });
        let i = paired_bootstrap(&pairs, 4000, 0.95, 7).unwrap();
        assert_eq!(i.mean, 0.0);
        assert!(i.lo < 0.0 && 0.0 < i.hi, "{i:?}");
        assert_eq!(decide("better", &i, 0.0), Decision::Inconclusive);
        assert_eq!(decide("worse", &i, 0.0), Decision::Inconclusive);
    }

    #[test]
    fn clear_shift_is_held() {
        let pairs = grid(5, 10, |s, c| 1.0 + if (c + s as usize) % 2 == 0 { 0.1 } else { -0.1 });
        let i = paired_bootstrap(&pairs, 4000, 0.95, 7).unwrap();
        assert!(i.lo > 0.9 && i.hi < 1.1, "{i:?}");
        assert_eq!(decide("better", &i, 0.0), Decision::Held);
        assert_eq!(decide("worse", &i, 0.0), Decision::NotHeld);
    }

    #[test]
    fn width_matches_the_normal_theory() {
        // 40 standard normals (Box-Muller), standardized to sample mean 0 and
        // sd 1 so the check is on the bootstrap, not on the draw.
        let mut g = SplitMix64(2024);
        let mut unit = || (g.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut z: Vec<f64> = (0..40)
            .map(|_| {
                let (u1, u2) = (1.0 - unit(), unit());
                (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect();
        let m = z.iter().sum::<f64>() / 40.0;
        let sd = (z.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 39.0).sqrt();
        z.iter_mut().for_each(|x| *x = (*x - m) / sd);
        let pairs: Vec<Pair> = z.iter().enumerate().map(|(c, &d)| Pair { seed: 0, clip: format!("c{c}"), diff: d }).collect();
        let i = paired_bootstrap(&pairs, 4000, 0.95, 3).unwrap();
        let expect = 2.0 * 1.96 / 40f64.sqrt(); // ~0.62
        assert!(((i.hi - i.lo) / expect - 1.0).abs() < 0.25, "{i:?}");
        assert!(i.lo < 0.0 && 0.0 < i.hi);
        assert_eq!((i.n_seeds, i.n_pairs), (1, 40));
    }

    #[test]
    fn deterministic_and_needs_two_pairs() {
        let pairs = grid(3, 5, |s, c| ((s * 5) as f64 + c as f64).sin());
        let a = paired_bootstrap(&pairs, 1000, 0.95, 42);
        assert_eq!(a, paired_bootstrap(&pairs, 1000, 0.95, 42));
        assert_ne!(a, paired_bootstrap(&pairs, 1000, 0.95, 43));
        assert_eq!(paired_bootstrap(&pairs[..1], 1000, 0.95, 42), None);
        assert_eq!(paired_bootstrap(&[], 1000, 0.95, 42), None);
        let nan = vec![pairs[0].clone(), Pair { diff: f64::NAN, ..pairs[1].clone() }];
        assert_eq!(paired_bootstrap(&nan, 1000, 0.95, 42), None);
    }

    #[test]
    fn not_worse_respects_the_margin() {
        let small_loss = iv(-0.04, 0.0);
        assert_eq!(decide("not_worse", &small_loss, 0.05), Decision::Held);
        assert_eq!(decide("not_worse", &small_loss, 0.03), Decision::Inconclusive);
        assert_eq!(decide("not_worse", &iv(-0.2, -0.1), 0.05), Decision::NotHeld);
        assert_eq!(decide("not_worse", &iv(0.01, 0.2), 0.0), Decision::Held);
        assert_eq!(decide("not_worse", &iv(-0.01, 0.2), 0.0), Decision::Inconclusive);
        assert_eq!(decide("sideways", &iv(1.0, 2.0), 0.0), Decision::Inconclusive);
        assert_eq!(Decision::NotHeld.word(), "NOT HELD");
        assert_eq!(Decision::Held.word(), "HELD");
        assert_eq!(Decision::Inconclusive.word(), "INCONCLUSIVE");
    }

    #[test]
    fn pair_up_keeps_common_finite_keys_sorted() {
        let k = |s: i64, c: &str, v: f64| ((s, c.to_string()), v);
        let left = vec![k(1, "a", 0.5), k(1, "b", 0.7), k(2, "a", f64::NAN), k(0, "z", 1.0)];
        let right = vec![k(1, "a", 0.2), k(2, "a", 0.1), k(0, "z", 0.25), k(3, "q", 9.0), k(1, "b", f64::INFINITY)];
        let p = pair_up(&left, &right);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].seed, p[0].clip.as_str(), p[0].diff), (0, "z", 0.75));
        assert_eq!((p[1].seed, p[1].clip.as_str()), (1, "a"));
        assert!((p[1].diff - 0.3).abs() < 1e-12);
    }
}
