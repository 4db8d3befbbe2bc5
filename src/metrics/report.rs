//! What an evaluation over directory trees gives back (`metrics::eval`):
//! its options, the scores per frame and per clip, the aggregated report
//! (scalings as in `metrics::eval`), and the errors, each naming a file.

use std::path::PathBuf;

use serde::Serialize;

use super::hoi::{HoiCounts, HoiSummary};
use super::MetricError;

/// Failures of [`evaluate_dirs`]; each names the offending file or directory.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A directory could not be listed (missing, permissions, ...).
    #[error("cannot read directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A clip exists on one side but this `pha` directory does not.
    #[error("missing pha directory {path}")]
    MissingPhaDir { path: PathBuf },
    /// One side is a set folder (`<clip>/pha`) and the other a root of sets
    /// (`<set>/<clip>/pha`).
    #[error("{pred} and {truth} are laid out differently: {set_side} holds clips (<clip>/pha/*.png) while {root_side} holds sets of clips (<set>/<clip>/pha/*.png); pass two set folders or two roots of sets")]
    LayoutMismatch { pred: PathBuf, truth: PathBuf, set_side: PathBuf, root_side: PathBuf },
    /// No `<dataset>/<clip>` directory was found at all.
    #[error("empty tree: no <dataset>/<clip> directories under {path}")]
    EmptyTree { path: PathBuf },
    /// A clip's `pha` directories hold no frame on either side.
    #[error("no frames in {path}")]
    NoFrames { path: PathBuf },
    /// A frame of the truth has no prediction (or an fgr file is absent).
    #[error("missing frame {path} (present at {counterpart})")]
    MissingFrame { path: PathBuf, counterpart: PathBuf },
    /// A predicted frame has no ground truth.
    #[error("extra frame {path}: no ground truth at {counterpart}")]
    ExtraFrame { path: PathBuf, counterpart: PathBuf },
    /// Two images that are compared have different sizes.
    #[error("size mismatch: {path} is {}x{} but {reference} is {}x{}", size.0, size.1, reference_size.0, reference_size.1)]
    SizeMismatch { path: PathBuf, size: (u32, u32), reference: PathBuf, reference_size: (u32, u32) },
    /// The file could not be opened or decoded.
    #[error("cannot read or decode image {path}: {source}")]
    Image { path: PathBuf, source: image::ImageError },
    /// A metric rejected its input (should not happen after the size checks).
    #[error("metric failed on {path}: {source}")]
    Metric { path: PathBuf, source: MetricError },
}

/// Knobs for [`evaluate_dirs`].
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Foreground threshold for mIoU (alpha >= threshold).
    pub miou_threshold: f32,
    /// Compute fgr metrics for clips that have `fgr/` on both sides.
    pub fgr: bool,
    /// Frames per parallel task. Each task decodes the frame before its first
    /// one again for dtSSD, so larger chunks waste less decoding, smaller
    /// ones balance better.
    pub chunk_len: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { miou_threshold: super::DEFAULT_MIOU_THRESHOLD, fgr: true, chunk_len: 8 }
    }
}

/// Scores of one frame. `fgr_*` are `None` when the clip has no fgr pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameScores {
    pub pha_mad: f64,
    pub pha_mse: f64,
    pub pha_grad: f64,
    pub pha_conn: f64,
    /// 0 for a clip's first frame.
    pub pha_dtssd: f64,
    pub miou: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fgr_mad: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fgr_mse: Option<f64>,
    /// Object and region counts, when the truth has label maps.
    #[serde(skip)]
    pub hoi: Option<HoiCounts>,
}

/// Plain per-clip means over its frames (frame 0's dtSSD of 0 included),
/// kept for per-clip tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipScores {
    pub dataset: String,
    pub clip: String,
    pub n_frames: usize,
    pub pha_mad: f64,
    pub pha_mse: f64,
    pub pha_grad: f64,
    pub pha_conn: f64,
    pub pha_dtssd: f64,
    pub miou: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fgr_mad: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fgr_mse: Option<f64>,
    /// Object metrics and error by region, pooled over the clip's frames,
    /// when the truth has `label/` and `person/` (synthetic data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hoi: Option<HoiSummary>,
}

/// Tree-level scores (frame-index mean first, see module doc). Serialises to
/// exactly `pha_mad, pha_mse, pha_grad, pha_conn, pha_dtssd, miou`, plus
/// `fgr_mad, fgr_mse` when at least one clip had fgr on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub pha_mad: f64,
    pub pha_mse: f64,
    pub pha_grad: f64,
    pub pha_conn: f64,
    pub pha_dtssd: f64,
    pub miou: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fgr_mad: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fgr_mse: Option<f64>,
    /// Object metrics and error by region, pooled over every frame of the
    /// clips whose truth has label maps; absent when none has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hoi: Option<HoiSummary>,
    /// Per-clip means in (dataset, clip) order; not part of the JSON.
    #[serde(skip)]
    pub clips: Vec<ClipScores>,
}
