//! Everything a notebook or script needs, in one `use hoimat::prelude::*;`.

pub use crate::data::{self, loaders};
/// The data frame crate, with the `polars` feature (`Store::frame`): in a
/// notebook, `use polars::prelude::*;`.
#[cfg(feature = "polars")]
pub use ::polars;
pub use crate::display;
pub use crate::experiments::figures::Figure;
pub use crate::experiments::report::{self, PaperNumbers, PaperTable};
pub use crate::experiments::{self, Definition, Lab, MetaSpec, ModelSpec, Outcome};
pub use crate::frame::{label, Clip, ClipMeta, Frame, Interaction, LabelMap, Plane, Rgb};
pub use crate::metrics;
pub use crate::model::{self, checkpoint, zoo, Arch, Matter, MattingNet, ModelConfig, Prediction};
pub use crate::plot::{self, Chart};
pub use crate::profile::Profile;
pub use crate::store::{self, summarize, Store, StoredRow, Summary};
pub use crate::torch_env;
pub use crate::world::{self, Dataset, Manifest, SetName};
pub use tch::{self, Device, Tensor};
