"""RVM's own ONNX graph run by onnxruntime: the reference that hoimat's
network, loaded from the same file (`hoimat import rvm x.onnx`), is checked
against (tests/rvm_onnx.rs).

Reads frames [T, 3, H, W] (float32, key "src") from the --frames .npz,
runs them one at a time with the recurrent state carried (RVM's inference
loop) at --ratio (RVM's downsample_ratio), and writes "pha" [T, 1, H, W]
and "fgr" [T, 3, H, W] to the --out .npz.
"""
import argparse

import numpy as np
import onnxruntime as ort

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--frames", required=True)
p.add_argument("--ratio", type=float, required=True)
p.add_argument("--out", required=True)
a = p.parse_args()
src = np.load(a.frames)["src"].astype(np.float32)
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
# RVM's initial state: zero tensors of any shape (the model broadcasts them).
rec = [np.zeros([1, 1, 1, 1], dtype=np.float32)] * 4
ratio = np.array([a.ratio], dtype=np.float32)
phas, fgrs = [], []
for i in range(src.shape[0]):
    feed = {"src": src[i : i + 1], "r1i": rec[0], "r2i": rec[1], "r3i": rec[2], "r4i": rec[3], "downsample_ratio": ratio}
    fgr, pha, *rec = sess.run(None, feed)
    phas.append(pha)
    fgrs.append(fgr)
np.savez(a.out, pha=np.concatenate(phas), fgr=np.concatenate(fgrs))
