//! hoimat: a research environment for real-time video matting under
//! human-object interaction, reproducing MAML-RAL and its peers.
//!
//! Data flows one way: `world` (synthetic clips) and `data` (files, real
//! layouts) -> models -> losses -> training -> experiments -> results.

pub mod adapt;
pub mod atomic;
pub mod bench;
pub mod data;
pub mod display;
pub mod encode;
pub mod experiments;
pub mod frame;
pub mod infer;
pub mod meta;
pub mod metrics;
pub mod loss;
pub mod model;
pub mod plot;
pub mod profile;
pub mod store;
pub mod progress;
pub mod torch_env;
pub mod train;
pub mod world;

pub mod prelude;
