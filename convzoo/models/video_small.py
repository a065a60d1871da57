"""Small video nets for the built-in MovingDigits clips: ``c3d_small``, ``r2plus1d_small``,
``frame2d_small``, ``stack2d_small``.

Four nets of the same widths for 1 x 8 x 24 x 24 clips, differing only in how they treat time: a full
3D kernel, a (2+1)D factorisation, one frame with 2D kernels, or the frames stacked as channels.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..layers import Conv2Plus1d, ConvNormAct
from ..registry import register_model
from ._builder import build
from ._specs import adapt_cfg
from .base import ClassifierHead, ConvNet


@dataclass(frozen=True)
class SmallStage:
    """One stage of the small MovingDigits nets: one 3x3(x3) conv, then a max-pool (T, H, W)."""
    out_channels: int
    pool: tuple


# Small C3D-style net for 1 x 8 x 24 x 24 clips (C3D's pattern: pool1 keeps time, later pools halve
# it). The same table drives the (2+1)D, single-frame 2D and stacked-frame 2D variants.
#                c_out   pool (T, H, W)
VIDEO_SMALL = (
    SmallStage(8,    (1, 2, 2)),   # stem: 8 x 12 x 12 (at 8 x 24 x 24 input)
    SmallStage(16,   (2, 2, 2)),   # 4 x 6 x 6
    SmallStage(32,   (2, 2, 2)),   # 2 x 3 x 3
    SmallStage(64,   (1, 1, 1)),   # then global average pool -> fc
)
_MODES = {"c3d_small": "3d", "r2plus1d_small": "2plus1d", "frame2d_small": "frame2d",
          "stack2d_small": "stack2d"}


def _cfg(name: str) -> dict:
    mode = _MODES[name]
    # the 2D nets end on a 3 x 3 map, the 3D ones on 2 x 3 x 3 (at 8 x 24 x 24)
    return dict(architecture=name, input_size=(1, 8, 24, 24),
                # stack2d's first conv takes exactly C * num_frames channels
                min_input_size=(1, 8 if mode == "stack2d" else 4, 8, 8), fixed_input_size=False,
                pool_size=(3, 3) if mode in ("frame2d", "stack2d") else (2, 3, 3),
                mean=(0.0,), std=(1.0,), interpolation="bilinear", crop_pct=1.0, crop_mode="center",
                num_classes=8,
                first_conv="stem.unit.conv.spatial" if mode == "2plus1d" else "stem.unit.conv",
                classifier="head.fc", modality="video")


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
default_cfgs = {name: _cfg(name) for name in _MODES}


def _small_unit(cin: int, cout: int, mode: str) -> nn.Module:
    if mode == "3d":
        return ConvNormAct(cin, cout, 3, dims=3)
    if mode == "2plus1d":
        # (2+1)D with the paper's M_i, then BN -> ReLU like the 3D unit.
        return nn.Sequential(OrderedDict(conv=Conv2Plus1d(cin, cout, 3), norm=nn.BatchNorm3d(cout),
                                         act=nn.ReLU(inplace=True)))
    return ConvNormAct(cin, cout, 3, dims=2)


class MiddleFrame(nn.Module):
    """Keep only the middle frame: (N, C, T, H, W) -> (N, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, x.shape[2] // 2]


class StackFrames(nn.Module):
    """Stack the frames as channels: (N, C, T, H, W) -> (N, C*T, H, W), channel c*T + t."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1, 2)


class SmallVideoNet(ConvNet):
    """Four nets of one table (``VIDEO_SMALL``), differing only in what the kernels see of time.

    ``mode``: ``"3d"`` 3x3x3 convs (C3D-style); ``"2plus1d"`` (2+1)D convs; ``"frame2d"`` 3x3 convs
    on the middle frame only (time discarded); ``"stack2d"`` 3x3 convs on the T frames stacked as
    channels (time collapsed by the first conv, the "2D convolution on several images").
    Each stage: conv -> BN -> ReLU -> max-pool; then global average pool -> fc. The 2D nets' stem
    starts with a ``frames`` child (:class:`MiddleFrame` or :class:`StackFrames`).
    Shape: (N, C, T, H, W) -> (N, num_classes).
    """

    dims = 3

    def __init__(self, mode: str = "3d", num_classes: int = 8, in_chans: int = 1,
                 num_frames: int = 8, frame_size: int = 24, drop_rate: float = 0.0,
                 spec: tuple = VIDEO_SMALL, default_cfg: Optional[dict] = None):
        super().__init__()
        if mode not in ("3d", "2plus1d", "frame2d", "stack2d"):
            raise ValueError(f"mode must be '3d', '2plus1d', 'frame2d' or 'stack2d', got {mode!r}")
        self.mode, self.num_classes, self.in_chans, self.num_frames = mode, num_classes, in_chans, num_frames
        is2d = mode in ("frame2d", "stack2d")
        c = in_chans * num_frames if mode == "stack2d" else in_chans
        stages, reduction = [], 1
        for i, st in enumerate(spec):
            stage = nn.Sequential(OrderedDict(unit=_small_unit(c, st.out_channels, mode)))
            if i == 0 and is2d:   # the 2D nets turn the clip into an image first
                stage = nn.Sequential(OrderedDict(
                    frames=MiddleFrame() if mode == "frame2d" else StackFrames(), unit=stage.unit))
            pool = st.pool[1:] if is2d else st.pool
            if any(p > 1 for p in pool):
                stage.add_module("pool", (nn.MaxPool2d if is2d else nn.MaxPool3d)(pool))
            c = st.out_channels
            reduction *= st.pool[-1]
            stages.append(stage)
            self.feature_info.append(dict(num_chs=c, reduction=reduction,
                                          module="stem" if i == 0 else f"stages.{i - 1}"))
        self.stem = stages[0]
        self.stages = nn.Sequential(*stages[1:])
        self.neck = nn.Identity()
        self.num_features = c
        self.head = ClassifierHead(c, num_classes, drop_rate, pool_dims=2 if is2d else 3)
        name = {v: k for k, v in _MODES.items()}[mode]
        cfg = adapt_cfg(default_cfg or default_cfgs[name], in_chans=in_chans, num_classes=num_classes)
        cfg["input_size"] = (in_chans, num_frames, frame_size, frame_size)
        side = frame_size // 8   # three floor-mode 2x2 pools
        cfg["pool_size"] = (side, side) if is2d else (num_frames // 4, side, side)
        if mode == "stack2d":
            cfg["min_input_size"] = (in_chans, num_frames, 8, 8)
        self.default_cfg = cfg

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if self.mode == "stack2d" and x.shape[2] != self.num_frames:
            raise ValueError(f"stack2d_small was built for {self.num_frames} frames (its first conv "
                             f"takes C*T channels), got {x.shape[2]}")



# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------



def _small(name: str, kwargs: dict) -> SmallVideoNet:
    return build(name, "SmallVideoNet", SmallVideoNet, kwargs, mode=_MODES[name])


@register_model(cfg=default_cfgs["c3d_small"])
def c3d_small(**kwargs) -> SmallVideoNet:
    """Small C3D-style net (3x3x3 convs 8-16-32-64) for 1 x 8 x 24 x 24 MovingDigits clips."""
    return _small("c3d_small", kwargs)


@register_model(cfg=default_cfgs["r2plus1d_small"])
def r2plus1d_small(**kwargs) -> SmallVideoNet:
    """The same net with (2+1)D convs (paper's M_i per conv)."""
    return _small("r2plus1d_small", kwargs)


@register_model(cfg=default_cfgs["frame2d_small"])
def frame2d_small(**kwargs) -> SmallVideoNet:
    """The same widths with 3x3 2D convs on the middle frame only: a single-image baseline."""
    return _small("frame2d_small", kwargs)


@register_model(cfg=default_cfgs["stack2d_small"])
def stack2d_small(**kwargs) -> SmallVideoNet:
    """The same widths with 3x3 2D convs on the frames stacked as channels (early fusion)."""
    return _small("stack2d_small", kwargs)

