//! Files: RVM's layout round trip, HDF5 (read back by us and by h5py), the
//! loaders of the real layouts, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use hoimat::data::export::{generate, Format};
use hoimat::data::loaders;
use hoimat::prelude::*;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hoimat-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn quantized(c: &Clip) -> Vec<Vec<u8>> {
    c.frames.iter().map(|f| [f.com.to_u8(), f.pha.to_u8(), f.fgr.as_ref().unwrap().to_u8()].concat()).collect()
}

#[test]
fn png_layout_round_trips() {
    let out = scratch("png");
    let g = generate(SetName::SynVbhoi, Profile::Smoke, 2, &out, Format::Png).unwrap();
    assert_eq!(g.path, out.join("synvbhoi"));
    let m = hoimat::data::png::read_manifest(&g.path).unwrap();
    assert_eq!((m.set.as_str(), m.profile.as_str(), m.seed), ("synvbhoi", "smoke", 2));
    assert!(g.path.join(&m.clips[0].name).join("com").join("0000.png").is_file());
    let loaded = loaders::load_composited(&g.path).unwrap();
    let fresh = world::generate("synvbhoi", Profile::Smoke, 2).unwrap();
    assert_eq!(loaded.len(), fresh.clips.len());
    for (a, b) in loaded.iter().zip(&fresh.clips) {
        assert_eq!(a.meta, b.meta, "manifest metadata comes back");
        assert_eq!(quantized(a), quantized(b));
        assert_eq!(a.frames[0].label, b.frames[0].label);
    }
    // the same seed written twice gives byte-identical files
    let out2 = scratch("png2");
    generate(SetName::SynVbhoi, Profile::Smoke, 2, &out2, Format::Png).unwrap();
    let f = |root: &Path| std::fs::read(root.join("synvbhoi").join(&m.clips[1].name).join("pha").join("0003.png")).unwrap();
    assert_eq!(f(&out), f(&out2));
}

#[test]
fn hdf5_round_trips_and_h5py_reads_it() {
    let out = scratch("h5");
    let g = generate(SetName::SynMeta, Profile::Smoke, 0, &out, Format::Hdf5).unwrap();
    let (m, clips) = hoimat::data::h5::read_set(&g.path).unwrap();
    let fresh = world::generate("synmeta", Profile::Smoke, 0).unwrap();
    assert_eq!(m, fresh.manifest);
    for (a, b) in clips.iter().zip(&fresh.clips) {
        assert_eq!(quantized(a), quantized(b));
    }
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
m = json.loads(f.attrs["manifest"])
g = f["clips"][m["clips"][0]["name"]]
com, pha = g["com"], g["pha"]
assert com.dtype == "uint8" and com.ndim == 4 and com.shape[3] == 3, com
assert com.chunks[0] == 1 and com.compression == "gzip"
print(json.dumps({"set": m["set"], "shape": list(pha.shape), "sum": int(pha[...].astype("int64").sum())}))
"#;
    let o = Command::new(py).args(["-c", script]).arg(&g.path).output().expect("python runs");
    assert!(o.status.success(), "h5py failed: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["set"], "synmeta");
    let f0 = &fresh.clips[0];
    assert_eq!(v["shape"], serde_json::json!([f0.frames.len(), 36, 64, 1]));
    let sum: i64 = f0.frames.iter().map(|f| f.pha.to_u8().iter().map(|b| *b as i64).sum::<i64>()).sum();
    assert_eq!(v["sum"], sum);
}

#[test]
fn videomatte_layout_loads_and_composites() {
    let out = scratch("vm");
    let g = generate(SetName::SynVm, Profile::Smoke, 5, &out, Format::VideoMatte).unwrap();
    assert!(g.path.join("train").join("fgr").is_dir() && g.path.join("test").join("pha").is_dir());
    let test = loaders::load_videomatte(&g.path, "test", 0).unwrap();
    assert_eq!(test.len(), 2);
    for c in &test {
        for f in &c.frames {
            let (fg, bg) = (f.fgr.as_ref().unwrap(), f.bgr.as_ref().unwrap());
            for i in 0..f.pha.data.len() {
                let a = f.pha.data[i];
                for k in 0..3 {
                    let j = 3 * i + k;
                    assert!((f.com.data[j] - (a * fg.data[j] + (1.0 - a) * bg.data[j])).abs() < 1e-6);
                }
            }
        }
    }
    // same seed, same background choice
    let again = loaders::load_videomatte(&g.path, "test", 0).unwrap();
    assert_eq!(quantized(&test[0]), quantized(&again[0]));
}

#[test]
fn image_set_layout_loads() {
    let root = scratch("img");
    std::fs::create_dir_all(root.join("image")).unwrap();
    std::fs::create_dir_all(root.join("alpha")).unwrap();
    let ds = world::generate("synibhoi", Profile::Smoke, 0).unwrap();
    for c in ds.clips.iter().take(3) {
        let f = &c.frames[0];
        let (w, h) = f.size();
        image::save_buffer(root.join("image").join(format!("{}.png", c.meta.name)), &f.com.to_u8(), w as u32, h as u32, image::ColorType::Rgb8).unwrap();
        image::save_buffer(root.join("alpha").join(format!("{}.png", c.meta.name)), &f.pha.to_u8(), w as u32, h as u32, image::ColorType::L8).unwrap();
    }
    let clips = loaders::load_image_set(&root).unwrap();
    assert_eq!(clips.len(), 3);
    assert_eq!(clips[1].frames[0].pha.to_u8(), ds.clips[1].frames[0].pha.to_u8());
}

#[test]
fn bad_input_names_the_file_and_the_problem() {
    let out = scratch("bad");
    let g = generate(SetName::SynVbhoi, Profile::Smoke, 0, &out, Format::Png).unwrap();
    let m = hoimat::data::png::read_manifest(&g.path).unwrap();
    let clip = g.path.join(&m.clips[0].name);

    // missing frame
    let gone = clip.join("pha").join("0003.png");
    std::fs::remove_file(&gone).unwrap();
    let e = loaders::load_clip(&clip).unwrap_err().to_string();
    assert!(e.contains("0003") && e.contains("missing frame"), "{e}");

    // unreadable image
    std::fs::write(&gone, b"not a png").unwrap();
    let e = loaders::load_clip(&clip).unwrap_err().to_string();
    assert!(e.contains(&gone.display().to_string()) && e.contains("cannot read image"), "{e}");

    // size mismatch
    image::save_buffer(&gone, &[0u8; 4], 2, 2, image::ColorType::L8).unwrap();
    let e = loaders::load_clip(&clip).unwrap_err().to_string();
    assert!(e.contains(&gone.display().to_string()) && e.contains("2x2") && e.contains("64x36"), "{e}");

    // extra frame
    let clip2 = g.path.join(&m.clips[1].name);
    std::fs::copy(clip2.join("pha").join("0000.png"), clip2.join("pha").join("0099.png")).unwrap();
    let e = loaders::load_clip(&clip2).unwrap_err().to_string();
    assert!(e.contains("0099") && e.contains("extra frame"), "{e}");

    // missing folders
    let e = loaders::load_videomatte(&out, "train", 0).unwrap_err().to_string();
    assert!(e.contains("train") && e.contains("missing folder"), "{e}");
    let e = loaders::load_image_set(&out).unwrap_err().to_string();
    assert!(e.contains("image"), "{e}");
    let e = loaders::load_composited(&out.join("nope")).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("not a folder"), "{e}");
}
