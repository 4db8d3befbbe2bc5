//! Models. The target model of MAML-RAL is the RVM-style recurrent matting
//! network in `matting_net`; one file per block, over a small functional
//! parameter API (`params`, `layers`) that the meta-learner relies on.

pub mod checkpoint;
pub mod convgru;
pub mod encoder;
pub mod layers;
pub mod lraspp;
pub mod matter;
pub mod matting_net;
pub mod onnx_file;
pub mod params;
pub mod recurrent_decoder;
pub mod refiner;
pub mod rvm;
pub mod rvm_onnx;
pub mod torch_file;
pub mod zoo;

pub use matter::{Arch, Matter, Prediction};
pub use layers::BnMode;
pub use matting_net::{auto_downsample_ratio, MattingNet, ModelConfig, Output};
pub use params::ParamSet;
