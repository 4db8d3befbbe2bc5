//! The trees `hoimat eval` compares: where the clips are, which frames
//! both sides have. Either side may be a root of sets
//! (`<root>/<set>/<clip>/pha/*.png`, RVM's evaluation layout) or one set
//! folder (`<set>/<clip>/pha/*.png`, what `hoimat infer` writes for a set
//! and what `data generate` writes per set); the layout is detected, and
//! two sides laid out differently are one clear error naming both.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::eval::{EvalError, EvalOptions};

/// True when `dir` holds clips directly (some `<clip>/pha/` below it).
fn is_set_folder(dir: &Path) -> Result<bool, EvalError> {
    Ok(subdirs(dir, false)?.iter().any(|c| dir.join(c).join("pha").is_dir()))
}

/// The (set name, truth folder, prediction folder) pairs to compare.
fn sets(pred_dir: &Path, true_dir: &Path) -> Result<Vec<(OsString, PathBuf, PathBuf)>, EvalError> {
    match (is_set_folder(pred_dir)?, is_set_folder(true_dir)?) {
        (true, true) => {
            let name = true_dir.file_name().map(OsString::from).unwrap_or_else(|| OsString::from("set"));
            Ok(vec![(name, true_dir.to_path_buf(), pred_dir.to_path_buf())])
        }
        (false, false) => Ok(union_sorted(subdirs(true_dir, false)?, subdirs(pred_dir, false)?).into_iter().map(|ds| (ds.clone(), true_dir.join(&ds), pred_dir.join(&ds))).collect()),
        (pred_is_set, _) => {
            let (set_side, root_side) = if pred_is_set { (pred_dir, true_dir) } else { (true_dir, pred_dir) };
            Err(EvalError::LayoutMismatch { pred: pred_dir.to_path_buf(), truth: true_dir.to_path_buf(), set_side: set_side.to_path_buf(), root_side: root_side.to_path_buf() })
        }
    }
}

/// One clip after validation: its directories and the shared frame names.
pub(crate) struct Clip {
    pub dataset: String,
    pub clip: String,
    pub pred: PathBuf,
    pub truth: PathBuf,
    pub frames: Vec<OsString>,
    pub fgr: bool,
    /// The truth has `label/` and `person/` (synthetic data): object metrics.
    pub labels: bool,
}

impl Clip {
    pub fn path(&self, pred: bool, kind: &str, i: usize) -> PathBuf {
        let root = if pred { &self.pred } else { &self.truth };
        root.join(kind).join(&self.frames[i])
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io { path: path.to_path_buf(), source }
}

/// Sorted names of the visible subdirectories; a missing `dir` is empty
/// when `allow_missing` (a dataset present on one side only).
fn subdirs(dir: &Path, allow_missing: bool) -> Result<Vec<OsString>, EvalError> {
    if allow_missing && !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if e.path().is_dir() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Sorted image file names (png/jpg/jpeg, any case) in `dir`; byte order, as
/// Python's `sorted(os.listdir(...))` gives for ASCII names.
fn frame_names(dir: &Path) -> Result<Vec<OsString>, EvalError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        let ext = p.extension().map(|x| x.to_string_lossy().to_ascii_lowercase());
        if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) && p.is_file() {
            out.push(e.file_name());
        }
    }
    out.sort();
    Ok(out)
}

fn union_sorted(mut a: Vec<OsString>, b: Vec<OsString>) -> Vec<OsString> {
    a.extend(b);
    a.sort();
    a.dedup();
    a
}

/// Finds every clip on either side and checks that both sides have it with
/// the same frame names.
pub(crate) fn discover(pred_dir: &Path, true_dir: &Path, opts: &EvalOptions) -> Result<Vec<Clip>, EvalError> {
    let mut clips = Vec::new();
    for (ds, tds, pds) in sets(pred_dir, true_dir)? {
        for c in union_sorted(subdirs(&tds, true)?, subdirs(&pds, true)?) {
            let (truth, pred) = (tds.join(&c), pds.join(&c));
            let (tpha, ppha) = (truth.join("pha"), pred.join("pha"));
            for dir in [&tpha, &ppha] {
                if !dir.is_dir() {
                    return Err(EvalError::MissingPhaDir { path: dir.clone() });
                }
            }
            let (tf, pf) = (frame_names(&tpha)?, frame_names(&ppha)?);
            if let Some(name) = tf.iter().find(|n| pf.binary_search(n).is_err()) {
                return Err(EvalError::MissingFrame { path: ppha.join(name), counterpart: tpha.join(name) });
            }
            if let Some(name) = pf.iter().find(|n| tf.binary_search(n).is_err()) {
                return Err(EvalError::ExtraFrame { path: ppha.join(name), counterpart: tpha.join(name) });
            }
            if tf.is_empty() {
                return Err(EvalError::NoFrames { path: tpha });
            }
            let fgr = opts.fgr && truth.join("fgr").is_dir() && pred.join("fgr").is_dir();
            let labels = truth.join("label").is_dir() && truth.join("person").is_dir();
            clips.push(Clip {
                dataset: ds.to_string_lossy().into_owned(),
                clip: c.to_string_lossy().into_owned(),
                pred,
                truth,
                frames: tf,
                fgr,
                labels,
            });
        }
    }
    if clips.is_empty() {
        return Err(EvalError::EmptyTree { path: true_dir.to_path_buf() });
    }
    Ok(clips)
}


#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, clips: &[&str]) {
        for c in clips {
            let d = root.join(c).join("pha");
            std::fs::create_dir_all(&d).unwrap();
            image::GrayImage::from_pixel(4, 3, image::Luma([9])).save(d.join("0000.png")).unwrap();
            // What a generated set also holds beside pha/.
            std::fs::create_dir_all(root.join(c).join("bgr")).unwrap();
        }
    }

    #[test]
    fn set_folders_and_roots_of_sets_are_detected() {
        let base = std::env::temp_dir().join(format!("hoimat-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // infer's output for one set, against the set as generated.
        let (pred, truth) = (base.join("pred"), base.join("data/synvbhoi"));
        tree(&pred, &["clip0", "clip1"]);
        tree(&truth, &["clip0", "clip1"]);
        let clips = discover(&pred, &truth, &EvalOptions::default()).unwrap();
        assert_eq!(clips.iter().map(|c| (c.dataset.as_str(), c.clip.as_str())).collect::<Vec<_>>(), [("synvbhoi", "clip0"), ("synvbhoi", "clip1")]);
        // Two roots of sets, as before.
        let (pr, tr) = (base.join("pr"), base.join("tr"));
        tree(&pr.join("a"), &["c"]);
        tree(&tr.join("a"), &["c"]);
        assert_eq!(discover(&pr, &tr, &EvalOptions::default()).unwrap().len(), 1);
        // A set folder against a root of sets: one sentence naming both.
        let e = discover(&pred, &tr, &EvalOptions::default()).err().expect("layouts differ").to_string();
        assert!(e.contains(&pred.display().to_string()) && e.contains(&tr.display().to_string()) && e.contains("laid out differently"), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
