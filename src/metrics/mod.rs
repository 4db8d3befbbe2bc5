//! Matting quality metrics following the protocol of RVM's `evaluate_lr.py`,
//! the de-facto standard, so our numbers sit beside published ones.
//!
//! Scalings (kept in every output): MAD and MSE x 1e3, Grad and Conn / 1000,
//! dtSSD x 1e2, mIoU a plain fraction in [0, 1] (tables print it as %).
//!
//! Per-pixel arithmetic is in `f32` (as numpy does on `float32` frames) and
//! every sum is accumulated in `f64`, so results do not drift with image
//! size. The functions take the library's own image buffers
//! ([`Plane`], [`Rgb`]), so training and experiments call them directly.

pub mod conn;
pub mod dtssd;
pub mod eval;
pub mod grad;
pub mod hoi;
pub mod mad;
pub mod miou;
pub mod report;
pub mod tree;

pub use crate::frame::{Plane, Rgb, ShapeError};
pub use conn::{conn, conn_thresholds};
pub use dtssd::{dtssd, dtssd_clip};
pub use eval::{evaluate_dirs, ClipScores, EvalError, EvalOptions, EvalReport, FrameScores};
pub use grad::{grad, grad_with_sigma, gradient_magnitude};
pub use mad::{fgr_mad, fgr_mse, mad, mse};
pub use miou::{miou, object_recall, DEFAULT_MIOU_THRESHOLD};

/// Errors from the in-memory metric functions. They never panic on bad input
/// because evaluation runs over user-supplied files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// Two images that must be compared pixel by pixel have different sizes.
    #[error("size mismatch: {}x{} vs {}x{}", left.0, left.1, right.0, right.1)]
    SizeMismatch { left: (usize, usize), right: (usize, usize) },
}

/// Checks that two `(w, h)` pairs agree; shared by all metrics.
pub(crate) fn same_size(left: (usize, usize), right: (usize, usize)) -> Result<(), MetricError> {
    if left == right { Ok(()) } else { Err(MetricError::SizeMismatch { left, right }) }
}
