//! RVM's released checkpoints are `torch.save(model.state_dict())` files (a
//! zip of a pickle plus tensor storages). What can read them from Rust:
//! PyTorch itself (run from `.venv`) writes a state dict shaped like a
//! MobileNetV3 + BatchNorm one (float weights, float running statistics and
//! the int64 `num_batches_tracked` scalars), and libtorch's parameter loader
//! through `tch::Tensor::loadz_multi` must give back every key, dtype, shape
//! and value for a plain `dict`. Found here (PyTorch 2.11, tch 0.24): an
//! `OrderedDict`, which is what `model.state_dict()` returns and so what
//! RVM's release holds, is refused by that loader ("Expected GenericDict
//! but got None": libtorch's unpickler does not rebuild
//! `collections.OrderedDict`), as an error, not a crash. An importer of
//! RVM's own files therefore needs its own reading of the pickle (or the
//! checkpoint re-saved as `torch.save(dict(sd))` or as safetensors).

use std::process::Command;

use tch::{Kind, Tensor};

#[test]
fn a_pytorch_state_dict_reads_back_key_for_key() {
    let dir = std::env::temp_dir().join(format!("hoimat-pickle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pth = dir.join("state.pth");
    let ordered = dir.join("ordered.pth");
    let script = r#"
import sys, collections, torch
g = torch.Generator().manual_seed(0)
sd = collections.OrderedDict()
sd['backbone.features.0.0.weight'] = torch.randn(16, 3, 3, 3, generator=g)
sd['backbone.features.0.1.weight'] = torch.rand(16, generator=g)
sd['backbone.features.0.1.running_var'] = torch.rand(16, generator=g)
sd['backbone.features.0.1.num_batches_tracked'] = torch.tensor(1234)
sd['project_mat.conv.bias'] = torch.arange(4, dtype=torch.float32)
torch.save(dict(sd), sys.argv[1])
torch.save(sd, sys.argv[2])
"#;
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(py).args(["-c", script]).arg(&pth).arg(&ordered).output().expect("python runs");
    assert!(o.status.success(), "python: {}", String::from_utf8_lossy(&o.stderr));
    let got = Tensor::loadz_multi(&pth).expect("libtorch reads a torch.save state dict");
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["backbone.features.0.0.weight", "backbone.features.0.1.num_batches_tracked", "backbone.features.0.1.running_var", "backbone.features.0.1.weight", "project_mat.conv.bias"]);
    let find = |k: &str| got.iter().find(|(n, _)| n == k).map(|(_, t)| t.shallow_clone()).unwrap();
    assert_eq!(find("backbone.features.0.0.weight").size(), vec![16, 3, 3, 3]);
    let n = find("backbone.features.0.1.num_batches_tracked");
    assert_eq!((n.kind(), n.int64_value(&[])), (Kind::Int64, 1234));
    assert_eq!(Vec::<f32>::try_from(find("project_mat.conv.bias")).unwrap(), vec![0.0, 1.0, 2.0, 3.0]);
    let e = Tensor::loadz_multi(&ordered).err().expect("libtorch's loader refuses an OrderedDict state dict");
    assert!(e.to_string().contains("GenericDict"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
