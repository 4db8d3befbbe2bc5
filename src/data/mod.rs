//! Datasets on disk: RVM's evaluation layout (PNG per frame), HDF5, loaders
//! for the real layouts of the paper's datasets, and contact-sheet previews.

pub mod error;
pub mod export;
#[cfg(feature = "hdf5")]
pub mod h5;
pub mod loaders;
pub mod mkv;
pub mod png;
pub mod preview;
pub mod video;

pub use error::DataError;
