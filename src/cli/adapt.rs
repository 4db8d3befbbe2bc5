//! `hoimat adapt`: local adaptation of a model to one clip or recording.

use std::path::PathBuf;

use anyhow::{Context, Result};

use hoimat::profile::Profile;

#[derive(clap::Args)]
pub struct AdaptArgs {
    /// The model to adapt (e.g. a MAML-RAL checkpoint).
    #[arg(long)]
    pub ckpt: PathBuf,
    /// The factory model theta_f for CC and FC (default: the one the
    /// checkpoint was meta-trained from, per its sidecar).
    #[arg(long)]
    pub factory: Option<PathBuf>,
    /// A clip folder with com/ and pha/ (pha is the truth the simulated
    /// annotator degrades and the held-out frames are scored against),
    /// or your own recording: a video file or a folder of frames, with
    /// `--labels`.
    #[arg(long)]
    pub clip: PathBuf,
    /// For a recording: your alpha mattes of some of its frames, named by
    /// frame index in decoding order (000012.png). They are what the
    /// model trains on, but `--holdout` of them, which are scored.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Labelled frames held out for scoring (default: a quarter).
    #[arg(long)]
    pub holdout: Option<usize>,
    /// For a recording: resize frames (and labels) to WxH.
    #[arg(long)]
    pub input_resize: Option<String>,
    /// For a recording: frames read at most (all are held in memory).
    #[arg(long, default_value_t = 300)]
    pub max_frames: usize,
    /// Profile for the defaults and the background pool.
    #[arg(long, default_value = "quick")]
    pub profile: Profile,
    #[arg(long)]
    pub frames: Option<usize>,
    #[arg(long)]
    pub strategy: Option<hoimat::adapt::Strategy>,
    #[arg(long)]
    pub sampling: Option<hoimat::adapt::SamplingKind>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub groups: Option<usize>,
    /// Frames per sequence (k).
    #[arg(long)]
    pub seq_len: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Label noise of the simulated annotator (0 = perfect).
    #[arg(long, default_value_t = 0.3)]
    pub noise: f32,
    #[arg(long)]
    pub no_cc: bool,
    #[arg(long)]
    pub no_fc: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// RVM's downsample_ratio for scoring the held-out frames (as `infer`'s).
    #[arg(long)]
    pub downsample_ratio: Option<f64>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub cpu: bool,
}

pub fn run(a: AdaptArgs) -> Result<()> {
    let AdaptArgs { ckpt, factory, clip, labels, holdout, input_resize, max_frames, profile, frames, strategy, sampling, epochs, groups, seq_len, lr, noise, no_cc, no_fc, seed, downsample_ratio, out, cpu } = a;
    let mut cfg = hoimat::adapt::AdaptConfig::for_profile(profile);
    cfg.frames = frames.unwrap_or(cfg.frames);
    cfg.strategy = strategy.unwrap_or(cfg.strategy);
    cfg.sampling = sampling.unwrap_or(cfg.sampling);
    cfg.epochs = epochs.unwrap_or(cfg.epochs);
    cfg.groups = groups.unwrap_or(cfg.groups);
    cfg.seq_len = seq_len.unwrap_or(cfg.seq_len);
    cfg.lr = lr.unwrap_or(cfg.lr);
    cfg.seed = seed;
    if let Some(r) = downsample_ratio {
        anyhow::ensure!(r > 0.0 && r <= 1.0, "--downsample-ratio must be in (0, 1], got {r}");
    }
    cfg.downsample_ratio = downsample_ratio;
    if no_cc {
        cfg.weights.g3 = 0.0;
    }
    if no_fc {
        cfg.weights.g2 = 0.0;
    }
    let footage = Footage { labels, holdout, resize: input_resize.as_deref().map(super::parse_size).transpose()?, max_frames };
    adapt_cmd(&ckpt, factory.as_deref(), &clip, &footage, profile, noise, &cfg, &out, hoimat::torch_env::device(cpu))
}

/// `adapt`'s options for a recording (a video or a folder of frames).
#[derive(serde::Serialize)]
struct Footage {
    labels: Option<PathBuf>,
    holdout: Option<usize>,
    resize: Option<(u32, u32)>,
    max_frames: usize,
}

#[allow(clippy::too_many_arguments)]
fn adapt_cmd(
    ckpt: &std::path::Path,
    factory: Option<&std::path::Path>,
    clip_dir: &std::path::Path,
    footage: &Footage,
    profile: Profile,
    noise: f32,
    cfg: &hoimat::adapt::AdaptConfig,
    out: &std::path::Path,
    device: tch::Device,
) -> Result<()> {
    use hoimat::model::checkpoint;
    let (model, side) = checkpoint::load(ckpt, device)?;
    let factory_path = match factory {
        Some(p) => p.to_path_buf(),
        None => side.provenance["config"]["factory"]
            .as_str()
            .or_else(|| side.provenance["config"]["init"].as_str())
            .map(PathBuf::from)
            .unwrap_or_else(|| ckpt.to_path_buf()),
    };
    let (factory_net, _) = checkpoint::load(&factory_path, device).with_context(|| format!("loading the factory model {}", factory_path.display()))?;
    // A clip folder holds its truth (com/ and pha/); anything else is a
    // recording, whose labels the user made.
    anyhow::ensure!(clip_dir.exists(), "{}: no such file or folder", clip_dir.display());
    let recording = !clip_dir.join("com").is_dir();
    if !recording && (footage.holdout.is_some() || footage.resize.is_some()) {
        anyhow::bail!("{}: a clip folder is scored on every frame not captured; --holdout and --input-resize are for a video or a folder of frames", clip_dir.display());
    }
    let rec = match (&footage.labels, recording) {
        (Some(labels), true) => Some(hoimat::adapt::footage::load(clip_dir, labels, footage.resize, footage.max_frames)?),
        (None, true) => anyhow::bail!("{}: a recording has no truth; give your alpha mattes of some of its frames with --labels DIR (named by frame index, e.g. 000012.png)", clip_dir.display()),
        (Some(_), false) => anyhow::bail!("{}: a clip folder (com/, pha/) is labelled by the simulated annotator; --labels is for a video or a folder of frames", clip_dir.display()),
        (None, false) => None,
    };
    let loaded;
    let clip = match &rec {
        Some(r) => &r.clip,
        None => {
            loaded = hoimat::data::loaders::load_clip(clip_dir)?;
            &loaded
        }
    };
    let (w, h) = clip.frames[0].size();
    // Background pool: the synvm training clips' backgrounds, when their size matches.
    let backgrounds: Vec<tch::Tensor> = if profile.frame_size() == (w, h) {
        hoimat::world::generate("synvm", profile, 0)?.clips.iter().filter(|c| c.meta.split == "train").filter_map(|c| hoimat::train::batch::ClipTensors::from_clip(c).bgr).collect()
    } else {
        eprintln!("note: {}x{} differs from the {profile} profile's size; background replacement is off", w, h);
        vec![]
    };
    let on_epoch = |l: &hoimat::adapt::EpochLog| println!("epoch {:>3}: held-out mIoU {:.4}, MAD {:.2} (x1e3), train {:.1} s", l.epoch, l.miou, l.mad, l.train_s);
    if let Some(rec) = &rec {
        let capture = rec.capture(footage.holdout.unwrap_or(rec.default_holdout()))?;
        println!(
            "adapting {} to {} ({} frames of {w}x{h}, your labels): {} labelled frames train, {} scored ({:?}), {:?} / {:?}, {} epochs, lr {}, factory {}",
            ckpt.display(), clip_dir.display(), clip.frames.len(), capture.captured.len(), capture.scored.len(), capture.scored, cfg.strategy, cfg.sampling, cfg.epochs, cfg.lr, factory_path.display()
        );
        let run = hoimat::adapt::adapt_capture(&model, &factory_net, clip, capture, &backgrounds, cfg, None, on_epoch);
        let prov = serde_json::json!({"trainer": "local_adaptation", "config": cfg, "from": ckpt, "factory": factory_path, "clip": clip_dir, "frames_read": clip.frames.len(), "size": [w, h], "recording": footage, "label_files": rec.label_files, "annotator": "user labels", "captured": run.captured, "scored": run.scored, "log": run.log, "done": true});
        return save_adapted(&model, run, out, prov);
    }
    let annotator = hoimat::adapt::NoisyAnnotator { noise };
    println!(
        "adapting {} to {} ({} frames): {} captured, {:?} / {:?}, {} epochs, lr {}, factory {}",
        ckpt.display(), clip_dir.display(), clip.frames.len(), cfg.frames, cfg.strategy, cfg.sampling, cfg.epochs, cfg.lr, factory_path.display()
    );
    let run = hoimat::adapt::adapt(&model, &factory_net, clip, &annotator, &backgrounds, cfg, None, on_epoch);
    let prov = serde_json::json!({"trainer": "local_adaptation", "config": cfg, "from": ckpt, "factory": factory_path, "clip": clip_dir, "annotator": hoimat::adapt::Annotator::name(&annotator), "captured": run.captured, "log": run.log, "done": true});
    save_adapted(&model, run, out, prov)
}

fn save_adapted(model: &hoimat::model::MattingNet, run: hoimat::adapt::AdaptRun, out: &std::path::Path, prov: serde_json::Value) -> Result<()> {
    let mut adapted = model.duplicate();
    adapted.params = run.params.detached(false);
    hoimat::model::checkpoint::save(&adapted, out, prov)?;
    let last = run.log.last().expect("epoch 0 is always logged");
    println!("held-out mIoU {:.4} -> {:.4} in {:.1} s of training -> {}", run.log[0].miou, last.miou, last.train_s, out.display());
    Ok(())
}
