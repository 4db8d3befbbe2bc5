//! The parts of an ONNX model file that hold a network's weights: its
//! float initializers and the order of its nodes, read straight from the
//! protobuf wire format (ONNX's `onnx.proto`; no protobuf library). RVM
//! publishes its network as ONNX too (`rvm_mobilenetv3_fp32.onnx`), and
//! `model::rvm` turns that graph's weights back into RVM's state dict.
//!
//! Read: ModelProto.graph (field 7); GraphProto.node (1) and .initializer
//! (5); NodeProto.input (1) and .op_type (4); TensorProto.dims (1),
//! .data_type (2), .float_data (4), .name (8), .raw_data (9). Anything
//! else is skipped by its wire type.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// A tensor stored in the file: float32 values, or only its name, dims
/// and ONNX data type when it holds another type (`data` empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Initializer {
    pub name: String,
    pub dims: Vec<i64>,
    /// ONNX's TensorProto.DataType: 1 float32, 10 float16, ...
    pub data_type: u64,
    pub data: Vec<f32>,
}

/// ONNX's float32 data type.
pub const FLOAT: u64 = 1;

/// A node of the graph: its operator and the names of its inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op_type: String,
    pub inputs: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnnxGraph {
    /// Nodes in the file's (topological) order.
    pub nodes: Vec<Node>,
    pub initializers: Vec<Initializer>,
}

impl OnnxGraph {
    pub fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.initializers.iter().find(|t| t.name == name)
    }
}

/// A protobuf message's fields, one at a time.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A field's payload by wire type.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A 4-byte field (an unpacked float), little-endian.
    Fixed32([u8; 4]),
    Fixed64,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else { bail!("a number runs past the end of its message") };
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        bail!("a number longer than 10 bytes")
    }

    /// The next field: its number and payload, None at the end.
    fn next(&mut self) -> Result<Option<(u64, Value<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                anyhow::ensure!(self.pos + n <= self.buf.len(), "a fixed-size field runs past the end");
                let b = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                if n == 4 { Value::Fixed32([b[0], b[1], b[2], b[3]]) } else { Value::Fixed64 }
            }
            2 => {
                let n = self.varint()? as usize;
                let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).context("a field's length runs past the end of its message")?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Value::Bytes(b)
            }
            w => bail!("wire type {w} (groups are not used by ONNX)"),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn text(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).context("a name that is not UTF-8")
}

fn node(buf: &[u8]) -> Result<Node> {
    let (mut op_type, mut inputs) = (String::new(), vec![]);
    let mut f = Fields::new(buf);
    while let Some((n, v)) = f.next()? {
        match (n, v) {
            (1, Value::Bytes(b)) => inputs.push(text(b)?),
            (4, Value::Bytes(b)) => op_type = text(b)?,
            _ => {}
        }
    }
    Ok(Node { op_type, inputs })
}

/// A TensorProto (values decoded for float32 only).
fn tensor(buf: &[u8]) -> Result<Initializer> {
    let (mut name, mut dims, mut data_type, mut data, mut bytes) = (String::new(), vec![], 0, vec![], vec![]);
    let mut f = Fields::new(buf);
    while let Some((n, v)) = f.next()? {
        match (n, v) {
            (1, Value::Varint(d)) => dims.push(d as i64),
            (1, Value::Bytes(packed)) => {
                let mut p = Fields::new(packed);
                while p.pos < packed.len() {
                    dims.push(p.varint()? as i64);
                }
            }
            (2, Value::Varint(t)) => data_type = t,
            // float_data: packed, or one 4-byte field per value.
            (4, Value::Bytes(packed)) => bytes.extend_from_slice(packed),
            (4, Value::Fixed32(b)) => bytes.extend_from_slice(&b),
            (9, Value::Bytes(raw)) => bytes.extend_from_slice(raw),
            (8, Value::Bytes(b)) => name = text(b)?,
            (13, _) => bail!("tensor {name}: weights kept in an external file are not read"),
            (14, Value::Varint(1)) => bail!("tensor {name}: weights kept in an external file are not read"),
            _ => {}
        }
    }
    // A negative or overflowing dim is a broken file, never a panic later.
    let count = dims.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)));
    let Some(count) = count else { bail!("tensor {name}: dims {dims:?} are not a shape") };
    if data_type == FLOAT {
        anyhow::ensure!(bytes.len() == 4 * count, "tensor {name}: {} bytes of float32 for dims {dims:?}", bytes.len());
        data = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    }
    Ok(Initializer { name, dims, data_type, data })
}

/// Parse a serialized ModelProto.
pub fn parse(bytes: &[u8]) -> Result<OnnxGraph> {
    let mut g = OnnxGraph::default();
    let mut found = false;
    let mut model = Fields::new(bytes);
    while let Some((n, v)) = model.next()? {
        let (7, Value::Bytes(graph)) = (n, v) else { continue };
        found = true;
        let mut f = Fields::new(graph);
        while let Some((n, v)) = f.next()? {
            match (n, v) {
                (1, Value::Bytes(b)) => g.nodes.push(node(b)?),
                (5, Value::Bytes(b)) => g.initializers.push(tensor(b)?),
                _ => {}
            }
        }
    }
    anyhow::ensure!(found, "no graph (not an ONNX model)");
    Ok(g)
}

/// Read an ONNX file; errors name it.
pub fn read(path: &Path) -> Result<OnnxGraph> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    parse(&bytes).with_context(|| format!("{}: not a readable ONNX model", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model written byte by byte from the protobuf encoding rules: a
    /// graph with a Conv node (inputs x, w) and the initializer w of dims
    /// [2, 1] = [1.5, -2.0] as raw data, plus an int64 initializer that is
    /// skipped and an unknown fixed64 field.
    #[test]
    fn reads_a_hand_encoded_model() {
        let len = |v: &[u8]| -> Vec<u8> { [vec![v.len() as u8], v.to_vec()].concat() };
        // NodeProto: input "x" (field 1), input "w", op_type "Conv" (field 4).
        let node = [vec![0x0a], len(b"x"), vec![0x0a], len(b"w"), vec![0x22], len(b"Conv")].concat();
        // TensorProto: dims 2, 1 (field 1, varint), data_type 1 (field 2),
        // name "w" (field 8), raw_data (field 9): 1.5 and -2.0 little-endian.
        let raw = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
        let w = [vec![0x08, 2, 0x08, 1, 0x10, 1, 0x42], len(b"w"), vec![0x4a], len(&raw)].concat();
        // An int64 tensor (data_type 7) with packed dims [1].
        let i = [vec![0x0a, 1, 1, 0x10, 7, 0x42], len(b"i")].concat();
        let graph = [vec![0x0a], len(&node), vec![0x2a], len(&w), vec![0x2a], len(&i), vec![0x11], vec![0; 8]].concat();
        // ModelProto: ir_version 7 (field 1), graph (field 7).
        let model = [vec![0x08, 7, 0x3a], len(&graph)].concat();
        let g = parse(&model).unwrap();
        assert_eq!(g.nodes, vec![Node { op_type: "Conv".into(), inputs: vec!["x".into(), "w".into()] }]);
        assert_eq!(g.initializers[0], Initializer { name: "w".into(), dims: vec![2, 1], data_type: FLOAT, data: vec![1.5, -2.0] });
        assert_eq!((g.initializers[1].data_type, g.initializers[1].data.len()), (7, 0), "an int64 tensor keeps no values");
        assert!(parse(&model[..model.len() - 3]).is_err(), "a cut file is an error");
        assert!(parse(b"\x08\x07").is_err(), "no graph");
        // Unpacked float_data: one fixed32 field (field 4, wire type 5) per value.
        let unpacked = [vec![0x08, 2, 0x10, 1, 0x42], len(b"u"), vec![0x25], 0.25f32.to_le_bytes().to_vec(), vec![0x25], 4.0f32.to_le_bytes().to_vec()].concat();
        let g = parse(&[vec![0x3a], len(&[vec![0x2a], len(&unpacked)].concat())].concat()).unwrap();
        assert_eq!(g.initializers[0].data, vec![0.25, 4.0]);
        // data_location = DEFAULT (0) written out is not external data; a
        // negative dim is an error, not a panic.
        let located = [vec![0x08, 1, 0x10, 1, 0x42], len(b"d"), vec![0x4a], len(&1.0f32.to_le_bytes()), vec![0x70, 0]].concat();
        assert!(parse(&[vec![0x3a], len(&[vec![0x2a], len(&located)].concat())].concat()).is_ok());
        let negative = [vec![0x08], vec![0xff; 9], vec![0x01, 0x10, 1, 0x42], len(b"n")].concat();
        let e = parse(&[vec![0x3a], len(&[vec![0x2a], len(&negative)].concat())].concat()).unwrap_err();
        assert!(e.to_string().contains("not a shape"), "{e}");
    }
}
