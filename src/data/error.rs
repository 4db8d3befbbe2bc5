//! Errors that name the file and the problem.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("{path}: cannot read image: {source}")]
    Image { path: PathBuf, source: image::ImageError },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: size {got_w}x{got_h} does not match {want_w}x{want_h} ({context})")]
    Size { path: PathBuf, got_w: usize, got_h: usize, want_w: usize, want_h: usize, context: String },
}

impl DataError {
    pub fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        DataError::Invalid { path: path.into(), problem: problem.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;
