//! hoimat: a research environment for real-time video matting under
//! human-object interaction, reproducing MAML-RAL and its peers.
//!
//! Data flows one way: `world` (synthetic clips) and `data` (files, real
//! layouts) -> models -> losses -> training -> experiments -> results.

/// The version of the training code's semantics. It is part of every model
/// key and of every checkpoint's provenance, and a resume refuses a
/// checkpoint of another engine: raise it when a change alters what an
/// unchanged configuration trains (2: RVM's Laplacian loss, squared CC/FC
/// distances, factory BatchNorm statistics kept through meta-training;
/// 3: RVM's network layer for layer, alpha clamped instead of a sigmoid).
pub const ENGINE: u32 = 3;

/// The engine a checkpoint's provenance names (1 before the field existed).
pub fn engine_of(provenance: &serde_json::Value) -> u64 {
    provenance["engine"].as_u64().unwrap_or(1)
}

/// A resume continues only a checkpoint of this engine.
pub fn check_engine(provenance: &serde_json::Value, path: &std::path::Path) -> anyhow::Result<()> {
    let e = engine_of(provenance);
    anyhow::ensure!(e == ENGINE as u64, "{}: was trained by engine {e} (this build is engine {ENGINE}); remove it or drop --resume", path.display());
    Ok(())
}

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
pub mod memory;
pub mod model;
pub mod plot;
pub mod profile;
pub mod stats;
pub mod store;
pub mod progress;
pub mod torch_env;
pub mod train;
pub mod world;

pub mod prelude;
