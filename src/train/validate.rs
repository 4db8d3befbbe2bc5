//! Validation during training: run the model over whole clips, carrying the
//! recurrent state, and score with the library's metrics (MAD x1e3, mIoU).

use tch::{Device, Tensor};

use super::batch::{to_plane, ClipTensors};
use crate::metrics;
use crate::model::zoo::dfimat;
use crate::model::{Matter, ParamSet};
use crate::world::rng::Rand;

/// Alpha predictions for every frame of a clip ([N, 1, H, W] on the CPU),
/// processed in chunks of `chunk` frames with the state carried across.
///
/// An interactive model (DFIMat-like) gets clicks simulated from the clip's
/// truth with [`dfimat::ROUNDS`] rounds, the same stream for a clip every
/// time; it returns no foreground, so the second tensor is the input.
pub fn predict_clip(net: &dyn Matter, params: &ParamSet, clip: &ClipTensors, chunk: i64, device: Device) -> (Tensor, Tensor) {
    predict_clip_at(net, params, clip, chunk, device, 1.0)
}

/// [`predict_clip`] with RVM's `downsample_ratio` (below 1 only for models
/// with a refiner, see [`Matter::has_refiner`]).
pub fn predict_clip_at(net: &dyn Matter, params: &ParamSet, clip: &ClipTensors, chunk: i64, device: Device, ratio: f64) -> (Tensor, Tensor) {
    if net.prompt_channels() > 0 {
        let mut r = Rand::keyed(&format!("interactive/{}", clip.name), 0);
        let n = clip.len();
        let mut phas = vec![];
        let mut i = 0;
        while i < n {
            let t = chunk.min(n - i);
            let (com, truth) = (clip.com.narrow(0, i, t).to_device(device), clip.pha.narrow(0, i, t).to_device(device));
            phas.push(dfimat::interactive_alpha(net, params, &com, &truth, dfimat::ROUNDS, dfimat::CLICKS, &mut r).to_device(Device::Cpu));
            i += t;
        }
        return (Tensor::cat(&phas, 0), clip.com.shallow_clone());
    }
    tch::no_grad(|| {
        let mut rec: Option<Vec<Tensor>> = None;
        let (mut phas, mut fgrs) = (vec![], vec![]);
        let n = clip.len();
        let mut i = 0;
        while i < n {
            let t = chunk.min(n - i);
            let src = clip.com.narrow(0, i, t).unsqueeze(0).to_device(device);
            let out = net.run_at(params, &src, rec.as_deref(), ratio);
            phas.push(out.pha.squeeze_dim(0).to_device(Device::Cpu));
            fgrs.push(out.fgr.squeeze_dim(0).to_device(Device::Cpu));
            rec = Some(out.state);
            i += t;
        }
        (Tensor::cat(&phas, 0), Tensor::cat(&fgrs, 0))
    })
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ValScores {
    /// MAD x 1e3, mean over clips of the per-clip frame mean.
    pub mad: f64,
    /// mIoU fraction at threshold 0.5.
    pub miou: f64,
    /// Fraction of held-object pixels predicted as foreground (None when the
    /// clips have no held objects).
    pub object_recall: Option<f64>,
}

pub fn validate(net: &dyn Matter, params: &ParamSet, clips: &[ClipTensors], device: Device) -> ValScores {
    let (mut mad, mut miou, mut rec_sum, mut rec_n) = (0.0, 0.0, 0.0, 0);
    for c in clips {
        let (pha, _) = predict_clip(net, params, c, 8, device);
        let (mut cm, mut ci) = (0.0, 0.0);
        for f in 0..c.len() {
            let p = to_plane(&pha.get(f));
            let t = to_plane(&c.pha.get(f));
            cm += metrics::mad(&p, &t).expect("same size");
            ci += metrics::miou(&p, &t, metrics::DEFAULT_MIOU_THRESHOLD).expect("same size");
            if let Some(m) = c.object_mask(f) {
                if let Ok(Some(r)) = metrics::object_recall(&p, &m, metrics::DEFAULT_MIOU_THRESHOLD) {
                    rec_sum += r;
                    rec_n += 1;
                }
            }
        }
        mad += cm / c.len() as f64;
        miou += ci / c.len() as f64;
    }
    let n = clips.len().max(1) as f64;
    ValScores { mad: mad / n, miou: miou / n, object_recall: (rec_n > 0).then(|| rec_sum / rec_n as f64) }
}
