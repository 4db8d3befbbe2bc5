//! What MAML optimises, measured directly: MAML-RAL's adapted parameters
//! theta' = theta - alpha * grad L_HOI(theta; support) (Alg. 1's inner step,
//! taken `inner_steps` times as in meta-training,
//! Eq. 10 against the factory model) with each test clip's first frames and
//! their truth as the support, scored on the clip's remaining frames. An
//! extra row beside the paper's, not one of its numbers: the other rows
//! score whole clips without any truth.

use anyhow::{Context, Result};
use tch::{Device, Tensor};

use super::score::{score_clip, ClipResult};
use crate::frame::Clip;
use crate::meta::hoi_loss::hoi_loss;
use crate::meta::maml_ral::MamlRalConfig;
use crate::model::{BnMode, MattingNet};
use crate::train::batch::{window, Batch, ClipTensors};
use crate::world::Dataset;

/// The procedure's version, part of the run key: raise it when the inner
/// step or the scored frames change.
pub const VERSION: u32 = 1;

/// Support frames per clip: the meta-training task's sequence length.
pub fn support_frames(cfg: &MamlRalConfig) -> usize {
    cfg.seq_len as usize
}

/// theta' on each clip of `set` (one inner step at the config's alpha on
/// its first frames), scored on the frames after them.
pub fn score_one_step(net: &MattingNet, factory: &MattingNet, cfg: &MamlRalConfig, set: &Dataset, device: Device) -> Result<Vec<ClipResult>> {
    let k = support_frames(cfg);
    let mut out = Vec::with_capacity(set.clips.len());
    for clip in &set.clips {
        anyhow::ensure!(clip.frames.len() > k, "clip {}: {} frames, but one-step adaptation needs more than its {k} support frames", clip.meta.name, clip.frames.len());
        let ct = ClipTensors::from_clip(clip);
        let (src, pha, fgr) = window(&ct, 0, k as i64, false, None);
        let support = Batch::new(src.unsqueeze(0), pha.unsqueeze(0), fgr.unsqueeze(0)).to_device(device);
        // Batch statistics as in meta-training, but never written back: the
        // running statistics stay the model's, whatever the clip order.
        let bn = match cfg.bn_mode() {
            BnMode::BatchTracked => BnMode::Batch,
            m => m,
        };
        let theta = net.params.detached(true);
        for _ in 0..cfg.inner_steps.max(1) {
            let loss = hoi_loss(net, &theta, factory, &support, &cfg.weights, &cfg.fc, bn).total;
            let xs: Vec<&Tensor> = theta.tensors().iter().collect();
            let grads = Tensor::run_backward(&[&loss], &xs, false, false);
            theta.descend(&grads, cfg.alpha);
        }
        let mut rest = Clip { meta: clip.meta.clone(), frames: clip.frames[k..].to_vec() };
        rest.meta.n_frames = rest.frames.len();
        out.push(score_clip(net, &theta.detached(false), &rest, device).with_context(|| format!("clip {}", clip.meta.name))?);
    }
    Ok(out)
}
