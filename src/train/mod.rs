//! Training: a functional Adam over parameter sets, sequence batches drawn
//! from clips, and the factory model's training loop. The meta-learner and
//! local adaptation build on the same pieces.

pub mod adam;
pub mod batch;
pub mod factory;
pub mod validate;
