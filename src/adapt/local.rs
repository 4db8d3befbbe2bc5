//! Local adaptation of one clip, end to end (paper Sec. IV-E): capture and
//! annotate a few frames, then train epoch by epoch (SGT or normal, random
//! or sequential sampling, augmented) with the HOI loss against the factory
//! model, scoring the clip's held-out frames after every epoch.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::annotate::{pick_frames, Annotator, FramePolicy};
use super::augment::{augment, AugmentConfig, Seq};
use super::sampling::{epoch_windows, SamplingKind};
use super::sgt::{epoch, Strategy};
use crate::frame::{Clip, Plane};
use crate::meta::constraints::FcConfig;
use crate::meta::hoi_loss::HoiWeights;
use crate::metrics::{self, DEFAULT_MIOU_THRESHOLD};
use crate::model::{MattingNet, ParamSet};
use crate::profile::Profile;
use crate::train::batch::{to_plane, Batch, ClipTensors};
use crate::train::validate::predict_clip_at;
use crate::world::rng::Rand;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptConfig {
    /// Captured (annotated) frames.
    pub frames: usize,
    pub policy: FramePolicy,
    /// k: frames per training sequence.
    pub seq_len: usize,
    pub sampling: SamplingKind,
    pub strategy: Strategy,
    /// G: groups per SGT round (normal training sees as much data per epoch).
    pub groups: usize,
    pub epochs: usize,
    /// SGD step (the paper's default 0.1).
    pub lr: f64,
    pub weights: HoiWeights,
    pub fc: FcConfig,
    pub augment: AugmentConfig,
    pub seed: u64,
    /// RVM's `downsample_ratio` for scoring the held-out frames (None: the
    /// automatic one when the refiner holds RVM's weights, else 1; see
    /// `model::matter::resolve_ratio`). Training runs at full resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downsample_ratio: Option<f64>,
}

impl AdaptConfig {
    pub fn for_profile(p: Profile) -> AdaptConfig {
        let (frames, k, groups, epochs) = match p {
            Profile::Smoke => (6, 3, 2, 3),
            Profile::Quick => (12, 6, 4, 12),
            Profile::Paper => (40, 10, 10, 50),
        };
        AdaptConfig {
            frames,
            policy: FramePolicy::Spread,
            seq_len: k,
            sampling: SamplingKind::Random,
            strategy: Strategy::Sgt,
            groups,
            epochs,
            lr: 0.1,
            weights: HoiWeights::default(),
            fc: FcConfig::default(),
            augment: AugmentConfig::default(),
            seed: 0,
            downsample_ratio: None,
        }
    }
}

/// Scores after an epoch (epoch 0 = before adaptation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean over held-out frames, against the true alpha.
    pub miou: f64,
    /// MAD x1e3 on held-out frames.
    pub mad: f64,
    pub loss: Option<f64>,
    /// Seconds of training so far (evaluation excluded).
    pub train_s: f64,
    /// The caller's extra measurement (the forgetting test's MAD on a
    /// human-only clip), when asked for.
    pub probe: Option<f64>,
}

pub struct AdaptRun {
    pub params: ParamSet,
    pub log: Vec<EpochLog>,
    pub captured: Vec<usize>,
    /// The frames scored after every epoch.
    pub scored: Vec<usize>,
    /// How good the annotator's labels were: mean over the captured frames
    /// of MAD (x1e3) and mIoU against the true alpha.
    pub label_mad: f64,
    pub label_miou: f64,
}

/// Held-out mIoU and MAD of `params` on `clip` (recurrent state carried
/// through the whole clip), over the frames `scored` against `truth`; NaN
/// when nothing is scored.
pub fn held_out_scores(net: &MattingNet, params: &ParamSet, clip: &ClipTensors, truth: &[Plane], scored: &[usize], device: Device, ratio: f64) -> (f64, f64) {
    if scored.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (pha, _) = predict_clip_at(net, params, clip, 8, device, ratio);
    let (mut miou, mut mad) = (0.0, 0.0);
    for &i in scored {
        let p = to_plane(&pha.get(i as i64)).quantised();
        miou += metrics::miou(&p, &truth[i], DEFAULT_MIOU_THRESHOLD).expect("same size");
        mad += metrics::mad(&p, &truth[i]).expect("same size");
    }
    (miou / scored.len() as f64, mad / scored.len() as f64)
}

/// What adaptation trains on and what it scores: the captured frames with
/// their labels, and the frames scored after every epoch against the
/// clip's alpha.
pub struct Capture {
    /// Sorted frame indices.
    pub captured: Vec<usize>,
    /// One label per captured frame.
    pub labels: Vec<Plane>,
    /// Sorted frame indices, disjoint from `captured`.
    pub scored: Vec<usize>,
}

/// Adapt `model` to `clip`. `backgrounds` feed background replacement
/// ([N, 3, H, W] clips of the clip's size); `probe` is measured after
/// every epoch when given.
#[allow(clippy::too_many_arguments)]
pub fn adapt(
    model: &MattingNet,
    factory: &MattingNet,
    clip: &Clip,
    annotator: &dyn Annotator,
    backgrounds: &[Tensor],
    cfg: &AdaptConfig,
    probe: Option<&dyn Fn(&MattingNet, &ParamSet) -> f64>,
    on_epoch: impl FnMut(&EpochLog),
) -> AdaptRun {
    let truth: Vec<Plane> = clip.frames.iter().map(|f| f.pha.quantised()).collect();
    let captured = pick_frames(clip.frames.len(), cfg.frames, cfg.policy);
    // Annotate the captured frames once, as a user would.
    let mut ar = Rand::keyed(&format!("adapt/annotate/{}", clip.meta.name), cfg.seed);
    let labels: Vec<Plane> = captured.iter().map(|&i| annotator.annotate(&clip.frames[i].com, &clip.frames[i].pha, &mut ar)).collect();
    let n = captured.len();
    let (mut label_mad, mut label_miou) = (0.0, 0.0);
    for (l, &i) in labels.iter().zip(&captured) {
        let q = l.quantised();
        label_mad += metrics::mad(&q, &truth[i]).expect("same size") / n as f64;
        label_miou += metrics::miou(&q, &truth[i], DEFAULT_MIOU_THRESHOLD).expect("same size") / n as f64;
    }
    let scored = (0..clip.frames.len()).filter(|i| !captured.contains(i)).collect();
    let run = adapt_capture(model, factory, clip, Capture { captured, labels, scored }, backgrounds, cfg, probe, on_epoch);
    AdaptRun { label_mad, label_miou, ..run }
}

/// Adapt `model` to `clip` from a given capture: the loop of [`adapt`],
/// for labels that come from elsewhere (a user's own annotations of their
/// footage, `adapt::footage`). The run's label scores are NaN: there is no
/// truth to hold the labels against.
#[allow(clippy::too_many_arguments)]
pub fn adapt_capture(
    model: &MattingNet,
    factory: &MattingNet,
    clip: &Clip,
    capture: Capture,
    backgrounds: &[Tensor],
    cfg: &AdaptConfig,
    probe: Option<&dyn Fn(&MattingNet, &ParamSet) -> f64>,
    mut on_epoch: impl FnMut(&EpochLog),
) -> AdaptRun {
    let device = model.device();
    let net = model.duplicate();
    let ct = ClipTensors::from_clip(clip);
    let truth: Vec<Plane> = clip.frames.iter().map(|f| f.pha.quantised()).collect();
    let Capture { captured, labels, scored } = capture;
    let ix = Tensor::from_slice(&captured.iter().map(|&i| i as i64).collect::<Vec<_>>());
    let com = ct.com.index_select(0, &ix);
    let (h, w) = (com.size()[2], com.size()[3]);
    let pha = Tensor::stack(&labels.iter().map(|l| Tensor::from_slice(&l.data).view([1, h, w])).collect::<Vec<_>>(), 0);
    let n = captured.len();
    let (label_mad, label_miou) = (f64::NAN, f64::NAN);

    let ratio = match cfg.downsample_ratio {
        Some(r) => r,
        None => crate::model::matter::resolve_ratio(&net, None, h, w, crate::model::matter::refiner_trained(&net)).expect("no ratio given"),
    };
    let mut params = net.params.detached(true);
    let (miou, mad) = held_out_scores(&net, &params, &ct, &truth, &scored, device, ratio);
    let mut log = vec![EpochLog { epoch: 0, miou, mad, loss: None, train_s: 0.0, probe: probe.map(|f| f(&net, &params)) }];
    on_epoch(&log[0]);
    let mut train_s = 0.0;
    for e in 1..=cfg.epochs {
        let t0 = Instant::now();
        let mut r = Rand::keyed(&format!("adapt/epoch/{}/{e}", clip.meta.name), cfg.seed);
        let groups: Vec<Vec<Batch>> = (0..cfg.groups.max(1))
            .map(|_| {
                epoch_windows(n, cfg.seq_len, cfg.sampling, &mut r)
                    .into_iter()
                    .map(|s| {
                        let k = cfg.seq_len.min(n) as i64;
                        let seq = Seq { com: com.narrow(0, s as i64, k), pha: pha.narrow(0, s as i64, k), fgr: com.narrow(0, s as i64, k) };
                        let a = augment(seq, &cfg.augment, backgrounds, &mut r);
                        Batch::new(a.com.unsqueeze(0), a.pha.unsqueeze(0), a.fgr.unsqueeze(0)).to_device(device)
                    })
                    .collect()
            })
            .collect();
        let (next, loss) = epoch(&net, &params, factory, &groups, cfg.strategy, &cfg.weights, &cfg.fc, cfg.lr);
        params = next;
        train_s += t0.elapsed().as_secs_f64();
        let (miou, mad) = held_out_scores(&net, &params, &ct, &truth, &scored, device, ratio);
        let line = EpochLog { epoch: e, miou, mad, loss: Some(loss), train_s, probe: probe.map(|f| f(&net, &params)) };
        on_epoch(&line);
        log.push(line);
    }
    AdaptRun { params, log, captured, scored, label_mad, label_miou }
}

/// Epochs until held-out mIoU first reaches `threshold` (None if never).
pub fn epochs_to(log: &[EpochLog], threshold: f64) -> Option<usize> {
    log.iter().find(|l| l.miou >= threshold).map(|l| l.epoch)
}

/// Mean absolute epoch-to-epoch change of mIoU over the second half of the
/// epochs (after convergence): the fluctuation SGT is meant to damp.
pub fn fluctuation(log: &[EpochLog]) -> f64 {
    let tail: Vec<f64> = log.iter().skip(1 + log.len().saturating_sub(1) / 2).map(|l| l.miou).collect();
    if tail.len() < 2 {
        return 0.0;
    }
    tail.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (tail.len() - 1) as f64
}
