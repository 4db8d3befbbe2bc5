//! What libtorch this process runs on: version, threads, devices. Used by
//! `hoimat info` and recorded in provenance.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct TorchInfo {
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    pub threads: i32,
}

pub fn info() -> TorchInfo {
    TorchInfo {
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
    }
}

/// The device experiments run on: CUDA when present unless `force_cpu`.
pub fn device(force_cpu: bool) -> tch::Device {
    if force_cpu { tch::Device::Cpu } else { tch::Device::cuda_if_available() }
}
