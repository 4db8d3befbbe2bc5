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

/// 4-connected components of one threshold's mask, labelled by runs: each
/// maximal horizontal run of mask pixels is one union-find node, joined to
/// the runs of the row above that overlap it, so a level costs the runs and
/// not the pixels (a matte's interior is a few long runs per row). Buffers
/// are reused across thresholds and, per thread, across frames.
#[derive(Default)]
struct Components {
    /// Runs in row-major order: (first pixel index, length).
    runs: Vec<(u32, u32)>,
    /// Union-find over run ids; a root is always the smallest id of its set,
    /// i.e. the run holding the component's first pixel in row-major order.
    parent: Vec<u32>,
    size: Vec<u64>,
}

impl Components {
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
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }

    /// Labels the components of `k >= lv` (`rowmax[y]` = the row's largest
    /// `k`, so rows below the level are skipped) and returns the root run of
    /// the largest component (ties: the one whose first row-major pixel
    /// comes first), or `None` for an empty mask. Afterwards `parent[r]` is
    /// the root of every run `r`.
    fn largest(&mut self, k: &[u8], w: usize, rowmax: &[u8], lv: u8) -> Option<u32> {
        self.runs.clear();
        self.parent.clear();
        let mut above = 0..0; // runs of the previous row
        for (y, row) in k.chunks(w).enumerate() {
            let first = self.runs.len();
            if rowmax[y] >= lv {
                let mut x = 0;
                while x < w {
                    if row[x] < lv {
                        x += 1;
                        continue;
                    }
                    let x0 = x;
                    while x < w && row[x] >= lv {
                        x += 1;
                    }
                    self.parent.push(self.runs.len() as u32);
                    self.runs.push(((y * w + x0) as u32, (x - x0) as u32));
                }
            }
            // Join overlapping runs of the row above (4-connectivity: they
            // share a column), walking both rows left to right.
            let (mut a, mut b) = (above.start, first);
            while a < above.end && b < self.runs.len() {
                let (sa, la) = self.runs[a];
                let (sb, lb) = self.runs[b];
                let (a0, b0) = (sa as usize + w, sb as usize); // a's columns moved down a row
                let (a1, b1) = (a0 + la as usize, b0 + lb as usize);
                if a1 > b0 && b1 > a0 {
                    self.union(a as u32, b as u32);
                }
                if a1 <= b1 {
                    a += 1;
                } else {
                    b += 1;
                }
            }
            above = first..self.runs.len();
        }
        // Flatten (parents point to smaller ids, so a forward sweep sees each
        // parent already at its root) and total each component's pixels.
        self.size.clear();
        self.size.resize(self.runs.len(), 0);
        for r in 0..self.runs.len() {
            let root = self.parent[self.parent[r] as usize];
            self.parent[r] = root;
            self.size[root as usize] += self.runs[r].1 as u64;
        }
        // Roots in increasing id with a strict '>' keep the earliest on ties.
        let mut best: Option<(u64, u32)> = None;
        for r in 0..self.runs.len() {
            if self.parent[r] as usize == r && best.is_none_or(|(bs, _)| self.size[r] > bs) {
                best = Some((self.size[r], r as u32));
            }
        }
        best.map(|(_, r)| r)
    }
}

thread_local! {
    static COMPONENTS: std::cell::RefCell<Components> = std::cell::RefCell::new(Components::default());
}

/// How many of s_1..s_10 are <= `m` (NaN: none): a guess from `10 m`,
/// corrected against the exact f64 thresholds, so a value just under or
/// over a threshold lands where numpy's comparison puts it.
fn last_threshold(th: &[f64; 11], m: f64) -> u8 {
    if m.is_nan() {
        return 0;
    }
    let mut k = (m * 10.0).floor().clamp(0.0, 10.0) as usize;
    while k < 10 && m >= th[k + 1] {
        k += 1;
    }
    while k > 0 && m < th[k] {
        k -= 1;
    }
    k as u8
}

/// Per-pixel level ("round-down map") described in the module doc.
/// Levels are stored as f32, as numpy stores them in a float32 array.
///
/// The masks are nested (a pixel in the mask at s_i is in it at every lower
/// threshold), so each pixel's last threshold `k` is found once, and a
/// pixel's level is s_m for the number m of thresholds, counted from s_1,
/// whose largest component holds it.
pub fn conn_levels(p: &Plane, t: &Plane) -> Result<Vec<f32>, MetricError> {
    same_size(p.dims(), t.dims())?;
    let (w, n) = (p.w, p.data.len());
    if n == 0 {
        return Ok(vec![]);
    }
    assert!(n <= u32::MAX as usize, "image too large for u32 labels");
    let th = conn_thresholds();
    // k = how many of s_1..s_10 the pixel reaches on both sides, compared in
    // f64 like numpy: (t >= s) & (p >= s) is min(t, p) >= s.
    // (f64::min would return the other side of a NaN; a NaN is in no mask.)
    let k: Vec<u8> = t.data.iter().zip(&p.data).map(|(&a, &b)| if a.is_nan() || b.is_nan() { 0 } else { last_threshold(&th, (a as f64).min(b as f64)) }).collect();
    let rowmax: Vec<u8> = k.chunks(w).map(|r| r.iter().copied().max().unwrap_or(0)).collect();
    // survived[j] = thresholds in a row, from s_1, whose largest component holds j.
    let mut survived = vec![0u8; n];
    COMPONENTS.with_borrow_mut(|c| {
        for lv in 1..th.len() as u8 {
            let Some(best) = c.largest(&k, w, &rowmax, lv) else { break };
            for r in 0..c.runs.len() {
                if c.parent[r] == best {
                    let (start, len) = c.runs[r];
                    for v in &mut survived[start as usize..(start + len) as usize] {
                        if *v == lv - 1 {
                            *v = lv;
                        }
                    }
                }
            }
        }
    });
    Ok(survived.iter().map(|&m| th[m as usize] as f32).collect())
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

    /// The largest component of a boolean mask: its first pixel and, per
    /// pixel, whether it belongs to it.
    fn largest_of(mask: &[bool], w: usize) -> Option<(u32, Vec<bool>)> {
        let k: Vec<u8> = mask.iter().map(|&m| m as u8).collect();
        let rowmax: Vec<u8> = k.chunks(w).map(|r| r.iter().copied().max().unwrap_or(0)).collect();
        let mut c = Components::default();
        let best = c.largest(&k, w, &rowmax, 1)?;
        let mut member = vec![false; mask.len()];
        for r in 0..c.runs.len() {
            if c.parent[r] == best {
                let (s, l) = c.runs[r];
                member[s as usize..(s + l) as usize].fill(true);
            }
        }
        Some((c.runs[best as usize].0, member))
    }

    #[test]
    fn last_threshold_counts_like_the_comparisons() {
        let th = conn_thresholds();
        let count = |m: f64| th[1..].iter().filter(|&&s| m >= s).count() as u8;
        let near = |s: f64| [s, f64::from_bits(s.to_bits() - 1), f64::from_bits(s.to_bits() + 1), s as f32 as f64];
        for m in (0..=255).map(|v| (v as f32 / 255.0) as f64).chain(th.iter().flat_map(|&s| near(s.max(1e-300)))).chain([-1.0, 2.0, 0.0]) {
            assert_eq!(last_threshold(&th, m), count(m), "{m:e}");
        }
        assert_eq!(last_threshold(&th, f64::NAN), 0);
        // One NaN side: in no mask (numpy's comparisons are false), level 0.
        let t = Plane::try_new(2, 1, vec![f32::NAN, 0.9]).unwrap();
        let p = Plane::try_new(2, 1, vec![0.9, 0.9]).unwrap();
        // Pixel 1: 0.9f32 is just under s_9, so it survives s_1..s_8: level s_8.
        assert_eq!(conn_levels(&p, &t).unwrap(), vec![0.0, 0.8]);
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
        let (first, member) = largest_of(&mask, 3).unwrap();
        assert_eq!(first, 2);
        assert!(member[2] && member[5]);
        assert!(!member[3] && !member[6]);
        // Diagonal neighbours are not 4-connected: three singletons, first wins.
        let diag = [true, false, false, false, true, false, false, false, true];
        let (first, member) = largest_of(&diag, 3).unwrap();
        assert_eq!(first, 0);
        assert_eq!(member.iter().filter(|&&m| m).count(), 1);
        assert!(largest_of(&[false; 4], 2).is_none());
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
        let (first, member) = largest_of(&mask, 3).unwrap();
        assert_eq!(first, 0);
        assert_eq!(member, mask.to_vec());
        // Runs that touch only diagonally are not joined; a run spanning two
        // runs of the row above joins them.
        let stairs = [
            true, true, false, false, //
            false, false, true, true, //
            true, true, true, true,
        ];
        let (first, member) = largest_of(&stairs, 4).unwrap();
        assert_eq!(first, 4 + 2, "the bottom run joins the middle one (first pixel 6), not the diagonal top one");
        assert_eq!(member.iter().filter(|&&m| m).count(), 6);
        assert!(!member[0] && !member[1]);
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

    /// The definition run literally: for every threshold, the full-frame
    /// mask, its components by breadth-first flood fill (another algorithm
    /// than the union-find), the largest one (ties: first in row-major
    /// order), then each pixel's first miss.
    fn levels_by_flood_fill(p: &Plane, t: &Plane) -> Vec<f32> {
        let (w, h, n) = (p.w, p.h, p.data.len());
        let th = conn_thresholds();
        let mut level: Vec<Option<f32>> = vec![None; n];
        for i in 1..th.len() {
            let mask: Vec<bool> = (0..n).map(|j| t.data[j] as f64 >= th[i] && p.data[j] as f64 >= th[i]).collect();
            let mut comp = vec![usize::MAX; n];
            let mut best: (usize, usize) = (0, usize::MAX); // (size, id)
            for start in 0..n {
                if !mask[start] || comp[start] != usize::MAX {
                    continue;
                }
                let mut queue = std::collections::VecDeque::from([start]);
                comp[start] = start;
                let mut size = 0;
                while let Some(j) = queue.pop_front() {
                    size += 1;
                    let (x, y) = (j % w, j / w);
                    let mut next = vec![];
                    if x > 0 { next.push(j - 1) }
                    if x + 1 < w { next.push(j + 1) }
                    if y > 0 { next.push(j - w) }
                    if y + 1 < h { next.push(j + w) }
                    for q in next {
                        if mask[q] && comp[q] == usize::MAX {
                            comp[q] = start;
                            queue.push_back(q);
                        }
                    }
                }
                if size > best.0 {
                    best = (size, start);
                }
            }
            for j in 0..n {
                if level[j].is_none() && !(mask[j] && comp[j] == best.1) {
                    level[j] = Some(th[i - 1] as f32);
                }
            }
        }
        level.into_iter().map(|l| l.unwrap_or(1.0)).collect()
    }

    #[test]
    fn levels_equal_the_definition_on_random_mattes() {
        let mut rng = crate::world::rng::Rand::keyed("conn-levels", 7);
        for case in 0..60 {
            let (w, h) = (rng.int(1, 24), rng.int(1, 18));
            // Blobs of k/255 values with holes, so components split and merge
            // across thresholds; every third case fully random pixels.
            let blob = |rng: &mut crate::world::rng::Rand| -> Plane {
                let (cx, cy, r) = (rng.range(0.0, w as f32), rng.range(0.0, h as f32), rng.range(1.0, 10.0));
                let data = (0..w * h)
                    .map(|j| {
                        let d = (((j % w) as f32 - cx).powi(2) + ((j / w) as f32 - cy).powi(2)).sqrt();
                        let v = if case % 3 == 0 { rng.f() } else { (1.0 - d / r).clamp(0.0, 1.0) * rng.range(0.6, 1.0) };
                        (v * 255.0).round() / 255.0
                    })
                    .collect();
                Plane::try_new(w, h, data).unwrap()
            };
            let (p, t) = (blob(&mut rng), blob(&mut rng));
            assert_eq!(conn_levels(&p, &t).unwrap(), levels_by_flood_fill(&p, &t), "case {case}: {w}x{h}");
        }
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
