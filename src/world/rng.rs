//! Seeded, portable randomness for the world. Every clip gets its own
//! ChaCha8 stream derived from (set, split, seed, index) by a fixed hash, so
//! clips can be rendered in any order, in parallel, with the same bytes.

use rand::{Rng as _, SeedableRng};
use rand::rngs::ChaCha8Rng;

/// FNV-1a over bytes: a fixed, documented hash (std's hasher is not stable
/// across releases, so it must not decide seeds).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The world's random source.
pub struct Rand(ChaCha8Rng);

impl Rand {
    /// A stream named by a key (e.g. "synvbhoi/test/7") and a user seed.
    pub fn keyed(key: &str, seed: u64) -> Rand {
        let mut state = fnv1a(key.as_bytes()) ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&splitmix(&mut state).to_le_bytes());
        }
        Rand(ChaCha8Rng::from_seed(bytes))
    }

    /// A child stream, so adding draws to one part of a generator does not
    /// shift the draws of another.
    pub fn fork(&mut self, name: &str) -> Rand {
        let s = self.u64();
        Rand::keyed(name, s)
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1), from the top 24 bits (exact in f32).
    pub fn f(&mut self) -> f32 {
        (self.0.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f()
    }

    /// Uniform integer in [lo, hi).
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        assert!(hi > lo, "empty integer range");
        lo + (self.u64() % (hi - lo) as u64) as usize
    }

    pub fn chance(&mut self, p: f32) -> bool {
        self.f() < p
    }

    pub fn sign(&mut self) -> f32 {
        if self.chance(0.5) { 1.0 } else { -1.0 }
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.int(0, xs.len())]
    }

    /// Standard normal by Box-Muller (libm, so the same on every machine).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.f().max(1e-7);
        let u2 = self.f();
        libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(std::f32::consts::TAU * u2)
    }

    /// A random colour near `base` (each channel jittered by +-`j`).
    pub fn jitter(&mut self, base: [f32; 3], j: f32) -> [f32; 3] {
        let mut c = base;
        for v in &mut c {
            *v = (*v + self.range(-j, j)).clamp(0.0, 1.0);
        }
        c
    }

    pub fn color(&mut self) -> [f32; 3] {
        [self.f(), self.f(), self.f()]
    }

    /// A shuffled copy of 0..n (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.int(0, i + 1);
            v.swap(i, j);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map({ let mut r = Rand::keyed("x", 1); move |_| r.u64() }).collect();
        let b: Vec<u64> = (0..4).map({ let mut r = Rand::keyed("x", 1); move |_| r.u64() }).collect();
        let c: Vec<u64> = (0..4).map({ let mut r = Rand::keyed("x", 2); move |_| r.u64() }).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = Rand::keyed("y", 0);
        for _ in 0..1000 {
            let f = r.f();
            assert!((0.0..1.0).contains(&f));
            let i = r.int(3, 7);
            assert!((3..7).contains(&i));
        }
    }
}
