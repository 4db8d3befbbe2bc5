#!/usr/bin/env python3
"""PyTorch-eager twin of hoimat's RVM-style matting network (src/model/*.rs),
used by `hoimat bench model` to time the Rust/libtorch implementation against
plain PyTorch eager in the same run.

The architecture mirrors the Rust code layer by layer: parameters are plain
named tensors (the same names, shapes and creation order as the Rust
ParamBuilder), and the forward pass is functional, like src/model/layers.rs.

Usage:
  python benches/reference_torch.py --config quick|paper --height H --width W \
      --batch B --seq T --mode infer|train --iters N --warmup K --threads N
      -> one JSON line: {"config","height","width","batch","seq","mode",
                          "params","median_ms","frames_per_s"}
  python benches/reference_torch.py --count [--config C]
      -> one JSON line with the parameter count(s)
  python benches/reference_torch.py --loss FILE.npz
      -> one JSON line with each term of the matting loss (paper Eq. 4-9,
         RVM's definition, below) of the arrays pred_pha, pred_fgr,
         true_pha, true_fgr ([B, T, C, H, W]) in FILE.npz

infer: torch.no_grad, BatchNorm on running statistics, B x T frames per call,
       recurrent state carried from one call to the next.
train: BatchNorm on batch statistics, forward from a zero state, loss
       mean|pha - 0.5| + mean|fgr - 0.5|, backward, SGD step p -= 1e-3 * grad;
       the timed unit is the whole step.
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# ------------------------------------------------------------ configuration

# Inverted residual blocks: (kernel, expansion, out, se, hardswish, stride, dilation)
LARGE = [
    (3, 16, 16, False, False, 1, 1),
    (3, 64, 24, False, False, 2, 1),
    (3, 72, 24, False, False, 1, 1),
    (5, 72, 40, True, False, 2, 1),
    (5, 120, 40, True, False, 1, 1),
    (5, 120, 40, True, False, 1, 1),
    (3, 240, 80, False, True, 2, 1),
    (3, 200, 80, False, True, 1, 1),
    (3, 184, 80, False, True, 1, 1),
    (3, 184, 80, False, True, 1, 1),
    (3, 480, 112, True, True, 1, 1),
    (3, 672, 112, True, True, 1, 1),
    (5, 672, 160, True, True, 1, 2),
    (5, 960, 160, True, True, 1, 2),
    (5, 960, 160, True, True, 1, 2),
]
LARGE_TAPS = (0, 2, 5)

LITE = [
    (3, 16, 16, False, False, 1, 1),
    (3, 64, 24, False, False, 2, 1),
    (5, 72, 40, True, False, 2, 1),
    (3, 240, 80, False, True, 2, 1),
    (5, 480, 160, True, True, 1, 2),
]
LITE_TAPS = (0, 1, 2)

CONFIGS = {
    # ModelConfig::quick
    'quick': dict(width=0.5, blocks=LITE, taps=LITE_TAPS, last=256, aspp=32, decoder=(24, 16, 12, 8)),
    # ModelConfig::paper
    'paper': dict(width=1.0, blocks=LARGE, taps=LARGE_TAPS, last=960, aspp=128, decoder=(80, 40, 32, 16)),
}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def rust_round(v):
    """f64::round: halves away from zero (Python's round() is banker's)."""
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def scaled(c, width):
    """Round channels to a multiple of 4 (at least 4) after width scaling."""
    return max(int(rust_round(c * width / 4.0)) * 4, 4)


def se_channels(exp):
    return max((exp // 4 + 4) // 8 * 8, 8)


# ------------------------------------------------------------ parameters

class Builder:
    """Creates named parameters in the Rust ParamBuilder's order and with its
    initialiser (uniform +-sqrt(3 / fan_in) weights, +-1/sqrt(fan_in) biases)."""

    def __init__(self, device):
        self.params = {}
        self.buffers = {}
        self.device = device

    def conv(self, name, out_c, in_per_group, k, bias):
        fan_in = float(in_per_group * k * k)
        bound = math.sqrt(6.0 / fan_in) / math.sqrt(2.0)
        w = torch.empty(out_c, in_per_group, k, k, device=self.device).uniform_(-bound, bound)
        self.params[name + '.w'] = w.requires_grad_(True)
        if bias:
            b = 1.0 / math.sqrt(fan_in)
            self.params[name + '.b'] = torch.empty(out_c, device=self.device).uniform_(-b, b).requires_grad_(True)

    def bn(self, name, c):
        self.params[name + '.gamma'] = torch.ones(c, device=self.device).requires_grad_(True)
        self.params[name + '.beta'] = torch.zeros(c, device=self.device).requires_grad_(True)
        self.buffers[name + '.mean'] = torch.zeros(c, device=self.device)
        self.buffers[name + '.var'] = torch.ones(c, device=self.device)


class Net:
    """Structure of the network (channel plan) plus its parameters/buffers."""

    def __init__(self, config, device='cpu', seed=0):
        cfg = CONFIGS[config]
        torch.manual_seed(seed)
        pb = Builder(device)
        width = cfg['width']
        # Encoder
        self.stem = scaled(16, width)
        pb.conv('enc.stem', self.stem, 3, 3, False)
        pb.bn('enc.stem.bn', self.stem)
        c_in = self.stem
        self.blocks = []  # (k, exp, out, se, hs, stride, dilation, c_in, residual)
        for i, (k, exp, out, se, hs, stride, dil) in enumerate(cfg['blocks']):
            exp, out = scaled(exp, width), scaled(out, width)
            name = f'enc.b{i}'
            if exp != c_in:
                pb.conv(f'{name}.expand', exp, c_in, 1, False)
                pb.bn(f'{name}.expand.bn', exp)
            pb.conv(f'{name}.dw', exp, 1, k, False)
            pb.bn(f'{name}.dw.bn', exp)
            if se:
                sq = se_channels(exp)
                pb.conv(f'{name}.se1', sq, exp, 1, True)
                pb.conv(f'{name}.se2', exp, sq, 1, True)
            pb.conv(f'{name}.project', out, exp, 1, False)
            pb.bn(f'{name}.project.bn', out)
            self.blocks.append((k, exp, out, se, hs, stride, dil, c_in, stride == 1 and c_in == out))
            c_in = out
        last = scaled(cfg['last'], width)
        pb.conv('enc.last', last, c_in, 1, False)
        pb.bn('enc.last.bn', last)
        self.taps = cfg['taps']
        feats = [self.blocks[t][2] for t in self.taps]
        # LR-ASPP
        aspp = cfg['aspp']
        pb.conv('aspp.a', aspp, last, 1, False)
        pb.bn('aspp.a.bn', aspp)
        pb.conv('aspp.b', aspp, last, 1, False)
        # Recurrent decoder
        dec = cfg['decoder']

        def gru(name, ch):
            pb.conv(f'{name}.ih', 2 * ch, 2 * ch, 3, True)
            pb.conv(f'{name}.hh', ch, 2 * ch, 3, True)
            return (name, ch)

        g4 = gru('dec.gru4', aspp // 2)
        pb.conv('dec.up3', dec[0], aspp + feats[2] + 3, 3, False)
        pb.bn('dec.up3.bn', dec[0])
        g3 = gru('dec.gru3', dec[0] // 2)
        pb.conv('dec.up2', dec[1], dec[0] + feats[1] + 3, 3, False)
        pb.bn('dec.up2.bn', dec[1])
        g2 = gru('dec.gru2', dec[1] // 2)
        pb.conv('dec.up1', dec[2], dec[1] + feats[0] + 3, 3, False)
        pb.bn('dec.up1.bn', dec[2])
        g1 = gru('dec.gru1', dec[2] // 2)
        pb.conv('dec.out1', dec[3], dec[2] + 3, 3, False)
        pb.bn('dec.out1.bn', dec[3])
        pb.conv('dec.out2', dec[3], dec[3], 3, False)
        pb.bn('dec.out2.bn', dec[3])
        self.grus = (g4, g3, g2, g1)
        # Head
        pb.conv('head', 4, dec[3], 1, True)
        self.params = pb.params
        self.buffers = pb.buffers
        self.mean = torch.tensor(MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def num_params(self):
        return sum(t.numel() for t in self.params.values())

    # -------------------------------------------------------- layers

    def conv(self, name, x, stride=1, padding=0, dilation=1, groups=1):
        return F.conv2d(x, self.params[name + '.w'], self.params.get(name + '.b'),
                        stride, padding, dilation, groups)

    def bn(self, name, x, train):
        return F.batch_norm(x, self.buffers[name + '.mean'], self.buffers[name + '.var'],
                            self.params[name + '.gamma'], self.params[name + '.beta'],
                            train, 0.1, 1e-5)

    @staticmethod
    def hardswish(x):
        return x * (x + 3.0).clamp(0.0, 6.0) / 6.0

    @staticmethod
    def hardsigmoid(x):
        return (x + 3.0).clamp(0.0, 6.0) / 6.0

    @staticmethod
    def resize(x, h, w):
        return F.interpolate(x, size=(h, w), mode='bilinear', align_corners=False)

    @staticmethod
    def avg_down(x):
        return F.avg_pool2d(x, 2, 2, 0, ceil_mode=True, count_include_pad=False)

    # -------------------------------------------------------- blocks

    def encoder(self, x, train):
        x = self.hardswish(self.bn('enc.stem.bn', self.conv('enc.stem', x, 2, 1), train))
        taps = []
        for i, (k, exp, out, se, hs, stride, dil, c_in, residual) in enumerate(self.blocks):
            name = f'enc.b{i}'
            act = self.hardswish if hs else torch.relu
            h = x
            if exp != c_in:
                h = act(self.bn(f'{name}.expand.bn', self.conv(f'{name}.expand', h), train))
            h = act(self.bn(f'{name}.dw.bn',
                            self.conv(f'{name}.dw', h, stride, dil * (k // 2), dil, exp), train))
            if se:
                g = F.adaptive_avg_pool2d(h, 1)
                g = torch.relu(self.conv(f'{name}.se1', g))
                g = self.hardsigmoid(self.conv(f'{name}.se2', g))
                h = h * g
            h = self.bn(f'{name}.project.bn', self.conv(f'{name}.project', h), train)
            x = h + x if residual else h
            if i in self.taps:
                taps.append(x)
        f4 = self.hardswish(self.bn('enc.last.bn', self.conv('enc.last', x), train))
        return taps + [f4]

    def lraspp(self, x, train):
        a = torch.relu(self.bn('aspp.a.bn', self.conv('aspp.a', x), train))
        g = torch.sigmoid(self.conv('aspp.b', F.adaptive_avg_pool2d(x, 1)))
        return a * g

    def gru(self, g, x, h):
        """x: [B, T, C, H, W]; h: [B, C, H, W] or None."""
        name, ch = g
        b, t, _, hh, ww = x.shape
        if h is None:
            h = torch.zeros(b, ch, hh, ww, dtype=x.dtype, device=x.device)
        outs = []
        for i in range(t):
            xi = x[:, i]
            rz = torch.sigmoid(self.conv(f'{name}.ih', torch.cat([xi, h], 1), 1, 1))
            parts = torch.split(rz, ch, 1)
            r, z = parts[0], parts[1]
            c = torch.tanh(self.conv(f'{name}.hh', torch.cat([xi, r * h], 1), 1, 1))
            h = (1.0 - z) * h + z * c
            outs.append(h)
        return torch.stack(outs, 1), h

    def half_gru(self, g, x, b, t, h):
        parts = torch.split(x, g[1], 1)
        p1 = parts[1]
        out, state = self.gru(g, p1.reshape(b, t, *p1.shape[1:]), h)
        return torch.cat([parts[0], out.reshape(b * t, *out.shape[2:])], 1), state

    def up(self, name, x, skip, src, train):
        x = self.resize(x, skip.shape[2], skip.shape[3])
        y = self.conv(name, torch.cat([x, skip, src], 1), 1, 1)
        return torch.relu(self.bn(name + '.bn', y, train))

    def decoder(self, src, f, x4, b, t, rec, train):
        r = (lambda i: None) if rec is None else (lambda i: rec[i])
        s1 = self.avg_down(src)
        s2 = self.avg_down(s1)
        s3 = self.avg_down(s2)
        x, r4 = self.half_gru(self.grus[0], x4, b, t, r(0))
        x = self.up('dec.up3', x, f[2], self.resize(s3, f[2].shape[2], f[2].shape[3]), train)
        x, r3 = self.half_gru(self.grus[1], x, b, t, r(1))
        x = self.up('dec.up2', x, f[1], self.resize(s2, f[1].shape[2], f[1].shape[3]), train)
        x, r2 = self.half_gru(self.grus[2], x, b, t, r(2))
        x = self.up('dec.up1', x, f[0], self.resize(s1, f[0].shape[2], f[0].shape[3]), train)
        x, r1 = self.half_gru(self.grus[3], x, b, t, r(3))
        x = self.resize(x, src.shape[2], src.shape[3])
        x = torch.relu(self.bn('dec.out1.bn', self.conv('dec.out1', torch.cat([x, src], 1), 1, 1), train))
        x = torch.relu(self.bn('dec.out2.bn', self.conv('dec.out2', x, 1, 1), train))
        return x, [r4, r3, r2, r1]

    def forward(self, src, rec=None, train=False):
        """src: [B, T, 3, H, W] in [0, 1] -> (fgr, pha, rec)."""
        b, t, _, h, w = src.shape
        x = src.reshape(b * t, 3, h, w)
        f = self.encoder((x - self.mean) / self.std, train)
        x4 = self.lraspp(f[3], train)
        hid, rec = self.decoder(x, f, x4, b, t, rec, train)
        out = self.conv('head', hid)
        fgr_res, pha = torch.split(out, [3, 1], 1)
        fgr = (fgr_res + x).clamp(0.0, 1.0).reshape(b, t, 3, h, w)
        pha = torch.sigmoid(pha).reshape(b, t, 1, h, w)
        return fgr, pha, rec


# ------------------------------------------------------------ matting loss
#
# Paper Eq. 4-9, which is RVM's loss: L1 of alpha; a Laplacian loss over
# five band-pass levels (each level crops to an even size, blurs with the
# 5x5 binomial kernel under reflect padding, decimates by 2, and subtracts
# the zero-inserted x4 re-blurred reconstruction; level s weighs 2^(s-1)/5;
# no low-pass residual); 5 x the mean squared error of frame differences of
# alpha; and, on pixels whose true alpha is above 0, L1 and 5 x the
# frame-difference MSE of the foreground.

def _binomial(dtype):
    k = torch.tensor([1., 4., 6., 4., 1.], dtype=dtype)
    return (torch.outer(k, k) / 256.)[None, None]


def _blur(x, k):
    n, c, h, w = x.shape
    y = F.pad(x.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode='reflect')
    return F.conv2d(y, k).reshape(n, c, h, w)


def laplacian_levels(x, levels=5):
    k = _binomial(x.dtype)
    out = []
    for _ in range(levels):
        h, w = x.shape[-2:]
        x = x[..., :h - h % 2, :w - w % 2]
        low = _blur(x, k)[..., ::2, ::2]
        up = torch.zeros_like(x)
        up[..., ::2, ::2] = low * 4
        out.append(x - _blur(up, k))
        x = low
    return out


def matting_loss(pred_pha, pred_fgr, true_pha, true_fgr):
    flat = lambda t: t.flatten(0, 1)
    lp, lt = laplacian_levels(flat(pred_pha)), laplacian_levels(flat(true_pha))
    terms = {'pha_l1': F.l1_loss(pred_pha, true_pha),
             'pha_laplacian': sum(2 ** i / len(lp) * F.l1_loss(a, b) for i, (a, b) in enumerate(zip(lp, lt))),
             'pha_coherence': F.mse_loss(pred_pha.diff(dim=1), true_pha.diff(dim=1))}
    mask = (true_pha > 0).to(pred_fgr.dtype)
    pf, tf = pred_fgr * mask, true_fgr * mask
    terms['fgr_l1'] = F.l1_loss(pf, tf)
    terms['fgr_coherence'] = F.mse_loss(pf.diff(dim=1), tf.diff(dim=1))
    terms['total'] = (terms['pha_l1'] + terms['pha_laplacian'] + 5 * terms['pha_coherence']
                      + terms['fgr_l1'] + 5 * terms['fgr_coherence'])
    return {k: float(v) for k, v in terms.items()}


def loss_of_file(path):
    import numpy as np
    a = np.load(path)
    t = {k: torch.from_numpy(a[k]).double() for k in ('pred_pha', 'pred_fgr', 'true_pha', 'true_fgr')}
    return matting_loss(t['pred_pha'], t['pred_fgr'], t['true_pha'], t['true_fgr'])


# ------------------------------------------------------------ benchmark

def bench(args):
    torch.manual_seed(0)
    net = Net(args.config, seed=0)
    torch.manual_seed(1)
    src = torch.rand(args.batch, args.seq, 3, args.height, args.width)
    times = []
    if args.mode == 'infer':
        rec = None
        with torch.no_grad():
            for i in range(args.warmup + args.iters):
                t0 = time.perf_counter()
                _fgr, _pha, rec = net.forward(src, rec, train=False)
                dt = time.perf_counter() - t0
                if i >= args.warmup:
                    times.append(dt)
    else:
        params = list(net.params.values())
        for i in range(args.warmup + args.iters):
            t0 = time.perf_counter()
            fgr, pha, _rec = net.forward(src, None, train=True)
            loss = (pha - 0.5).abs().mean() + (fgr - 0.5).abs().mean()
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p.sub_(p.grad, alpha=1e-3)
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                times.append(dt)
    median_ms = statistics.median(times) * 1e3
    return {
        'config': args.config, 'height': args.height, 'width': args.width,
        'batch': args.batch, 'seq': args.seq, 'mode': args.mode,
        'params': net.num_params(), 'median_ms': median_ms,
        'frames_per_s': args.batch * args.seq / (median_ms / 1e3),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', choices=sorted(CONFIGS), default='quick')
    ap.add_argument('--height', type=int, default=288)
    ap.add_argument('--width', type=int, default=512)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--seq', type=int, default=1)
    ap.add_argument('--mode', choices=('infer', 'train'), default='infer')
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: leave the default)')
    ap.add_argument('--count', action='store_true', help='print parameter counts and exit')
    ap.add_argument('--loss', metavar='NPZ', help='print the matting loss terms of the arrays in NPZ and exit')
    args = ap.parse_args()
    if args.loss:
        print(json.dumps(loss_of_file(args.loss)))
        return
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.count:
        names = [args.config] if '--config' in sys.argv else sorted(CONFIGS)
        print(json.dumps({n: Net(n).num_params() for n in names}))
        return
    if min(args.height, args.width, args.batch, args.seq, args.iters) < 1 or args.warmup < 0:
        ap.error('sizes and --iters must be positive, --warmup non-negative')
    print(json.dumps(bench(args)))


if __name__ == '__main__':
    main()
