#!/usr/bin/env python3
"""Writes a small deterministic RVM-layout tree (truth + perturbed prediction)
for cross-checking the Rust evaluator against reference_eval.py.

Usage: python make_test_tree.py OUT_DIR [--seed N]
Creates OUT_DIR/true and OUT_DIR/pred with datasets/clips of 64x48 grey PNG
alphas: soft blobs that move, a noisy "hair" band, plus edge cases (an
all-zero truth frame, a constant prediction, clips of different lengths,
fgr/ on some clips only).
"""
import argparse
import os

import cv2
import numpy as np

W, H = 64, 48


def soft_blob(cx, cy, r, softness):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    return np.clip((r - d) / softness + 0.5, 0, 1)


def truth_frame(rng, clip_seed, i):
    a = soft_blob(20 + 2 * i + clip_seed, 24 + i, 10 + clip_seed % 3, 2.5)
    a = np.maximum(a, soft_blob(46 - i, 14 + 2 * clip_seed, 6, 1.5))
    # noisy semi-transparent band (hair-like detail)
    band = np.zeros((H, W))
    band[30:40, 35:60] = rng.uniform(0.2, 0.9, size=(10, 25))
    a = np.maximum(a, cv2.GaussianBlur(band, (3, 3), 0.8))
    return a


def perturb(rng, a, i):
    p = a.copy()
    p = cv2.GaussianBlur(p, (5, 5), 1.0 + 0.2 * i)
    p = np.roll(p, shift=(i % 2, (i + 1) % 3 - 1), axis=(0, 1))
    p += rng.normal(0, 0.04, size=a.shape)
    p[rng.uniform(size=a.shape) < 0.01] = 1.0  # salt
    p = np.maximum(p, soft_blob(8, 40, 3, 1.0) * 0.8)  # spurious blob
    return np.clip(p, 0, 1)


def to_u8(a):
    return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)


def fgr_frame(rng, base):
    g = cv2.GaussianBlur(rng.uniform(0, 1, size=(H, W, 3)), (7, 7), 2.0)
    return np.clip(base + 0.5 * (g - 0.5), 0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    # (dataset, clip, n_frames, with_fgr)
    clips = [('dsA', 'clip0', 5, True), ('dsA', 'clip1', 3, False), ('dsB', 'clip0', 5, True)]
    for k, (ds, clip, n, with_fgr) in enumerate(clips):
        base_colour = rng.uniform(0.2, 0.8, size=3)
        for i in range(n):
            t = truth_frame(rng, k, i)
            p = perturb(rng, t, i)
            if k == 1 and i == 1:
                t[:] = 0.0  # empty truth: fgr undefined, Grad normalisation to zeros
            if k == 2 and i == 3:
                p[:] = 0.6  # constant prediction
            name = f'{i:04d}.png'
            for side, img in (('true', t), ('pred', p)):
                d = os.path.join(args.out, side, ds, clip, 'pha')
                os.makedirs(d, exist_ok=True)
                cv2.imwrite(os.path.join(d, name), to_u8(img))
            if with_fgr:
                tf = fgr_frame(rng, base_colour)
                pf = np.clip(tf + rng.normal(0, 0.05, size=tf.shape), 0, 1)
                for side, img in (('true', tf), ('pred', pf)):
                    d = os.path.join(args.out, side, ds, clip, 'fgr')
                    os.makedirs(d, exist_ok=True)
                    cv2.imwrite(os.path.join(d, name), to_u8(img))


if __name__ == '__main__':
    main()
