//! The paper as experiments. A [`Lab`] holds a profile, a device and a
//! results folder; a [`Definition`] (one TOML file per table or figure)
//! says what to run; [`Lab::run`] trains what is missing (models are shared
//! and cached by configuration hash), scores, and writes Parquet rows with
//! provenance to the store; [`report`] renders the paper-shaped tables with
//! the paper's numbers beside ours and checks the paper's claims.

pub mod adaptation;
pub mod definition;
pub mod executor;
pub mod figures;
pub mod lab;
pub mod models;
pub mod one_step;
pub mod plan;
pub mod pipeline;
pub mod provenance;
pub mod regions;
pub mod report;
pub mod runner;
pub mod score;
pub mod slurm;

pub use definition::{Definition, ExperimentKind, MethodDef};
pub use lab::Lab;
pub use models::{MetaSpec, ModelSpec};
pub use report::{PaperNumbers, Verdict};
pub use runner::Outcome;
