//! Benchmarks behind `hoimat bench ...`: they print numbers and ratios measured
//! in one run; tests never assert on time.

pub mod adapt;
pub mod eval;
pub mod gpu;
pub mod meta;
pub mod model;
pub mod video;
pub mod world;
pub mod zoo;

/// Uniform [0, 1) values from hoimat's own keyed stream, for timing
/// inputs. Not libtorch's global generator: model constructors seed it and
/// draw their weights from it under a lock (`model::params::seed_init`), and
/// a draw from another thread while a model is built (Table VI's speed runs
/// beside training in one process: a test binary, a notebook) changed that
/// model's weights.
pub fn uniform(key: &str, shape: &[i64], device: tch::Device) -> tch::Tensor {
    let n: i64 = shape.iter().product();
    let mut r = crate::world::rng::Rand::keyed(&format!("bench/{key}"), 0);
    let v: Vec<f32> = (0..n).map(|_| r.f()).collect();
    tch::Tensor::from_slice(&v).view(shape).to_device(device)
}

#[cfg(test)]
mod tests {
    use crate::model::{MattingNet, ModelConfig};
    use tch::Device;

    /// A model built while another thread times inference gets the weights
    /// it gets alone: timing inputs leave libtorch's generator alone.
    #[test]
    fn timing_beside_a_model_build_leaves_its_weights_alone() {
        let cfg = ModelConfig::quick();
        let reference = MattingNet::new(&cfg, Device::Cpu, 3);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = {
            let (stop, cfg) = (stop.clone(), cfg.clone());
            std::thread::spawn(move || {
                let net = MattingNet::new(&cfg, Device::Cpu, 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    super::model::time_infer(&net, 1, 1, 18, 32, 1, Device::Cpu);
                }
            })
        };
        // Fifty builds: before the fix about one in three runs of ten caught it.
        for _ in 0..50 {
            let again = MattingNet::new(&cfg, Device::Cpu, 3);
            for (n, t) in reference.params.iter() {
                assert!(t.equal(again.params.get(n)), "{n} changed while another thread timed inference");
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        timer.join().unwrap();
    }
}
