//! Local adaptation (paper Sec. IV-E; SPEC section 5): fit a deployed model
//! to one scene from a few annotated frames, fast and stably.
//!
//! - [`annotate`]: which frames are captured, and the `Annotator` trait with
//!   a label-noise model of a click-driven tool;
//! - [`augment`]: background replacement and the regular augmentations;
//! - [`dfimat_annotator`]: an interactive annotator, a DFIMat-like model
//!   driven by simulated clicks;
//! - [`footage`]: a user's own recording (video or frames) and their labels;
//! - [`sampling`]: sequential vs random k-frame sequences;
//! - [`sgt`]: one epoch of SGT (group-averaged) or normal training;
//! - [`local`]: the loop over epochs with held-out scoring.

pub mod annotate;
pub mod augment;
pub mod dfimat_annotator;
pub mod footage;
pub mod local;
pub mod sampling;
pub mod sgt;

pub use annotate::{Annotator, FramePolicy, NoisyAnnotator};
pub use augment::AugmentConfig;
pub use dfimat_annotator::DfimatAnnotator;
pub use local::{adapt, adapt_capture, epochs_to, fluctuation, AdaptConfig, AdaptRun, Capture, EpochLog};
pub use sampling::SamplingKind;
pub use sgt::Strategy;
