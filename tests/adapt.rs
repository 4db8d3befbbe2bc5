//! Local adaptation at the smoke profile: a weak model adapted to one HOI
//! clip from a few annotated frames gets better on the clip's held-out
//! frames; the run is deterministic; the CLI writes an adapted checkpoint.

mod common;

use std::process::Command;

use hoimat::adapt::{adapt, AdaptConfig, AugmentConfig, NoisyAnnotator, SamplingKind, Strategy};
use hoimat::model::checkpoint;
use hoimat::prelude::*;
use hoimat::train::supervised::{train, FactoryConfig};
use tch::Device;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-adapt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn factory(dir: &std::path::Path) -> std::path::PathBuf {
    let mut cfg = FactoryConfig::for_profile(Profile::Smoke, 0);
    // 30 steps once sufficed; on the world's version 2 that factory
    // predicted no foreground at all on the clip (mIoU 0.43, alpha clamped
    // at 0, so no gradient), and adaptation had nothing to start from.
    cfg.set_steps(80);
    cfg.threads = 2;
    let p = dir.join("factory.safetensors");
    train(&cfg, &p, false, Device::Cpu).unwrap();
    p
}

#[test]
fn adaptation_learns_the_clip_and_is_deterministic() {
    let _serial = common::serial();
    tch::set_num_threads(2);
    let dir = scratch("learn");
    let f = factory(&dir);
    let (net, _) = checkpoint::load(&f, Device::Cpu).unwrap();
    let set = world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
    let clip = &set.clips[0];
    let mut cfg = AdaptConfig::for_profile(Profile::Smoke);
    cfg.epochs = 8;
    cfg.frames = 10;
    cfg.augment = AugmentConfig::none();
    cfg.strategy = Strategy::Normal;
    cfg.sampling = SamplingKind::Random;
    let ann = NoisyAnnotator { noise: 0.0 };
    let run = adapt(&net, &net, clip, &ann, &[], &cfg, None, |_| {});
    let (first, last) = (&run.log[0], run.log.last().unwrap());
    assert_eq!(run.log.len(), 9);
    let curve: Vec<String> = run.log.iter().map(|l| format!("{:.1}/{:.3}", l.mad, l.miou)).collect();
    assert!(last.mad < first.mad * 0.9, "held-out MAD x1e3 {} -> {} (MAD/mIoU per epoch: {curve:?})", first.mad, last.mad);
    assert!(last.miou > first.miou, "held-out mIoU {} -> {}", first.miou, last.miou);
    assert!(run.captured.iter().all(|&i| i < clip.frames.len()));
    assert_eq!(run.captured.len(), 10.min(clip.frames.len() - 1), "one frame at least is held out");
    // Same seed, same numbers (SGT with augmentation on, too).
    cfg.strategy = Strategy::Sgt;
    cfg.epochs = 2;
    cfg.augment = AugmentConfig::default();
    let bgs: Vec<tch::Tensor> = world::generate("synvm", Profile::Smoke, 0).unwrap().clips.iter().take(3).filter_map(|c| hoimat::train::batch::ClipTensors::from_clip(c).bgr).collect();
    let a = adapt(&net, &net, clip, &NoisyAnnotator { noise: 0.5 }, &bgs, &cfg, None, |_| {});
    let b = adapt(&net, &net, clip, &NoisyAnnotator { noise: 0.5 }, &bgs, &cfg, None, |_| {});
    let v = |r: &hoimat::adapt::AdaptRun| r.log.iter().map(|l| (l.miou, l.mad)).collect::<Vec<_>>();
    assert_eq!(v(&a), v(&b));
}

#[test]
fn adapt_cli_writes_a_checkpoint_and_rejects_a_missing_clip() {
    let _serial = common::serial();
    let dir = scratch("cli");
    let f = factory(&dir);
    let data = dir.join("data");
    hoimat::data::export::generate(SetName::SynVbhoi, Profile::Smoke, 0, &data, hoimat::data::export::Format::Png).unwrap();
    let clip = std::fs::read_dir(data.join("synvbhoi")).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).min().unwrap();
    let out = dir.join("adapted.safetensors");
    let o = Command::new(env!("CARGO_BIN_EXE_hoimat"))
        .args(["adapt", "--profile", "smoke", "--epochs", "2", "--cpu", "--ckpt"])
        .arg(&f)
        .arg("--clip")
        .arg(&clip)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("epoch   2: held-out mIoU"), "{text}");
    let side = checkpoint::read_sidecar(&out).unwrap();
    assert_eq!(side.provenance["trainer"], "local_adaptation");
    assert_eq!(side.provenance["log"].as_array().unwrap().len(), 3);
    let bad = Command::new(env!("CARGO_BIN_EXE_hoimat")).args(["adapt", "--cpu", "--ckpt"]).arg(&f).args(["--clip", "/nonexistent/clip", "--out"]).arg(&out).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/clip"));
}

/// A user's recording of `clip`: its frames encoded by hoimat's writer to
/// `video`, and the world's true alpha of every frame but the last saved
/// as labels in `labels` (named by frame index).
fn write_recording(clip: &hoimat::frame::Clip, video: &std::path::Path, labels: &std::path::Path) {
    let (w, h) = clip.frames[0].size();
    let mut v = hoimat::data::video::VideoWriter::create(video, w as u32, h as u32, (25, 1), 20.0).unwrap();
    for fr in &clip.frames {
        v.write(&fr.com.to_u8()).unwrap();
    }
    v.finish().unwrap();
    std::fs::create_dir_all(labels).unwrap();
    for i in 0..clip.frames.len() - 1 {
        image::save_buffer(labels.join(format!("{i:06}.png")), &clip.frames[i].pha.to_u8(), w as u32, h as u32, image::ColorType::L8).unwrap();
    }
}

/// A recording with the user's own labels (`adapt --clip VIDEO --labels
/// DIR`): the frames come from the video, only labelled frames train or
/// score, the model learns the clip, and every bad label is an error naming
/// its file.
#[test]
fn adaptation_on_a_recording_with_user_labels() {
    let _serial = common::serial();
    tch::set_num_threads(2);
    let dir = scratch("footage");
    let f = factory(&dir);
    let set = world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
    let clip = &set.clips[0];
    let (w, h) = clip.frames[0].size();
    // The user labels all frames but the last (here with the world's true
    // alpha; the smoke clip has 8 frames, and two training frames were
    // measured to be too few to move the factory).
    let (video, labels) = (dir.join("recording.mp4"), dir.join("labels"));
    write_recording(clip, &video, &labels);
    let last = clip.frames.len() - 1;
    let labelled: Vec<usize> = (0..last).collect();
    let rec = hoimat::adapt::footage::load(&video, &labels, None, 300).unwrap();
    assert_eq!(rec.clip.frames.len(), clip.frames.len());
    assert_eq!(rec.labelled, labelled);
    assert!(rec.clip.frames[last].pha.data.iter().all(|&a| a == 0.0), "an unlabelled frame holds no alpha");
    assert_eq!(rec.clip.frames[2].pha.to_u8(), clip.frames[2].pha.to_u8());
    let capture = rec.capture(2).unwrap();
    // Two of the labelled frames, spread: the first and the middle one.
    assert_eq!(capture.scored, vec![labelled[0], labelled[labelled.len() / 2]]);
    assert_eq!(capture.captured.len(), labelled.len() - 2);
    assert!(capture.captured.iter().all(|i| labelled.contains(i) && !capture.scored.contains(i)));
    let (net, _) = checkpoint::load(&f, Device::Cpu).unwrap();
    let mut cfg = AdaptConfig::for_profile(Profile::Smoke);
    cfg.epochs = 8;
    cfg.augment = AugmentConfig::none();
    cfg.strategy = Strategy::Normal;
    let scored = capture.scored.clone();
    let run = hoimat::adapt::adapt_capture(&net, &net, &rec.clip, capture, &[], &cfg, None, |_| {});
    assert_eq!(run.scored, scored);
    assert!(run.label_mad.is_nan(), "no truth to hold the user's labels against");
    let (first, last) = (&run.log[0], run.log.last().unwrap());
    let curve: Vec<String> = run.log.iter().map(|l| format!("{:.1}/{:.3}", l.mad, l.miou)).collect();
    assert!(last.mad < first.mad * 0.9, "held-out MAD x1e3 {} -> {} ({curve:?})", first.mad, last.mad);
    assert!(rec.capture(labelled.len()).is_err(), "at least one labelled frame trains");

    // The CLI: the same, and its errors.
    let hoimat = |args: &[&std::ffi::OsStr]| Command::new(env!("CARGO_BIN_EXE_hoimat")).args(["adapt", "--profile", "smoke", "--epochs", "1", "--cpu", "--ckpt"]).arg(&f).args(args).output().unwrap();
    let out = dir.join("adapted.safetensors");
    let o = hoimat(&["--clip".as_ref(), video.as_os_str(), "--labels".as_ref(), labels.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let side = checkpoint::read_sidecar(&out).unwrap();
    assert_eq!(side.provenance["annotator"], "user labels");
    assert_eq!(side.provenance["scored"].as_array().unwrap().len(), labelled.len() / 4);
    assert_eq!(side.provenance["label_files"].as_array().unwrap().len(), labelled.len());
    let fails = |args: &[&std::ffi::OsStr], names: &std::path::Path, want: &str| {
        let o = hoimat(args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && e.contains(&names.display().to_string()) && e.contains(want), "{want}: {e}");
    };
    fails(&["--clip".as_ref(), video.as_os_str(), "--out".as_ref(), out.as_os_str()], &video, "--labels");
    let bad = |name: &str, w: u32, h: u32| {
        let d = dir.join(format!("bad-{name}"));
        std::fs::create_dir_all(&d).unwrap();
        image::save_buffer(d.join(name), &vec![255u8; (w * h) as usize], w, h, image::ColorType::L8).unwrap();
        d
    };
    let d = bad("first.png", w as u32, h as u32);
    fails(&["--clip".as_ref(), video.as_os_str(), "--labels".as_ref(), d.as_os_str(), "--out".as_ref(), out.as_os_str()], &d.join("first.png"), "frame's index");
    let d = bad("999.png", w as u32, h as u32);
    fails(&["--clip".as_ref(), video.as_os_str(), "--labels".as_ref(), d.as_os_str(), "--out".as_ref(), out.as_os_str()], &d.join("999.png"), "frames");
    let d = bad("000001.png", 10, 10);
    fails(&["--clip".as_ref(), video.as_os_str(), "--labels".as_ref(), d.as_os_str(), "--out".as_ref(), out.as_os_str()], &d.join("000001.png"), "10x10");
}

/// An adaptation experiment takes a user's recording beside (or instead of)
/// the synthetic sets: paths relative to the definition file, rows under
/// the dataset `recording`, a table of its own, and a run key that follows
/// the recording's contents, not where it lies.
#[test]
fn an_adaptation_experiment_adapts_to_a_recording() {
    use hoimat::experiments::definition::Definition;
    use hoimat::experiments::Lab;
    let _serial = common::serial();
    tch::set_num_threads(2);
    let dir = scratch("experiment-recording");
    let set = world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
    let clip = &set.clips[0];
    let (w, h) = clip.frames[0].size();
    let footage = dir.join("defs/footage");
    write_recording(clip, &footage.join("desk.mp4"), &footage.join("labels"));
    std::fs::write(
        dir.join("defs/mine.toml"),
        "id = 'mine'\ntitle = 'SGT on my recording'\nkind = 'adaptation'\nmethods = ['rvm']\nseeds = [0]\n\
         [adaptation]\narms = [{ name = 'sgt', epochs = 2 }, { name = 'normal', strategy = 'normal', epochs = 2 }]\n\
         [[adaptation.recordings]]\nclip = 'footage/desk.mp4'\nlabels = 'footage/labels'\nholdout = 2\n\
         [[charts]]\nkind = 'curve'\nmetric = 'miou'\n",
    )
    .unwrap();
    let def = Definition::load(&dir.join("defs/mine.toml")).unwrap();
    let rec = &def.adaptation.as_ref().unwrap().recordings[0];
    assert_eq!((rec.clip.clone(), rec.name()), (footage.join("desk.mp4"), "desk".to_string()));
    let lab = Lab::new(dir.join("results"), Profile::Smoke, Device::Cpu);
    let out = lab.run(&def).unwrap();
    for arm in ["rvm+sgt", "rvm+normal"] {
        let of = |metric: &str| out.rows.iter().filter(|r| r.row.method == arm && r.row.metric == metric).map(|r| &r.row).collect::<Vec<_>>();
        let curve = of("miou");
        assert_eq!(curve.len(), 3, "{arm}: epochs 0..=2");
        assert!(curve.iter().all(|r| r.dataset == "recording" && r.clip == "desk" && r.value.is_some_and(|v| (0.0..=1.0).contains(&v))));
        assert_eq!(of("miou_after").len(), 1);
        assert!(of("label_mad").is_empty(), "no truth to score the user's labels against");
    }
    let before = |arm: &str| out.rows.iter().find(|r| r.row.method == arm && r.row.metric == "miou_before").unwrap().row.value;
    assert_eq!(before("rvm+sgt"), before("rvm+normal"), "both arms start from the same model on the same frames");
    let (md, _) = hoimat::experiments::report::render(&out, &hoimat::experiments::report::PaperNumbers::builtin());
    assert!(md.contains("your own recordings (desk)"), "{md}");
    // Its table has numbers (the usual adaptation columns, none named here).
    let row = md.lines().find(|l| l.contains("sgt") && l.starts_with('|')).unwrap_or_else(|| panic!("{md}"));
    assert!(row.split('|').filter(|c| c.trim().parse::<f64>().is_ok()).count() >= 3, "{row}");
    // A chart with no dataset named draws the recording's curves.
    let figs = lab.draw_figures(&out).unwrap();
    assert_eq!(figs.len(), 1);
    assert!(figs[0].title.contains("on your recordings"), "{}", figs[0].title);
    // The run's key: the same for a moved copy, new for a changed label.
    let key = |d: &Definition| lab.runs_of(d).unwrap()[0].config_hash.clone();
    let k0 = key(&def);
    let moved = dir.join("elsewhere");
    std::fs::create_dir_all(moved.join("footage/labels")).unwrap();
    for f in std::fs::read_dir(footage.join("labels")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, moved.join("footage/labels").join(f.file_name().unwrap())).unwrap();
    }
    std::fs::copy(footage.join("desk.mp4"), moved.join("footage/desk.mp4")).unwrap();
    std::fs::copy(dir.join("defs/mine.toml"), moved.join("mine.toml")).unwrap();
    assert_eq!(key(&Definition::load(&moved.join("mine.toml")).unwrap()), k0);
    image::save_buffer(moved.join("footage/labels/000001.png"), &vec![255u8; w * h], w as u32, h as u32, image::ColorType::L8).unwrap();
    assert_ne!(key(&Definition::load(&moved.join("mine.toml")).unwrap()), k0);
    // Labels that cannot both train and score are refused before any work.
    let one = moved.join("one_label");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::copy(footage.join("labels/000000.png"), one.join("000000.png")).unwrap();
    std::fs::write(moved.join("one.toml"), std::fs::read_to_string(moved.join("mine.toml")).unwrap().replace("labels = 'footage/labels'\nholdout = 2", "labels = 'one_label'")).unwrap();
    let e = format!("{:#}", lab.run(&Definition::load(&moved.join("one.toml")).unwrap()).err().expect("one label cannot train and score"));
    assert!(e.contains("recording desk") && e.contains("two at least"), "{e}");
    // A recording that is not there is an error naming it.
    std::fs::remove_file(moved.join("footage/desk.mp4")).unwrap();
    let e = format!("{:#}", lab.run(&Definition::load(&moved.join("mine.toml")).unwrap()).err().expect("a missing recording fails"));
    assert!(e.contains("desk.mp4"), "{e}");
}
