#!/usr/bin/env python3
"""PyTorch twin of hoimat's matting network (src/model/*.rs): RVM's
MattingNetwork('mobilenetv3') written as ordinary torch.nn modules from the
published architecture, with torchvision's own MobileNetV3-Large (dilated
last stage, torchvision's width rounding) as the encoder, so the encoder's
structure and key names come from a third party, not from hoimat. Its
`state_dict()` has RVM's keys; `load_state_dict` takes what
`hoimat export rvm` writes.

Used by `hoimat bench model` (timing against plain PyTorch eager in the
same run) and by tests (parity of hoimat's forward with this one on an
exported checkpoint; the matting loss in PyTorch's own ops).

Usage:
  python benches/reference_torch.py --config quick|paper --height H --width W \
      --batch B --seq T --mode infer|train --iters N --warmup K --threads N [--ratio R]
      -> one JSON line: {"config","height","width","batch","seq","mode","ratio",
                          "params","median_ms","frames_per_s"}
  python benches/reference_torch.py --count [--config C]
      -> one JSON line with the parameter count(s)
  python benches/reference_torch.py --save-init FILE.pth --config C [--seed S]
      -> torch.save(state_dict()) of a freshly initialised twin (RVM's file format)
  python benches/reference_torch.py --parity CKPT.pth --frames IN.npz --ratio R --chunk K --out OUT.npz
      -> runs the frames (IN.npz: src [T, 3, H, W] float32) through the twin
         loaded from CKPT.pth (eval mode), K frames per call with the
         recurrent state carried, and writes pha [T, 1, H, W] and fgr [T, 3, H, W]
  python benches/reference_torch.py --loss FILE.npz
      -> one JSON line with each term of the matting loss (paper Eq. 4-9,
         RVM's definition, below) of the arrays pred_pha, pred_fgr,
         true_pha, true_fgr ([B, T, C, H, W]) in FILE.npz

infer: torch.no_grad, eval mode, B x T frames per call, recurrent state
       carried from one call to the next, at --ratio (RVM's downsample_ratio).
train: train mode (batch statistics), forward from a zero state, loss
       mean|pha - 0.5| + mean|fgr - 0.5|, backward, SGD step p -= 1e-3 * grad;
       the timed unit is the whole step.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

# ------------------------------------------------------------ the network

# (width multiplier, LR-ASPP channels, decoder channels): ModelConfig::quick / paper.
CONFIGS = {
    'quick': (0.5, 32, (24, 16, 12, 8)),
    'paper': (1.0, 128, (80, 40, 32, 16)),
}


class Backbone(nn.Module):
    """torchvision's MobileNetV3-Large features, last stage dilated; taps
    after features 1, 3, 6 and 16 (1/2, 1/4, 1/8, 1/16)."""

    def __init__(self, width):
        super().__init__()
        from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
        setting, last = _mobilenet_v3_conf('mobilenet_v3_large', width_mult=width, dilated=True)
        self.features = MobileNetV3(setting, last).features
        self.mean = (0.485, 0.456, 0.406)
        self.std = (0.229, 0.224, 0.225)

    def forward(self, x):
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (1, 3, 6, 16):
                taps.append(x)
        return taps

    def channels(self):
        return [self.features[i].out_channels if hasattr(self.features[i], 'out_channels')
                else self.features[i].block[-1][0].out_channels for i in (1, 3, 6, 16)]


class LRASPP(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.aspp1 = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))
        self.aspp2 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c_in, c_out, 1, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.aspp1(x) * self.aspp2(x)


class ConvGRU(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.ih = nn.Sequential(nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.Sigmoid())
        self.hh = nn.Sequential(nn.Conv2d(2 * ch, ch, 3, padding=1), nn.Tanh())

    def forward(self, x, h):
        """x: [B, T, C, H, W]; h: [B, C, H, W] or None."""
        if h is None:
            h = torch.zeros_like(x[:, 0])
        outs = []
        for t in range(x.shape[1]):
            r, z = self.ih(torch.cat([x[:, t], h], 1)).split(self.ch, 1)
            c = self.hh(torch.cat([x[:, t], r * h], 1))
            h = (1 - z) * h + z * c
            outs.append(h)
        return torch.stack(outs, 1), h


def half_gru(gru, x, b, t, h):
    """ConvGRU over the second half of the channels of x: [B*T, C, H, W]."""
    a, y = x.split(gru.ch, 1)
    y, h = gru(y.unflatten(0, (b, t)), h)
    return torch.cat([a, y.flatten(0, 1)], 1), h


def up2_crop(x, like):
    x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    return x[:, :, :like.shape[2], :like.shape[3]]


class Bottleneck(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.gru = ConvGRU(ch // 2)


class Upsampling(nn.Module):
    def __init__(self, c_in, c_skip, c_out):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c_in + c_skip + 3, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))
        self.gru = ConvGRU(c_out // 2)

    def forward(self, x, f, s, b, t, h):
        x = self.conv(torch.cat([up2_crop(x, s), f, s], 1))
        return half_gru(self.gru, x, b, t, h)


class Output(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c_in + 3, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))

    def forward(self, x, s):
        return self.conv(torch.cat([up2_crop(x, s), s], 1))


class Decoder(nn.Module):
    def __init__(self, feats, dec):
        super().__init__()
        self.pool = nn.AvgPool2d(2, 2, count_include_pad=False, ceil_mode=True)
        self.decode4 = Bottleneck(feats[3])
        self.decode3 = Upsampling(feats[3], feats[2], dec[0])
        self.decode2 = Upsampling(dec[0], feats[1], dec[1])
        self.decode1 = Upsampling(dec[1], feats[0], dec[2])
        self.decode0 = Output(dec[2], dec[3])

    def forward(self, s0, f1, f2, f3, f4, b, t, r1, r2, r3, r4):
        s1 = self.pool(s0)
        s2 = self.pool(s1)
        s3 = self.pool(s2)
        x4, r4 = half_gru(self.decode4.gru, f4, b, t, r4)
        x3, r3 = self.decode3(x4, f3, s3, b, t, r3)
        x2, r2 = self.decode2(x3, f2, s2, b, t, r2)
        x1, r1 = self.decode1(x2, f1, s1, b, t, r1)
        return self.decode0(x1, s0), r1, r2, r3, r4


class Projection(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x):
        return self.conv(x)


class DeepGuidedFilter(nn.Module):
    """Wu et al. 2018's guided filter with learned A, as RVM uses it."""

    def __init__(self, hid):
        super().__init__()
        self.box_filter = nn.Conv2d(4, 4, 3, padding=1, bias=False, groups=4)
        self.box_filter.weight.data.fill_(1 / 9)
        self.conv = nn.Sequential(nn.Conv2d(8 + hid, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU(True),
                                  nn.Conv2d(hid, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU(True),
                                  nn.Conv2d(hid, 4, 1, bias=True))

    def forward(self, fine_src, base_src, base_fgr, base_pha, base_hid):
        fine_x = torch.cat([fine_src, fine_src.mean(1, keepdim=True)], 1)
        base_x = torch.cat([base_src, base_src.mean(1, keepdim=True)], 1)
        base_y = torch.cat([base_fgr, base_pha], 1)
        mean_x, mean_y = self.box_filter(base_x), self.box_filter(base_y)
        cov_xy = self.box_filter(base_x * base_y) - mean_x * mean_y
        var_x = self.box_filter(base_x * base_x) - mean_x * mean_x
        a = self.conv(torch.cat([cov_xy, var_x, base_hid], 1))
        b = mean_y - a * mean_x
        size = fine_src.shape[2:]
        a = F.interpolate(a, size, mode='bilinear', align_corners=False)
        b = F.interpolate(b, size, mode='bilinear', align_corners=False)
        return (a * fine_x + b).split([3, 1], 1)


class Net(nn.Module):
    """RVM's MattingNetwork('mobilenetv3', refiner='deep_guided_filter')."""

    def __init__(self, config='paper', seed=0):
        super().__init__()
        torch.manual_seed(seed)
        width, aspp, dec = CONFIGS[config]
        self.backbone = Backbone(width)
        ch = self.backbone.channels()
        self.aspp = LRASPP(ch[3], aspp)
        self.decoder = Decoder([ch[0], ch[1], ch[2], aspp], dec)
        self.project_mat = Projection(dec[3], 4)
        self.project_seg = Projection(dec[3], 1)
        self.refiner = DeepGuidedFilter(dec[3])

    def num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, src, rec=None, ratio=1.0):
        """src: [B, T, 3, H, W] in [0, 1] -> (fgr, pha, [r1, r2, r3, r4])."""
        b, t = src.shape[:2]
        x = src.flatten(0, 1)
        small = x if ratio == 1 else F.interpolate(x, scale_factor=ratio, mode='bilinear', align_corners=False,
                                                   recompute_scale_factor=False)
        f1, f2, f3, f4 = self.backbone(small)
        f4 = self.aspp(f4)
        hid, *rec = self.decoder(small, f1, f2, f3, f4, b, t, *(rec or [None] * 4))
        fgr_res, pha = self.project_mat(hid).split([3, 1], 1)
        if ratio != 1:
            fgr_res, pha = self.refiner(x, small, fgr_res, pha, hid)
        fgr = (fgr_res + x).clamp(0, 1).unflatten(0, (b, t))
        pha = pha.clamp(0, 1).unflatten(0, (b, t))
        return fgr, pha, rec


def parity(args):
    import numpy as np
    net = Net(args.config)
    state = torch.load(args.parity, map_location='cpu', weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()
    src = torch.from_numpy(np.load(args.frames)['src'])
    phas, fgrs, rec = [], [], None
    with torch.no_grad():
        for i in range(0, src.shape[0], args.chunk):
            fgr, pha, rec = net(src[i:i + args.chunk].unsqueeze(0), rec, args.ratio)
            phas.append(pha[0])
            fgrs.append(fgr[0])
    np.savez(args.out, pha=torch.cat(phas).numpy(), fgr=torch.cat(fgrs).numpy())


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
        net.eval()
        rec = None
        with torch.no_grad():
            for i in range(args.warmup + args.iters):
                t0 = time.perf_counter()
                _fgr, _pha, rec = net(src, rec, args.ratio)
                dt = time.perf_counter() - t0
                if i >= args.warmup:
                    times.append(dt)
    else:
        net.train()
        params = list(net.parameters())
        for i in range(args.warmup + args.iters):
            t0 = time.perf_counter()
            fgr, pha, _rec = net(src, None, args.ratio)
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
        'batch': args.batch, 'seq': args.seq, 'mode': args.mode, 'ratio': args.ratio,
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
    ap.add_argument('--ratio', type=float, default=1.0, help="RVM's downsample_ratio")
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--save-init', metavar='PTH', help='torch.save the state dict of a fresh twin and exit')
    ap.add_argument('--parity', metavar='PTH', help='run --frames through the twin loaded from PTH, write --out')
    ap.add_argument('--frames', metavar='NPZ')
    ap.add_argument('--chunk', type=int, default=2)
    ap.add_argument('--out', metavar='NPZ')
    args = ap.parse_args()
    if args.loss:
        print(json.dumps(loss_of_file(args.loss)))
        return
    if args.save_init:
        net = Net(args.config, seed=args.seed)
        # Non-trivial BatchNorm statistics, so a loader that ignored them fails parity.
        g = torch.Generator().manual_seed(args.seed)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(0, 1000, (1,), generator=g)))
        # Rescale the output projection (as data-dependent initialisation
        # does) so alpha is soft, not clamped flat: parity then compares
        # real values. Target: alpha ~ 0.5 +- 0.25, residual +- 0.1.
        net.eval()
        with torch.no_grad():
            x = torch.rand(1, 2, 3, 72, 128, generator=g)
            b, t = x.shape[:2]
            f1, f2, f3, f4 = net.backbone(x.flatten(0, 1))
            hid = net.decoder(x.flatten(0, 1), f1, f2, f3, net.aspp(f4), b, t, None, None, None, None)[0]
            out = net.project_mat(hid)
            conv = net.project_mat.conv
            for c in range(4):
                mean, std = out[:, c].mean(), out[:, c].std() + 1e-6
                want_mean, want_std = (0.5, 0.25) if c == 3 else (0.0, 0.1)
                conv.weight[c] *= want_std / std
                conv.bias[c] = (conv.bias[c] - mean) * want_std / std + want_mean
        torch.save(net.state_dict(), args.save_init)
        return
    if args.parity:
        parity(args)
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
