//! The `hoimat` binary's command groups (the binary's own modules; the
//! library is `src/lib.rs`). Each is a thin layer over the library.

pub mod data;
pub mod infer;
pub mod reproduce;
pub mod train;
