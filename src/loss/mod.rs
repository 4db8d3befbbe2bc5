//! Losses: the matting loss L^M (paper Eq. 4-9). The constraints of
//! MAML-RAL (CC, FC) and the HOI loss (Eq. 10) build on it.

pub mod laplacian;
pub mod matting;
pub mod zoo;

pub use matting::{matting_loss, MattingLoss};
pub use zoo::{model_loss, Targets};
