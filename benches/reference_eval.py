#!/usr/bin/env python3
"""RVM-style reference evaluator (numpy + OpenCV), used to cross-check the Rust
metrics. Written from the metric definitions, following RVM's evaluate_lr.py
arithmetic: frames are float32 (uint8 / 255), per-pixel maths stays float32.

Tree layout: <dir>/<dataset>/<clip>/pha/<frame>.{png,jpg,jpeg} (+ optional fgr/).
Aggregation: per frame index, mean over the clips that have it; then mean over
frame indices (dtSSD's 0 at frame 0 included).

Scalings: mad/mse/fgr_* x 1e3, grad/conn sum / 1000, dtssd x 1e2, miou fraction.

Usage: python benches/reference_eval.py --pred-dir P --true-dir T [--miou-threshold 0.5] [--time]
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np

FRAME_EXTS = ('.png', '.jpg', '.jpeg')


class EvalFailure(Exception):
    pass


# ---------------------------------------------------------------- metrics

def metric_mad(pred, true):
    return float(np.abs(pred - true).mean() * 1e3)


def metric_mse(pred, true):
    return float(((pred - true) ** 2).mean() * 1e3)


def masked_fgr(pred_fgr, true_fgr, true_pha, squared):
    """Mean over pixels with true alpha > 0 and their 3 channels, x 1e3.
    No such pixel -> 0.0 (RVM would give NaN)."""
    msk = true_pha > 0
    if not msk.any():
        return 0.0
    d = pred_fgr[msk] - true_fgr[msk]
    return float(((d * d) if squared else np.abs(d)).mean() * 1e3)


def _gaussian(x, sigma):
    return np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))


def _dgaussian(x, sigma):
    return -x * _gaussian(x, sigma) / sigma ** 2


def grad_filters(sigma=1.4, epsilon=1e-2):
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    size = 2 * half + 1
    fx = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            fx[i, j] = _gaussian(i - half, sigma) * _dgaussian(j - half, sigma)
    fx = fx / np.sqrt((fx ** 2).sum())
    return fx, np.ascontiguousarray(fx.T)


FILTER_X, FILTER_Y = grad_filters()


def _grad_magnitude(img):
    gx = cv2.filter2D(img, -1, FILTER_X, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(img, -1, FILTER_Y, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx ** 2 + gy ** 2)


def metric_grad(pred, true):
    pn = cv2.normalize(pred, None, 1.0, 0.0, cv2.NORM_MINMAX)
    tn = cv2.normalize(true, None, 1.0, 0.0, cv2.NORM_MINMAX)
    gp = _grad_magnitude(pn).astype(np.float32)
    gt = _grad_magnitude(tn).astype(np.float32)
    return float(((gt - gp) ** 2).sum() / 1000)


def _largest_component(binary):
    """Boolean mask of the largest 4-connected component; ties go to the
    component whose first pixel in row-major order comes first (decided
    explicitly, not through cv2's label numbering)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    if n <= 1:
        return np.zeros(binary.shape, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    flat = labels.ravel()
    ids, first_index = np.unique(flat, return_index=True)
    first_of = dict(zip(ids.tolist(), first_index.tolist()))
    candidates = (np.flatnonzero(areas == areas.max()) + 1).tolist()
    best = min(candidates, key=lambda lab: first_of[lab])
    return labels == best


def metric_conn(pred, true, step=0.1):
    thresholds = np.arange(0, 1 + step, step)  # float64, k * 0.1
    level = -np.ones_like(true)  # float32, -1 = not dropped yet
    for i in range(1, len(thresholds)):
        inter = ((true >= thresholds[i]) & (pred >= thresholds[i])).astype(np.uint8)
        omega = _largest_component(inter)
        drop = (level == -1) & ~omega
        level[drop] = thresholds[i - 1]
    level[level == -1] = 1
    true_d = true - level
    pred_d = pred - level
    true_phi = 1 - true_d * (true_d >= 0.15)
    pred_phi = 1 - pred_d * (pred_d >= 0.15)
    return float(np.sum(np.abs(true_phi - pred_phi)) / 1000)


def metric_dtssd(pred_t, pred_tm1, true_t, true_tm1):
    d = (pred_t - pred_tm1) - (true_t - true_tm1)
    return float(np.sqrt(np.sum(d ** 2) / true_t.size) * 1e2)


def metric_miou(pred, true, thr=0.5):
    pf, tf = pred >= thr, true >= thr
    ious = []
    for a, b in ((pf, tf), (~pf, ~tf)):
        union = np.count_nonzero(a | b)
        ious.append(1.0 if union == 0 else np.count_nonzero(a & b) / union)
    return float(sum(ious) / 2)


# ---------------------------------------------------------------- tree walk

def _subdirs(path):
    if not os.path.isdir(path):
        return []
    return sorted(n for n in os.listdir(path)
                  if not n.startswith('.') and os.path.isdir(os.path.join(path, n)))


def _frames(path):
    return sorted(n for n in os.listdir(path)
                  if n.lower().endswith(FRAME_EXTS) and os.path.isfile(os.path.join(path, n)))


def _read(path, flag):
    img = cv2.imread(path, flag)
    if img is None:
        raise EvalFailure(f'cannot read or decode image {path}')
    return img.astype(np.float32) / 255


def discover(pred_dir, true_dir):
    if not os.path.isdir(true_dir) or not os.path.isdir(pred_dir):
        raise EvalFailure(f'missing root {true_dir} or {pred_dir}')
    clips = []
    for ds in sorted(set(_subdirs(true_dir)) | set(_subdirs(pred_dir))):
        names = set(_subdirs(os.path.join(true_dir, ds))) | set(_subdirs(os.path.join(pred_dir, ds)))
        for clip in sorted(names):
            t_clip, p_clip = os.path.join(true_dir, ds, clip), os.path.join(pred_dir, ds, clip)
            for d in (os.path.join(t_clip, 'pha'), os.path.join(p_clip, 'pha')):
                if not os.path.isdir(d):
                    raise EvalFailure(f'missing pha directory {d}')
            tf, pf = _frames(os.path.join(t_clip, 'pha')), _frames(os.path.join(p_clip, 'pha'))
            if tf != pf:
                raise EvalFailure(f'frame lists differ in {ds}/{clip}: '
                                  f'{sorted(set(tf) ^ set(pf))[:5]}')
            if not tf:
                raise EvalFailure(f'no frames in {t_clip}/pha')
            has_fgr = os.path.isdir(os.path.join(t_clip, 'fgr')) and os.path.isdir(os.path.join(p_clip, 'fgr'))
            clips.append((ds, clip, p_clip, t_clip, tf, has_fgr))
    if not clips:
        raise EvalFailure(f'empty tree {true_dir}')
    return clips


def evaluate_clip(p_clip, t_clip, frames, has_fgr, thr):
    rows = []
    pred_prev = true_prev = None
    for i, name in enumerate(frames):
        pred = _read(os.path.join(p_clip, 'pha', name), cv2.IMREAD_GRAYSCALE)
        true = _read(os.path.join(t_clip, 'pha', name), cv2.IMREAD_GRAYSCALE)
        if pred.shape != true.shape:
            raise EvalFailure(f'size mismatch {p_clip}/pha/{name}')
        row = {
            'pha_mad': metric_mad(pred, true),
            'pha_mse': metric_mse(pred, true),
            'pha_grad': metric_grad(pred, true),
            'pha_conn': metric_conn(pred, true),
            'pha_dtssd': 0.0 if i == 0 else metric_dtssd(pred, pred_prev, true, true_prev),
            'miou': metric_miou(pred, true, thr),
        }
        if has_fgr:
            pf = _read(os.path.join(p_clip, 'fgr', name), cv2.IMREAD_COLOR)
            tf = _read(os.path.join(t_clip, 'fgr', name), cv2.IMREAD_COLOR)
            row['fgr_mad'] = masked_fgr(pf, tf, true, squared=False)
            row['fgr_mse'] = masked_fgr(pf, tf, true, squared=True)
        rows.append(row)
        pred_prev, true_prev = pred, true
    return rows


KEYS = ['pha_mad', 'pha_mse', 'pha_grad', 'pha_conn', 'pha_dtssd', 'miou', 'fgr_mad', 'fgr_mse']


def aggregate(per_clip, key):
    """Frame-index mean first (over clips having that index and key), then
    mean over frame indices. None when no clip has the key."""
    longest = max(len(rows) for rows in per_clip)
    col_means = []
    for i in range(longest):
        vals = [rows[i][key] for rows in per_clip if i < len(rows) and key in rows[i]]
        if vals:
            col_means.append(sum(vals) / len(vals))
    return sum(col_means) / len(col_means) if col_means else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--pred-dir', required=True)
    ap.add_argument('--true-dir', required=True)
    ap.add_argument('--miou-threshold', type=float, default=0.5)
    ap.add_argument('--per-clip', action='store_true', help='per-clip means on stderr')
    ap.add_argument('--time', action='store_true',
                    help='add "seconds": evaluation time after imports (for hoimat bench eval)')
    args = ap.parse_args()
    start = time.perf_counter()
    try:
        clips = discover(args.pred_dir, args.true_dir)
        per_clip = [evaluate_clip(p, t, frames, fgr, args.miou_threshold)
                    for (_, _, p, t, frames, fgr) in clips]
    except EvalFailure as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if args.per_clip:
        for (ds, clip, *_), rows in zip(clips, per_clip):
            means = {k: float(np.mean([r[k] for r in rows])) for k in KEYS if k in rows[0]}
            print(json.dumps({'dataset': ds, 'clip': clip, 'n_frames': len(rows), **means}), file=sys.stderr)
    report = {}
    for k in KEYS:
        v = aggregate(per_clip, k)
        if v is not None:
            report[k] = v
    if args.time:
        report['seconds'] = time.perf_counter() - start
    print(json.dumps(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
