//! Everything a notebook or script needs, in one `use hoimat::prelude::*;`.

pub use crate::data::{self, loaders};
pub use crate::frame::{label, Clip, ClipMeta, Frame, Interaction, LabelMap, Plane, Rgb};
pub use crate::profile::Profile;
pub use crate::world::{self, Dataset, Manifest, SetName};
pub use crate::metrics;
