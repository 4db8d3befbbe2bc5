//! One HDF5 file per set, readable by h5py: `/clips/<clip>/{com,pha,fgr,bgr,label}`
//! as `[T, H, W, C]` u8 datasets, chunked one frame per chunk and deflated;
//! the manifest as a JSON string attribute `manifest` on the root and each
//! clip's metadata as a JSON attribute `meta` on its group.
//!
//! Written to a temporary file and renamed, so a killed export never leaves a
//! truncated file under the final name.

use std::path::Path;
use std::str::FromStr;

use hdf5::types::VarLenUnicode;

use super::error::{DataError, Result};
use crate::frame::{Clip, ClipMeta, Frame, LabelMap, Plane, Rgb};
use crate::world::Manifest;

fn h5err(path: &Path, e: hdf5::Error) -> DataError {
    DataError::invalid(path, format!("HDF5: {e}"))
}

fn put_attr(loc: &hdf5::Location, name: &str, json: &str, path: &Path) -> Result<()> {
    let v = VarLenUnicode::from_str(json).map_err(|e| DataError::invalid(path, format!("attribute {name}: {e}")))?;
    let a = loc.new_attr::<VarLenUnicode>().shape(()).create(name).map_err(|e| h5err(path, e))?;
    a.write_scalar(&v).map_err(|e| h5err(path, e))
}

fn get_attr(loc: &hdf5::Location, name: &str, path: &Path) -> Result<String> {
    let a = loc.attr(name).map_err(|e| h5err(path, e))?;
    let v: VarLenUnicode = a.read_scalar().map_err(|e| h5err(path, e))?;
    Ok(v.as_str().to_string())
}

fn put_stream(g: &hdf5::Group, name: &str, frames: &[Vec<u8>], t: usize, h: usize, w: usize, c: usize, path: &Path) -> Result<()> {
    let ds = g
        .new_dataset::<u8>()
        .shape([t, h, w, c])
        .chunk([1, h, w, c])
        .deflate(4)
        .create(name)
        .map_err(|e| h5err(path, e))?;
    let flat: Vec<u8> = frames.concat();
    ds.write_raw(&flat[..]).map_err(|e| h5err(path, e))
}

/// Streams clips into one HDF5 file; [`H5Writer::finish`] publishes it.
pub struct H5Writer {
    file: Option<hdf5::File>,
    clips: hdf5::Group,
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl H5Writer {
    pub fn create(path: &Path, manifest: &Manifest) -> Result<H5Writer> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        }
        let tmp = crate::atomic::temporary(path);
        let f = hdf5::File::create(&tmp).map_err(|e| h5err(path, e))?;
        put_attr(&f, "manifest", &serde_json::to_string(manifest).expect("manifest serialises"), path)?;
        let clips = f.create_group("clips").map_err(|e| h5err(path, e))?;
        Ok(H5Writer { file: Some(f), clips, tmp, path: path.to_path_buf() })
    }

    pub fn add_clip(&mut self, clip: &Clip) -> Result<()> {
        let path = &self.path;
        let g = self.clips.create_group(&clip.meta.name).map_err(|e| h5err(path, e))?;
        put_attr(&g, "meta", &serde_json::to_string(&clip.meta).expect("meta serialises"), path)?;
        let t = clip.frames.len();
        let Some(first) = clip.frames.first() else { return Ok(()) };
        let (w, h) = first.size();
        let col = |f: &dyn Fn(&Frame) -> Option<Vec<u8>>| -> Option<Vec<Vec<u8>>> { clip.frames.iter().map(f).collect() };
        if let Some(v) = col(&|f| Some(f.com.to_u8())) {
            put_stream(&g, "com", &v, t, h, w, 3, path)?;
        }
        if let Some(v) = col(&|f| Some(f.pha.to_u8())) {
            put_stream(&g, "pha", &v, t, h, w, 1, path)?;
        }
        if let Some(v) = col(&|f| f.fgr.as_ref().map(|x| x.to_u8())) {
            put_stream(&g, "fgr", &v, t, h, w, 3, path)?;
        }
        if let Some(v) = col(&|f| f.bgr.as_ref().map(|x| x.to_u8())) {
            put_stream(&g, "bgr", &v, t, h, w, 3, path)?;
        }
        if let Some(v) = col(&|f| f.label.as_ref().map(|x| x.data.clone())) {
            put_stream(&g, "label", &v, t, h, w, 1, path)?;
        }
        if let Some(v) = col(&|f| f.person.as_ref().map(|x| x.to_u8())) {
            put_stream(&g, "person", &v, t, h, w, 1, path)?;
        }
        Ok(())
    }

    /// Close the file and rename it into place.
    pub fn finish(mut self) -> Result<()> {
        drop(self.file.take());
        std::fs::rename(&self.tmp, &self.path).map_err(|e| DataError::io(&self.path, e))
    }
}

/// Write a whole set held in memory to `path` (e.g. `data/synvbhoi.h5`).
pub fn write_set(path: &Path, manifest: &Manifest, clips: &[Clip]) -> Result<()> {
    let mut w = H5Writer::create(path, manifest)?;
    for c in clips {
        w.add_clip(c)?;
    }
    w.finish()
}

fn read_stream(g: &hdf5::Group, name: &str, path: &Path) -> Result<Option<(Vec<usize>, Vec<u8>)>> {
    if !g.link_exists(name) {
        return Ok(None);
    }
    let ds = g.dataset(name).map_err(|e| h5err(path, e))?;
    let shape = ds.shape();
    if shape.len() != 4 {
        return Err(DataError::invalid(path, format!("dataset {}/{name} has shape {shape:?}, expected [T,H,W,C]", g.name())));
    }
    Ok(Some((shape, ds.read_raw::<u8>().map_err(|e| h5err(path, e))?)))
}

/// Read a set written by [`write_set`] (8-bit values / 255).
pub fn read_set(path: &Path) -> Result<(Manifest, Vec<Clip>)> {
    let f = hdf5::File::open(path).map_err(|e| h5err(path, e))?;
    let manifest: Manifest = serde_json::from_str(&get_attr(&f, "manifest", path)?)
        .map_err(|e| DataError::invalid(path, format!("manifest attribute: {e}")))?;
    let root = f.group("clips").map_err(|e| h5err(path, e))?;
    let mut clips = Vec::new();
    for cm in &manifest.clips {
        let g = root.group(&cm.name).map_err(|e| h5err(path, e))?;
        let meta: ClipMeta = serde_json::from_str(&get_attr(&g, "meta", path)?)
            .map_err(|e| DataError::invalid(path, format!("clip {} meta: {e}", cm.name)))?;
        let (shape, com) = read_stream(&g, "com", path)?.ok_or_else(|| DataError::invalid(path, format!("clip {} has no com", cm.name)))?;
        let (t, h, w) = (shape[0], shape[1], shape[2]);
        let (_, pha) = read_stream(&g, "pha", path)?.ok_or_else(|| DataError::invalid(path, format!("clip {} has no pha", cm.name)))?;
        let fgr = read_stream(&g, "fgr", path)?;
        let bgr = read_stream(&g, "bgr", path)?;
        let lab = read_stream(&g, "label", path)?;
        let person = read_stream(&g, "person", path)?;
        let (n1, n3) = (h * w, h * w * 3);
        let frames = (0..t)
            .map(|i| Frame {
                com: Rgb::from_u8(w, h, &com[i * n3..(i + 1) * n3]),
                pha: Plane::from_u8(w, h, &pha[i * n1..(i + 1) * n1]),
                fgr: fgr.as_ref().map(|(_, d)| Rgb::from_u8(w, h, &d[i * n3..(i + 1) * n3])),
                bgr: bgr.as_ref().map(|(_, d)| Rgb::from_u8(w, h, &d[i * n3..(i + 1) * n3])),
                label: lab.as_ref().map(|(_, d)| LabelMap { w, h, data: d[i * n1..(i + 1) * n1].to_vec() }),
                person: person.as_ref().map(|(_, d)| Plane::from_u8(w, h, &d[i * n1..(i + 1) * n1])),
            })
            .collect();
        clips.push(Clip { meta, frames });
    }
    Ok((manifest, clips))
}
