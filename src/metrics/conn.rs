//! Connectivity error (Conn) as defined by RVM's `evaluate_lr.py` (`MetricCONN`).
//!
//! For thresholds s_1..s_10 = 0.1..1.0, the largest 4-connected component of
//! `(t >= s) & (p >= s)` is found. A pixel's level is s_(i-1) for the first
//! threshold s_i whose largest component misses it (s_0 = 0), or 1 if it is
//! never missed. With `d = alpha - level` and `phi = 1 - d * [d >= 0.15]` for
//! both mattes, Conn = sum |phi_t - phi_p| / 1000 (scaling: divided by 1000).

use super::{same_size, Plane, MetricError};

/// Differences below this are treated as fully connected (phi = 1).
const PHI_CUTOFF: f32 = 0.15;

/// The thresholds s_0..s_10 exactly as `np.arange(0, 1 + 0.1, 0.1)` produces
/// them in f64 (`k * 0.1`, so s_3 = 0.30000000000000004). Pixels (f32) are
/// compared against these f64 values after widening, as numpy does when a
/// float32 array meets a float64 scalar; alphas of the form k/255 then land on
/// the same side of every threshold as in the Python reference.
pub fn conn_thresholds() -> [f64; 11] {
    std::array::from_fn(|k| k as f64 * 0.1)
}

/// Union-find state reused across thresholds so each threshold is O(N)
/// (near-linear) with no allocation. Roots are always the smallest pixel
/// index of their set, i.e. the component's first pixel in row-major order.
struct Labeller {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl Labeller {
    fn new(n: usize) -> Self {
        Self { parent: vec![0; n], size: vec![0; n] }
    }

    fn find(&mut self, mut i: u32) -> u32 {
        // Path halving: iterative, no recursion.
        while self.parent[i as usize] != i {
            let gp = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = gp;
            i = gp;
        }
        i
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Keep the smaller index as root so roots identify first pixels.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }

    /// Labels the 4-connected components of `mask` and returns the root of the
    /// largest one (ties: the component whose first row-major pixel comes
    /// first), or `None` if the mask is empty. Afterwards `parent[i]` is the
    /// root of every masked pixel `i`.
    // Index loops: neighbours (i - 1, i - w) are read alongside pixel i.
    #[allow(clippy::needless_range_loop)]
    fn largest(&mut self, mask: &[bool], w: usize) -> Option<u32> {
        let n = mask.len();
        for i in 0..n {
            if !mask[i] {
                continue;
            }
            let iu = i as u32;
            self.parent[i] = iu;
            if i % w != 0 && mask[i - 1] {
                self.union(iu, iu - 1);
            }
            if i >= w && mask[i - w] {
                self.union(iu, (i - w) as u32);
            }
        }
        // Flatten: parents always point to smaller indices, so a forward sweep
        // sees every parent already pointing straight at its root.
        self.size[..n].fill(0);
        let mut best: Option<(u32, u32)> = None; // (size, root)
        for i in 0..n {
            if !mask[i] {
                continue;
            }
            let root = self.parent[self.parent[i] as usize];
            self.parent[i] = root;
            self.size[root as usize] += 1;
        }
        for i in 0..n {
            // Scanning roots in increasing index with a strict '>' keeps the
            // earliest component on ties.
            if mask[i] && self.parent[i] as usize == i {
                let s = self.size[i];
                if best.is_none_or(|(bs, _)| s > bs) {
                    best = Some((s, i as u32));
                }
            }
        }
        best.map(|(_, r)| r)
    }
}

/// Per-pixel level ("round-down map") described in the module doc.
/// Levels are stored as f32, as numpy stores them in a float32 array.
pub fn conn_levels(p: &Plane, t: &Plane) -> Result<Vec<f32>, MetricError> {
    same_size(p.dims(), t.dims())?;
    let n = p.data.len();
    assert!(n <= u32::MAX as usize, "image too large for u32 labels");
    let th = conn_thresholds();
    let mut level = vec![1.0f32; n];
    let mut dropped = vec![false; n];
    let mut mask = vec![false; n];
    let mut lab = Labeller::new(n);
    for i in 1..th.len() {
        let s = th[i];
        for ((m, &a), &b) in mask.iter_mut().zip(&t.data).zip(&p.data) {
            *m = a as f64 >= s && b as f64 >= s;
        }
        let best = if n == 0 { None } else { lab.largest(&mask, p.w) };
        let prev = th[i - 1] as f32;
        for j in 0..n {
            let in_best = mask[j] && Some(lab.parent[j]) == best;
            if !dropped[j] && !in_best {
                dropped[j] = true;
                level[j] = prev;
            }
        }
    }
    Ok(level)
}

/// Conn = sum |phi_t - phi_p| / 1000 (see module doc). Arithmetic per pixel
/// is f32 like numpy's float32 arrays; the sum is f64.
pub fn conn(p: &Plane, t: &Plane) -> Result<f64, MetricError> {
    let level = conn_levels(p, t)?;
    let phi = |a: f32, l: f32| {
        let d = a - l;
        if d >= PHI_CUTOFF { 1.0 - d } else { 1.0 }
    };
    let sum: f64 = (0..level.len())
        .map(|j| (phi(t.data[j], level[j]) - phi(p.data[j], level[j])).abs() as f64)
        .sum();
    Ok(sum / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha(w: usize, rows: &[&[f32]]) -> Plane {
        Plane::try_new(w, rows.len(), rows.iter().flat_map(|r| r.iter().copied()).collect()).unwrap()
    }

    #[test]
    fn thresholds_match_numpy_arange() {
        let th = conn_thresholds();
        assert_eq!(th[0], 0.0);
        assert_eq!(th[3], 0.30000000000000004);
        assert_eq!(th[6], 0.6000000000000001);
        assert_eq!(th[7], 0.7000000000000001);
        assert_eq!(th[10], 1.0);
    }

    #[test]
    fn largest_component_ties_pick_first_in_row_major_order() {
        // Two 2-pixel components; the one starting at (2,0) comes first in
        // row-major order even though the other one reaches further left.
        let mask = [
            false, false, true, //
            true, false, true, //
            true, false, false,
        ];
        let mut lab = Labeller::new(9);
        let root = lab.largest(&mask, 3).unwrap();
        assert_eq!(root, 2);
        assert_eq!(lab.parent[5], 2);
        assert_eq!(lab.parent[3], 3);
        // Diagonal neighbours are not 4-connected: three singletons, first wins.
        let diag = [true, false, false, false, true, false, false, false, true];
        let mut lab = Labeller::new(9);
        assert_eq!(lab.largest(&diag, 3), Some(0));
        assert_eq!(Labeller::new(4).largest(&[false; 4], 2), None);
    }

    #[test]
    fn union_find_handles_u_shapes() {
        // A U shape whose two arms meet only at the bottom row: one component
        // of 7 pixels, root at index 0.
        let mask = [
            true, false, true, //
            true, false, true, //
            true, true, true,
        ];
        let mut lab = Labeller::new(9);
        assert_eq!(lab.largest(&mask, 3), Some(0));
        assert!((0..9).filter(|&i| mask[i]).all(|i| lab.parent[i] == 0));
    }

    #[test]
    fn conn_ties_between_equal_components() {
        // Both mattes are identical, so both pixels of value 1 survive every
        // threshold individually, but only the first component is "largest".
        // Row 0: [1, 0, 1]. Components {0} and {2} tie at every threshold, so
        // pixel 0 keeps level 1 and pixel 2 drops at s_1 (level s_0 = 0).
        let t = alpha(3, &[&[1.0, 0.0, 1.0]]);
        let p = alpha(3, &[&[1.0, 0.0, 0.5]]);
        let lv = conn_levels(&p, &t).unwrap();
        assert_eq!(lv, vec![1.0, 0.0, 0.0]);
        // phi_t = [1, 1, 1 - 1 = 0]; phi_p = [1, 1, 1 - 0.5 = 0.5] -> 0.5 / 1000.
        assert!((conn(&p, &t).unwrap() - 0.0005).abs() < 1e-12);
        // Swapping which side holds the larger component moves the tie winner.
        let t2 = alpha(3, &[&[1.0, 0.0, 1.0]]);
        let p2 = alpha(3, &[&[0.5, 0.0, 1.0]]);
        // s <= 0.5: both singletons tie -> pixel 0 wins, pixel 2 drops at s_1.
        let lv2 = conn_levels(&p2, &t2).unwrap();
        assert_eq!(lv2, vec![0.5, 0.0, 0.0]);
    }

    #[test]
    fn conn_hand_example() {
        // 3x3 worked by hand.
        // t = [1.0 1.0 0.0]     p = [1.0 0.6 0.0]
        //     [0.3 0.0 0.0]         [0.3 0.0 0.0]
        //     [0.0 0.0 0.8]         [0.0 0.0 0.8]
        // s=0.1..0.3: intersection = {0,1,3} (one component) + {8};
        //   largest = {0,1,3}; pixel 8 (not in it) drops at s_1 -> level 0,
        //   zeros drop at s_1 too -> level 0.
        // s=0.4 (first s > 0.3): pixel 3 drops -> level s_3 = 0.3 (f32).
        // s=0.7 (first s > 0.6): pixel 1 drops -> level 0.6 (f32 of 0.6000000000000001).
        // pixel 0 survives to s=1.0 -> level 1.
        let t = alpha(3, &[&[1.0, 1.0, 0.0], &[0.3, 0.0, 0.0], &[0.0, 0.0, 0.8]]);
        let p = alpha(3, &[&[1.0, 0.6, 0.0], &[0.3, 0.0, 0.0], &[0.0, 0.0, 0.8]]);
        let lv = conn_levels(&p, &t).unwrap();
        assert_eq!(lv, vec![1.0, 0.6, 0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // phi: pixel 1: d_t = 0.4 -> 0.6, d_p = 0.0 -> 1 => |diff| = 0.4
        //      pixel 3: d = 0 for both -> equal; pixel 8: d = 0.8 both -> equal.
        //      pixel 0: d = 0 both. Others 0. Conn = 0.4 / 1000.
        let c = conn(&p, &t).unwrap();
        assert!((c - 0.0004).abs() < 1e-9, "{c}");
        // Identical mattes give 0.
        assert_eq!(conn(&t, &t).unwrap(), 0.0);
    }

    #[test]
    fn conn_below_cutoff_counts_as_connected() {
        // Single pixel, t = 0.1 ... p = 0.0: level = 0 (mask empty at s_1),
        // d_t = 0.1 < 0.15 -> phi 1; d_p = 0 -> phi 1; Conn 0.
        let t = alpha(1, &[&[0.1]]);
        let p = alpha(1, &[&[0.0]]);
        assert_eq!(conn(&p, &t).unwrap(), 0.0);
        // t = 0.2: d_t = 0.2 >= 0.15 -> phi 0.8; Conn = 0.2 / 1000.
        let t = alpha(1, &[&[0.2]]);
        assert!((conn(&p, &t).unwrap() - 0.0002).abs() < 1e-9);
    }

    #[test]
    fn conn_size_mismatch_and_empty() {
        let a = Plane::try_new(2, 1, vec![0.0; 2]).unwrap();
        let b = Plane::try_new(1, 2, vec![0.0; 2]).unwrap();
        assert!(conn(&a, &b).is_err());
        let e = Plane::try_new(0, 0, vec![]).unwrap();
        assert_eq!(conn(&e, &e).unwrap(), 0.0);
    }
}
