"""Very deep 1D conv nets on raw waveforms: M3, M5, M11, M18, M34-res.

Dai, Dai, Qu, Li & Das, "Very Deep Convolutional Neural Networks for Raw Waveforms", ICASSP 2017
(arXiv:1610.00087), Table 1. Input: 32000 samples (4 s at 8 kHz), mean 0 / variance 1.
Every conv is followed by batch norm and ReLU; conv1 is ``[80/4, n]`` (80-sample receptive field,
stride 4, i.e. 10 ms at 8 kHz); max-pool by 4 after conv1 and after each of the first groups; a global
average pool feeds the only fully connected layer, the classifier. The name counts weight layers
including that classifier (M3 = conv1 + one conv + fc).

Ambiguities settled by the Keras reimplementation (philipperemy/very-deep-convnets-raw-waveforms):
conv1 uses TensorFlow "SAME" padding (38 on each side for L divisible by 4), so 32000 -> 8000; the
M34-res shortcut between groups of different width repeats each channel twice (no parameters).

``waveform_m11_dws`` / ``waveform_m18_dws`` keep the topology but replace every 3-tap conv after
conv1 with a depthwise-separable conv (Howard et al. 2017, arXiv:1704.04861): dw 3 -> BN -> ReLU ->
pw 1 -> BN -> ReLU. conv1 stays a full conv (it has one input channel, so a depthwise factorisation
would save nothing).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch
from torch import nn

from ..layers import ConvNormAct, DepthwiseSeparableConv
from ..registry import register_model
from ._builder import build
from ._specs import Twin, adapt_cfg, twin_cfg
from .base import ClassifierHead, ConvNet, FeatureInfo


@dataclass(frozen=True)
class WaveStage:
    """One column entry of Dai et al. Table 1: a group of ``[kernel_size, out_channels] x num_convs``."""
    out_channels: int
    num_convs: int        # "x2", "x4"; for residual groups, the number of two-conv blocks
    pool: int = 4         # max-pool after the group (1 = none)
    kernel_size: int = 3
    residual: bool = False


@dataclass(frozen=True)
class WaveSpec:
    stem_channels: int     # conv1 [80/4, n]
    stages: tuple
    stem_kernel: int = 80
    stem_stride: int = 4
    stem_pool: int = 4


# Dai et al. 2016, Table 1 (arXiv:1610.00087). conv1 is [80/4, n] then maxpool 4 (-> 2000 x n);
# each later group is [3, c] x n, with maxpool 4 after groups 1-3 (-> 500, 125, 32). M3 stops after
# group 1 (2 maxpools), M5 after group 3 (4 maxpools); M11/M18/M34-res have a 4th group, unpooled.
#                    c_out   n  pool
WAVEFORM_M3 = WaveSpec(256, (
    WaveStage(256,   1,  4),                       # group 1 -> 500
))
WAVEFORM_M5 = WaveSpec(128, (
    WaveStage(128,   1,  4),                       # group 1 -> 500
    WaveStage(256,   1,  4),                       # group 2 -> 125
    WaveStage(512,   1,  4),                       # group 3 -> 32
))
WAVEFORM_M11 = WaveSpec(64, (
    WaveStage(64,    2,  4),
    WaveStage(128,   2,  4),
    WaveStage(256,   3,  4),
    WaveStage(512,   2,  1),                       # group 4, then global average pool
))
WAVEFORM_M18 = WaveSpec(64, (
    WaveStage(64,    4,  4),
    WaveStage(128,   4,  4),
    WaveStage(256,   4,  4),
    WaveStage(512,   4,  1),
))
# M34-res: [3, c; 3, c] x n residual blocks (2 convs each): 1 + 2 * (3 + 4 + 6 + 3) + fc = 34 layers.
WAVEFORM_M34_RES = WaveSpec(48, (
    WaveStage(48,    3,  4, residual=True),
    WaveStage(96,    4,  4, residual=True),
    WaveStage(192,   6,  4, residual=True),
    WaveStage(384,   3,  1, residual=True),
))


def _conv(in_channels: int, out_channels: int, kernel_size: int, separable: bool) -> nn.Module:
    if separable:
        return DepthwiseSeparableConv(in_channels, out_channels, kernel_size, dims=1)
    return ConvNormAct(in_channels, out_channels, kernel_size, dims=1)


class WaveResBlock(nn.Module):
    """Residual block of M34-res: conv3 -> BN -> ReLU -> conv3 -> BN, + shortcut, -> ReLU.

    When the width doubles the shortcut repeats each channel twice (parameter-free, as in the Keras
    reimplementation); otherwise it is the identity. Children ``conv1``, ``conv2``, ``act``.
    Shape: (N, C_in, L) -> (N, C_out, L).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        if out_channels % in_channels:
            raise ValueError(f"WaveResBlock needs out_channels to be a multiple of in_channels, "
                             f"got {in_channels} -> {out_channels}")
        self.repeat = out_channels // in_channels
        self.conv1 = ConvNormAct(in_channels, out_channels, kernel_size, dims=1)
        self.conv2 = ConvNormAct(out_channels, out_channels, kernel_size, dims=1, act_layer=None)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x.repeat_interleave(self.repeat, dim=1) if self.repeat > 1 else x
        return self.act(self.conv2(self.conv1(x)) + shortcut)


class WaveformNet(ConvNet):
    """Dai et al.'s raw-waveform net: conv1 [80/4] -> pool4 -> groups of 3-tap convs (pool4) -> GAP -> fc.

    Children: ``stem`` (conv1 + pool), ``stages`` (one Sequential per group, its convs then its pool),
    ``neck`` (Identity), ``head`` (global average pool -> fc; no hidden FC layers, no dropout by default).
    Max-pools round up (``ceil_mode``) so 125 -> 32 as Table 1 prints.
    Shape: (N, 1, L) -> (N, num_classes); at L = 32000 the lengths run 8000 -> 2000 -> 500 -> 125 -> 32.
    """

    dims = 1

    def __init__(self, spec: WaveSpec, num_classes: int = 10, in_chans: int = 1,
                 drop_rate: float = 0.0, separable: bool = False, default_cfg: Optional[dict] = None):
        super().__init__()
        self.spec, self.separable = spec, separable
        self.num_classes, self.in_chans = num_classes, in_chans
        c = spec.stem_channels
        # TF "SAME" for stride 4: (k - s) // 2 = 38 per side, so 32000 -> 8000 exactly.
        pad = max(spec.stem_kernel - spec.stem_stride, 0) // 2
        self.stem = nn.Sequential()
        self.stem.add_module("conv", ConvNormAct(in_chans, c, spec.stem_kernel, spec.stem_stride, pad,
                                                 dims=1))
        self.stem.add_module("pool", nn.MaxPool1d(spec.stem_pool, ceil_mode=True)
                             if spec.stem_pool > 1 else nn.Identity())
        reduction = spec.stem_stride * spec.stem_pool
        self.feature_info = FeatureInfo([dict(num_chs=c, reduction=reduction, module="stem")])
        stages = []
        for i, st in enumerate(spec.stages):
            stage = nn.Sequential()
            for j in range(st.num_convs):
                if st.residual:
                    stage.add_module(str(j), WaveResBlock(c, st.out_channels, st.kernel_size))
                else:
                    stage.add_module(str(j), _conv(c, st.out_channels, st.kernel_size, separable))
                c = st.out_channels
            if st.pool > 1:
                stage.add_module("pool", nn.MaxPool1d(st.pool, ceil_mode=True))
                reduction *= st.pool
            stages.append(stage)
            self.feature_info.append(dict(num_chs=c, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Identity()
        self.num_features = c
        self.head = ClassifierHead(c, num_classes, drop_rate, pool_dims=1)
        # conv1 needs L >= stem_stride; each ceil-mode pool needs at least one sample.
        self.default_cfg = adapt_cfg(default_cfg or _cfg("waveform"), in_chans=in_chans,
                                     num_classes=num_classes, min_input_size=(in_chans, spec.stem_stride),
                                     pool_size=(final_length(spec, 32000),))
        self._init_weights()

    def _init_weights(self) -> None:
        # Glorot (Xavier) uniform, as the paper and its Keras reimplementation use.
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def final_length(spec: WaveSpec, length: int) -> int:
    """Length of the last feature map for an input of ``length`` samples (conv1, then ceil pools)."""
    pad = max(spec.stem_kernel - spec.stem_stride, 0) // 2
    n = (length + 2 * pad - spec.stem_kernel) // spec.stem_stride + 1
    for pool in (spec.stem_pool, *(st.pool for st in spec.stages)):
        n = -(-n // pool) if pool > 1 else n
    return n


def _cfg(name: str) -> dict:
    return dict(architecture=name, input_size=(1, 32000), min_input_size=(1, 4), fixed_input_size=False,
                pool_size=None, mean=(0.0,), std=(1.0,), interpolation=None, crop_pct=1.0,
                num_classes=10, first_conv="stem.conv.conv", classifier="head.fc", modality="audio",
                sample_rate=8000)


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table); the
# instance adds pool_size (the last map's length at 32000 samples) and the min input its stem needs.
# No library has these nets; Table 1's parameter counts (M, as printed: some rounded, some truncated;
# the separable forms are ours). M18 is M11's code at another depth (each in its separable form too).
WAVEFORM_PAPER = "Dai et al. 2017, arXiv:1610.00087, Table 1"
#                                paper: M params  same code as
WAVEFORM_PAPER_ROWS = {"waveform_m3":      (0.2,  ""),
                       "waveform_m5":      (0.5,  ""),
                       "waveform_m11":     (1.8,  ""),
                       "waveform_m18":     (3.7,  "waveform_m11"),
                       "waveform_m34_res": (4.0,  ""),
                       "waveform_m11_dws": (None, ""),
                       "waveform_m18_dws": (None, "waveform_m11_dws")}
default_cfgs = {name: twin_cfg(_cfg(name), Twin(None, mparams=mparams) if mparams else None,
                               paper=WAVEFORM_PAPER if mparams else "", same_code=same)
                for name, (mparams, same) in WAVEFORM_PAPER_ROWS.items()}


def _build(name: str, spec: WaveSpec, separable: bool = False, stem_kernel: Optional[int] = None,
           stem_stride: Optional[int] = None, pool: Optional[int] = None, **kwargs) -> WaveformNet:
    """``stem_kernel`` / ``stem_stride`` / ``pool`` (every max-pool, conv1's included) adapt the
    table to short signals, e.g. MNIST-1D's 40 samples; the defaults are the paper's 80 / 4 / 4."""
    if stem_kernel is not None:
        spec = replace(spec, stem_kernel=stem_kernel)
    if stem_stride is not None:
        spec = replace(spec, stem_stride=stem_stride)
    if pool is not None:
        spec = replace(spec, stem_pool=pool, stages=tuple(
            replace(st, pool=pool if st.pool > 1 else 1) for st in spec.stages))
    return build(name, "WaveformNet", WaveformNet, kwargs, spec=spec, separable=separable)


@register_model(cfg=default_cfgs["waveform_m3"])
def waveform_m3(**kwargs) -> WaveformNet:
    """M3 (0.2M): conv1 [80/4, 256], one [3, 256] conv."""
    return _build("waveform_m3", WAVEFORM_M3, **kwargs)


@register_model(cfg=default_cfgs["waveform_m5"])
def waveform_m5(**kwargs) -> WaveformNet:
    """M5 (0.5M): conv1 [80/4, 128], then [3, 128], [3, 256], [3, 512]."""
    return _build("waveform_m5", WAVEFORM_M5, **kwargs)


@register_model(cfg=default_cfgs["waveform_m11"])
def waveform_m11(**kwargs) -> WaveformNet:
    """M11 (1.8M): conv1 [80/4, 64], then 2/2/3/2 convs of 64/128/256/512."""
    return _build("waveform_m11", WAVEFORM_M11, **kwargs)


@register_model(cfg=default_cfgs["waveform_m18"])
def waveform_m18(**kwargs) -> WaveformNet:
    """M18 (3.7M): conv1 [80/4, 64], then 4 convs each of 64/128/256/512."""
    return _build("waveform_m18", WAVEFORM_M18, **kwargs)


@register_model(cfg=default_cfgs["waveform_m34_res"])
def waveform_m34_res(**kwargs) -> WaveformNet:
    """M34-res (4M): conv1 [80/4, 48], then 3/4/6/3 residual blocks of 48/96/192/384."""
    return _build("waveform_m34_res", WAVEFORM_M34_RES, **kwargs)


@register_model(cfg=default_cfgs["waveform_m11_dws"])
def waveform_m11_dws(**kwargs) -> WaveformNet:
    """M11 with every 3-tap conv depthwise-separable (conv1 unchanged)."""
    return _build("waveform_m11_dws", WAVEFORM_M11, separable=True, **kwargs)


@register_model(cfg=default_cfgs["waveform_m18_dws"])
def waveform_m18_dws(**kwargs) -> WaveformNet:
    """M18 with every 3-tap conv depthwise-separable (conv1 unchanged)."""
    return _build("waveform_m18_dws", WAVEFORM_M18, separable=True, **kwargs)

