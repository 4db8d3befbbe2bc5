//! PyTorch's `torch.save` files of a `state_dict`, read and written without
//! Python. Since PyTorch 1.6 such a file is a zip archive: `<top>/data.pkl`
//! holds a pickle of the (Ordered)Dict whose tensors are
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
//! calls, each storage a persistent id `('storage', torch.FloatStorage,
//! key, location, numel)` whose bytes are the record `<top>/data/<key>`
//! (little-endian). libtorch's own loader (`Tensor::loadz_multi`) refuses
//! the `OrderedDict` that `state_dict()` returns, hence this reader: a
//! small pickle machine that understands the opcodes `torch.save` emits and
//! only the globals a state dict needs (nothing is ever imported or called).

use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

// Payloads are read through `Debug` in error messages.
#[allow(dead_code)]
#[derive(Clone, Debug)]
enum V {
    Mark,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<V>),
    List(Vec<V>),
    Dict(Vec<(V, V)>),
    Global(String, String),
    Storage { key: String, kind: Kind },
    Tensor { key: String, kind: Kind, offset: i64, size: Vec<i64>, stride: Vec<i64> },
    /// The result of a call this reader does not model (e.g. `_metadata`'s
    /// contents never matter).
    Opaque(String),
}

fn storage_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        _ => return None,
    })
}

fn ints(v: &V) -> Result<Vec<i64>> {
    match v {
        V::Tuple(xs) | V::List(xs) => xs.iter().map(|x| if let V::Int(i) = x { Ok(*i) } else { bail!("expected an integer in a shape, found {x:?}") }).collect(),
        _ => bail!("expected a shape tuple, found {v:?}"),
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    memo: HashMap<u32, V>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len()).context("the pickle ends early")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|b| *b == b'\n').context("unterminated GLOBAL in the pickle")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn pop(&mut self) -> Result<V> {
        self.stack.pop().context("the pickle pops an empty stack")
    }
    fn pop_mark(&mut self) -> Result<Vec<V>> {
        let m = self.stack.iter().rposition(|v| matches!(v, V::Mark)).context("the pickle has no MARK")?;
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items)
    }
    fn top_dict(&mut self, items: Vec<V>) -> Result<()> {
        let Some(V::Dict(d)) = self.stack.last_mut() else { bail!("SETITEMS on something that is not a dict") };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }

    fn reduce(&mut self, f: V, args: V) -> Result<V> {
        let V::Global(module, name) = &f else { return Ok(V::Opaque(format!("{f:?}"))) };
        let args = match args {
            V::Tuple(a) => a,
            other => bail!("arguments of {module}.{name} are not a tuple: {other:?}"),
        };
        Ok(match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") => V::Dict(vec![]),
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                let [storage, offset, size, stride, ..] = &args[..] else { bail!("{name} with {} arguments", args.len()) };
                let V::Storage { key, kind } = storage else { bail!("{name} without a storage: {storage:?}") };
                let V::Int(offset) = offset else { bail!("{name}: storage offset {offset:?}") };
                V::Tensor { key: key.clone(), kind: *kind, offset: *offset, size: ints(size)?, stride: ints(stride)? }
            }
            // A pickled nn.Parameter: its tensor.
            ("torch._utils", "_rebuild_parameter") | ("torch._utils", "_rebuild_parameter_with_state") => args.into_iter().next().context("_rebuild_parameter without a tensor")?,
            _ => V::Opaque(format!("{module}.{name}")),
        })
    }

    fn run(mut self) -> Result<V> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'(' => self.stack.push(V::Mark),
                b'N' => self.stack.push(V::None),
                0x88 => self.stack.push(V::Bool(true)),
                0x89 => self.stack.push(V::Bool(false)),
                b'}' => self.stack.push(V::Dict(vec![])),
                b']' => self.stack.push(V::List(vec![])),
                b')' => self.stack.push(V::Tuple(vec![])),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(V::Int(v as i64))
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.stack.push(V::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(V::Int(v as i64))
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        bail!("an integer of {n} bytes in the pickle");
                    }
                    let mut v: i64 = 0;
                    for (i, x) in b.iter().enumerate() {
                        v |= (*x as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(V::Int(v))
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.stack.push(V::Float(f64::from_be_bytes(b.try_into().unwrap())))
                }
                b'X' | b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(V::Str(s))
                }
                0x8c | b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    self.stack.push(V::Str(s))
                }
                b'c' => {
                    let (m, n) = (self.line()?, self.line()?);
                    self.stack.push(V::Global(m, n))
                }
                0x93 => {
                    let (n, m) = (self.pop()?, self.pop()?);
                    match (m, n) {
                        (V::Str(m), V::Str(n)) => self.stack.push(V::Global(m, n)),
                        other => bail!("STACK_GLOBAL with {other:?}"),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(V::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let at = self.stack.len().checked_sub(n).context("TUPLE of an empty stack")?;
                    let items = self.stack.split_off(at);
                    self.stack.push(V::Tuple(items))
                }
                b'R' => {
                    let (args, f) = (self.pop()?, self.pop()?);
                    let v = self.reduce(f, args)?;
                    self.stack.push(v)
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let V::Tuple(p) = &pid else { bail!("persistent id {pid:?}") };
                    match &p[..] {
                        [V::Str(tag), V::Global(_, class), V::Str(key), ..] if tag == "storage" => {
                            let kind = storage_kind(class).with_context(|| format!("unsupported storage type {class}"))?;
                            self.stack.push(V::Storage { key: key.clone(), kind })
                        }
                        _ => bail!("persistent id {pid:?} is not a tensor storage"),
                    }
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    let v = self.stack.last().context("BINPUT on an empty stack")?.clone();
                    self.memo.insert(i, v);
                }
                b'r' => {
                    let i = self.u32()?;
                    let v = self.stack.last().context("LONG_BINPUT on an empty stack")?.clone();
                    self.memo.insert(i, v);
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    let v = self.stack.last().context("MEMOIZE on an empty stack")?.clone();
                    self.memo.insert(i, v);
                }
                b'h' | b'j' => {
                    let i = if op == b'h' { self.u8()? as u32 } else { self.u32()? };
                    let v = self.memo.get(&i).with_context(|| format!("memo {i} is unset"))?.clone();
                    self.stack.push(v)
                }
                b's' => {
                    let (v, k) = (self.pop()?, self.pop()?);
                    self.top_dict(vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.top_dict(items)?
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    match self.stack.last_mut() {
                        Some(V::List(l)) => l.extend(items),
                        _ => bail!("APPEND on something that is not a list"),
                    }
                }
                // BUILD sets attributes (a state dict's `_metadata`): not needed.
                b'b' => {
                    self.pop()?;
                }
                b'.' => return self.pop(),
                _ => bail!("pickle opcode 0x{op:02x} at byte {} is not one torch.save writes for a state dict", self.pos - 1),
            }
        }
    }
}

/// A value for an error message, cut to a readable length.
fn short(v: &V) -> String {
    let s = format!("{v:?}");
    if s.len() > 120 { format!("{}...", &s[..s.char_indices().nth(120).map_or(s.len(), |(i, _)| i)]) } else { s }
}

/// Read the named tensors of a `torch.save(state_dict)` file, in the file's order.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    read_from(file).with_context(|| format!("{}: not a readable torch.save state dict", path.display()))
}

fn read_from(file: impl Read + Seek) -> Result<Vec<(String, Tensor)>> {
    let mut zip = zip::ZipArchive::new(file).context("not a zip archive (a file saved by torch < 1.6 in the legacy format? re-save it with a current torch.save)")?;
    let pkl = (0..zip.len()).filter_map(|i| zip.by_index(i).ok().map(|f| f.name().to_string())).find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1).context("no <top>/data.pkl record")?;
    let top = pkl.trim_end_matches("data.pkl").to_string();
    let mut record = |name: &str| -> Result<Vec<u8>> {
        let mut f = zip.by_name(&format!("{top}{name}")).with_context(|| format!("missing record {top}{name}"))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    };
    if let Ok(order) = record("byteorder") {
        if order != b"little" {
            bail!("byte order {:?}: only little-endian files are read", String::from_utf8_lossy(&order));
        }
    }
    let pickle = record("data.pkl")?;
    let root = Machine { data: &pickle, pos: 0, stack: vec![], memo: HashMap::new() }.run()?;
    let V::Dict(items) = root else { bail!("the pickle holds {}, not a state dict", short(&root)) };
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (k, v) in items {
        let V::Str(name) = k else { bail!("a key that is not a string: {}", short(&k)) };
        let V::Tensor { key, kind, offset, size, stride } = v else { bail!("{name} is not a tensor: {}", short(&v)) };
        if !storages.contains_key(&key) {
            let bytes = record(&format!("data/{key}"))?;
            let elem = kind.elt_size_in_bytes();
            if bytes.len() % elem != 0 {
                bail!("storage {key} of {name}: {} bytes is not a whole number of {kind:?} values", bytes.len());
            }
            storages.insert(key.clone(), Tensor::from_data_size(&bytes, &[(bytes.len() / elem) as i64], kind));
        }
        let s = &storages[&key];
        if size.len() != stride.len() || offset < 0 || size.iter().chain(&stride).any(|v| *v < 0) {
            bail!("{name}: shape {size:?}, stride {stride:?}, offset {offset} do not describe a tensor");
        }
        // The last element's index, in i128 so no value overflows.
        let last = offset as i128 + size.iter().zip(&stride).map(|(n, st)| (*n as i128 - 1).max(0) * *st as i128).sum::<i128>();
        let numel: i128 = size.iter().map(|n| *n as i128).product();
        if numel > 0 && (last >= s.numel() as i128 || numel > s.numel() as i128 * 64) {
            bail!("{name}: shape {size:?} at offset {offset} runs past its storage of {} values", s.numel());
        }
        out.push((name, s.f_as_strided(size.as_slice(), stride.as_slice(), offset)?.contiguous()));
    }
    Ok(out)
}

/// Pickle protocol 2, as `torch.save` writes it.
struct Pickler(Vec<u8>);

impl Pickler {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }
    fn str(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn int(&mut self, v: i64) {
        if (0..256).contains(&v) {
            self.0.extend_from_slice(&[b'K', v as u8]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            self.0.push(b'J');
            self.0.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.0.extend_from_slice(&[0x8a, 8]);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
    fn int_tuple(&mut self, xs: &[i64]) {
        self.0.push(b'(');
        for x in xs {
            self.int(*x);
        }
        self.0.push(b't');
    }
}

fn storage_class(kind: Kind) -> Result<&'static str> {
    Ok(match kind {
        Kind::Float => "FloatStorage",
        Kind::Double => "DoubleStorage",
        Kind::Half => "HalfStorage",
        Kind::BFloat16 => "BFloat16Storage",
        Kind::Int64 => "LongStorage",
        Kind::Int => "IntStorage",
        Kind::Int16 => "ShortStorage",
        Kind::Int8 => "CharStorage",
        Kind::Uint8 => "ByteStorage",
        Kind::Bool => "BoolStorage",
        k => bail!("no torch storage type for {k:?}"),
    })
}

/// Write named tensors as `torch.save(OrderedDict)` would, so that
/// `model.load_state_dict(torch.load(path))` takes them. Atomic: written
/// to a temporary name, synced, then renamed.
pub fn write_state_dict(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    let top = "archive";
    let mut p = Pickler(vec![0x80, 2]);
    p.global("collections", "OrderedDict");
    p.0.extend_from_slice(b")R(");
    let mut blobs = Vec::with_capacity(named.len());
    for (i, (name, t)) in named.iter().enumerate() {
        let t = t.detach().to_device(tch::Device::Cpu).contiguous();
        let numel = t.numel() as i64;
        p.str(name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.0.push(b'(');
        // The persistent id of the storage.
        p.0.push(b'(');
        p.str("storage");
        p.global("torch", storage_class(t.kind())?);
        p.str(&i.to_string());
        p.str("cpu");
        p.int(numel);
        p.0.extend_from_slice(b"tQ");
        p.int(0);
        p.int_tuple(&t.size());
        p.int_tuple(&t.stride());
        p.0.push(0x89);
        p.global("collections", "OrderedDict");
        p.0.extend_from_slice(b")Rt");
        p.0.push(b'R');
        let mut bytes = vec![0u8; numel as usize * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut bytes, numel as usize);
        blobs.push(bytes);
    }
    p.0.extend_from_slice(b"u.");
    crate::atomic::write_with(path, |f| {
        let mut zip = zip::ZipWriter::new(f);
        let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        // torch aligns records to 64 bytes (so they can be memory-mapped).
        let mut put = |name: String, data: &[u8]| -> Result<()> {
            zip.start_file_aligned(name, opts, 64)?;
            zip.write_all(data)?;
            Ok(())
        };
        put(format!("{top}/data.pkl"), &p.0)?;
        put(format!("{top}/byteorder"), b"little")?;
        for (i, b) in blobs.iter().enumerate() {
            put(format!("{top}/data/{i}"), b)?;
        }
        put(format!("{top}/version"), b"3\n")?;
        zip.finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_order_kinds_and_bits() {
        let a = Tensor::from_slice(&[1.5f32, -2.25, 3.0e-7, f32::MAX, 0.1, 7.0]).view([2, 3]);
        let n = Tensor::from(12345678901i64);
        let named = vec![("z.weight".to_string(), a.shallow_clone()), ("a.num_batches_tracked".to_string(), n.shallow_clone()), ("m.t".to_string(), a.tr())];
        let path = std::env::temp_dir().join(format!("hoimat-torchfile-{}.pth", std::process::id()));
        write_state_dict(&path, &named).unwrap();
        let back = read_state_dict(&path).unwrap();
        assert_eq!(back.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["z.weight", "a.num_batches_tracked", "m.t"]);
        assert!(back[0].1.equal(&a));
        assert_eq!((back[1].1.kind(), back[1].1.size(), back[1].1.int64_value(&[])), (Kind::Int64, vec![], 12345678901));
        assert!(back[2].1.equal(&a.tr()), "a transposed view is written contiguous");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let path = std::env::temp_dir().join(format!("hoimat-torchfile-bad-{}.pth", std::process::id()));
        std::fs::write(&path, b"\x80\x02}q\x00.").unwrap();
        let e = format!("{:#}", read_state_dict(&path).unwrap_err());
        assert!(e.contains(&path.display().to_string()) && e.contains("not a zip archive"), "{e}");
        std::fs::remove_file(&path).ok();
    }
}
