//! Benchmarks behind `hoimat bench ...`: they print numbers and ratios measured
//! in one run; tests never assert on time.

pub mod adapt;
pub mod eval;
pub mod gpu;
pub mod meta;
pub mod model;
pub mod video;
pub mod world;
pub mod zoo;
