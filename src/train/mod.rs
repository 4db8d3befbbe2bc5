//! Training: a functional Adam over parameter sets, sequence batches drawn
//! from clips, and the supervised loop (factory model, RVM-F). The meta-learner and
//! local adaptation build on the same pieces.

pub mod adam;
pub mod batch;
pub mod run_files;
pub mod supervised;
pub mod validate;
