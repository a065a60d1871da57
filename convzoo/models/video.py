"""3D conv nets for video: C3D, R3D-18, R(2+1)D-18, and small nets for the built-in MovingDigits.

- C3D: Tran, Bourdev, Fergus, Torresani & Paluri, "Learning Spatiotemporal Features with 3D
  Convolutional Networks", ICCV 2015 (arXiv:1412.0767), Sec. 3.3 / Fig. 3. Layer names and the
  padded pool5 (512 x 1 x 4 x 4 = 8192 features into fc6) follow the widely used PyTorch port
  (DavideA/c3d-pytorch), so its Sports-1M checkpoint loads through ``convert_state_dict``.
- R3D-18 and R(2+1)D-18: Tran, Wang, Torresani, Ray, LeCun & Paluri, "A Closer Look at Spatiotemporal
  Convolutions for Action Recognition", CVPR 2018 (arXiv:1711.11248), Table 1 and Sec. 3.5. The
  layout is torchvision's ``torchvision.models.video.resnet`` (same parameter count, same outputs
  after loading its state dict); ``paper_exact=True`` gives every (2+1)D conv its own M_i.
- ``c3d_small`` / ``r2plus1d_small`` / ``frame2d_small`` / ``stack2d_small``: four nets of the same
  widths for 1 x 8 x 24 x 24 clips (MovingDigits), differing only in how they treat time: a full
  3D kernel, a (2+1)D factorisation, one frame with 2D kernels, or the frames stacked as channels.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
from torch import nn

from ..layers import Conv2Plus1d, ConvNormAct, midplanes
from ..registry import register_model
from .base import ClassifierHead, ConvNet, FeatureInfo

# --------------------------------------------------------------------------------------------------
# Spec tables
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class C3DGroup:
    """One conv group of C3D Fig. 3: its 3x3x3 convs (names, widths) and the max-pool after it."""
    names: tuple           # layer names of the PyTorch port (its checkpoint keys)
    out_channels: tuple
    pool: tuple            # (T, H, W) kernel = stride
    pool_padding: tuple = (0, 0, 0)


# C3D, Fig. 3 of Tran et al. 2015 (arXiv:1412.0767). Every conv is 3x3x3, stride 1, padding 1.
#        names                 convs in the group   pool (T, H, W) after it
C3D = (
    C3DGroup(("conv1",),          (64,),      (1, 2, 2)),   # conv1a; pool1 keeps the time axis
    C3DGroup(("conv2",),          (128,),     (2, 2, 2)),   # conv2a
    C3DGroup(("conv3a", "conv3b"), (256, 256), (2, 2, 2)),
    C3DGroup(("conv4a", "conv4b"), (512, 512), (2, 2, 2)),
    # NOTE: the paper does not state pool5's padding; the PyTorch port pads H, W by 1 so a
    # 512 x 1 x 3.5 x 3.5 map becomes 512 x 1 x 4 x 4 = 8192 features (fc6 is 8192 -> 4096).
    C3DGroup(("conv5a", "conv5b"), (512, 512), (2, 2, 2), (0, 1, 1)),
)
C3D_FC = (4096, 4096)   # fc6, fc7, each followed by ReLU and dropout 0.5


@dataclass(frozen=True)
class ResStage3d:
    """One row of R3D / R(2+1)D Table 1: conv{i}_x with ``num_blocks`` basic blocks."""
    out_channels: int
    num_blocks: int
    stride: int            # of the first block, on T, H and W


# R3D-18 / R(2+1)D-18, Table 1 of Tran et al. 2018 (arXiv:1711.11248). conv1 is 3x7x7, 64,
# stride 1x2x2; downsampling 2x2x2 at conv3_1, conv4_1, conv5_1; global pool; fc.
#                     c_out  blocks  stride
VIDEO_RESNET_18 = (
    ResStage3d(64,   2,  1),     # conv2_x: L x 56 x 56
    ResStage3d(128,  2,  2),     # conv3_x: L/2 x 28 x 28
    ResStage3d(256,  2,  2),     # conv4_x: L/4 x 14 x 14
    ResStage3d(512,  2,  2),     # conv5_x: L/8 x 7 x 7
)


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

# --------------------------------------------------------------------------------------------------
# C3D
# --------------------------------------------------------------------------------------------------


class C3D(ConvNet):
    """C3D: 8 convs 3x3x3 (64-128-256-256-512-512-512-512), 5 max-pools, fc6/fc7 4096, fc8.

    conv -> ReLU (no batch norm, conv bias on); pool1 1x2x2, the others 2x2x2; dropout 0.5 after fc6
    and fc7. Children ``stem`` (conv1, pool1), ``stages`` (groups 2-5, each convs then pool),
    ``neck`` (flatten -> fc6 -> ReLU -> dropout -> fc7 -> ReLU -> dropout), ``head.fc`` (= fc8).
    Shape: (N, 3, 16, 112, 112) -> (N, num_classes). fc6 fixes the input to 16 x 112 x 112.
    """

    dims = 3
    weight_layouts = ("c3d-pytorch",)   # convert_state_dict hook of convzoo.weights.load_weights

    def __init__(self, num_classes: int = 487, in_chans: int = 3, drop_rate: float = 0.5,
                 spec: tuple = C3D, fc: tuple = C3D_FC):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self._names: dict[str, str] = {}   # port name -> our module path
        c, groups, reduction = in_chans, [], 1
        for gi, g in enumerate(spec):
            group = nn.Sequential()
            for name, out in zip(g.names, g.out_channels):
                group.add_module(name, ConvNormAct(c, out, 3, dims=3, norm=None, bias=True))
                path = "stem" if gi == 0 else f"stages.{gi - 1}"
                self._names[name] = f"{path}.{name}.conv"
                c = out
            group.add_module("pool", nn.MaxPool3d(g.pool, g.pool, g.pool_padding))
            reduction *= g.pool[-1]
            groups.append(group)
        self.stem = groups[0]
        self.stages = nn.Sequential(*groups[1:])
        self.feature_info = FeatureInfo(
            [dict(num_chs=spec[0].out_channels[-1], reduction=spec[0].pool[-1], module="stem")])
        red = spec[0].pool[-1]
        for i, g in enumerate(spec[1:]):
            red *= g.pool[-1]
            self.feature_info.append(dict(num_chs=g.out_channels[-1], reduction=red,
                                          module=f"stages.{i}"))
        in_features = c * 1 * 4 * 4   # pool5 output at 16 x 112 x 112
        neck = OrderedDict(flatten=nn.Flatten(1))
        for name, width in zip(("fc6", "fc7"), fc):
            neck[name] = nn.Linear(in_features, width)
            neck[f"{name}_act"] = nn.ReLU(inplace=True)
            neck[f"{name}_drop"] = nn.Dropout(drop_rate)
            self._names[name] = f"neck.{name}"
            in_features = width
        self.neck = nn.Sequential(neck)
        self.feature_info.append(dict(num_chs=in_features, reduction=red, module="neck"))
        self.num_features = in_features
        self.head = ClassifierHead(in_features, num_classes)
        self._names["fc8"] = "head.fc"
        self.default_cfg = dict(
            input_size=(in_chans, 16, 112, 112), min_input_size=None,   # exact size: see check_input
            # The port's Sports-1M weights expect Caffe-style input: 0-255 RGB minus the mean clip.
            mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), interpolation="bilinear", crop_pct=112 / 128,
            num_classes=num_classes, first_conv="stem.conv1.conv", classifier="head.fc",
            modality="video")

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if tuple(x.shape[2:]) != (16, 112, 112):
            raise ValueError(f"C3D expects clips of 16 x 112 x 112 (fc6 takes 8192 = 512x1x4x4 "
                             f"features), got {tuple(x.shape[2:])}")

    def convert_state_dict(self, state_dict: Mapping[str, torch.Tensor],
                           layout: str = "c3d-pytorch") -> dict:
        """Rename a DavideA/c3d-pytorch checkpoint (``conv1.weight`` ... ``fc8.bias``) to our keys."""
        if layout == "convzoo":
            return dict(state_dict)
        if layout != "c3d-pytorch":
            raise ValueError(f"C3D converts layout 'c3d-pytorch' (or 'convzoo'), got {layout!r}")
        out = {}
        for key, value in state_dict.items():
            name, _, param = key.rpartition(".")
            # unknown keys pass through unchanged, so a strict load reports them as unexpected
            out[f"{self._names[name]}.{param}" if name in self._names else key] = value
        return out


# --------------------------------------------------------------------------------------------------
# R3D-18 / R(2+1)D-18 (torchvision layout)
# --------------------------------------------------------------------------------------------------


def _unit(conv: nn.Module, channels: int, act: bool = True) -> nn.Sequential:
    """conv -> BN -> [ReLU] with named children ``conv``, ``norm``, ``act``."""
    return nn.Sequential(OrderedDict(conv=conv, norm=nn.BatchNorm3d(channels),
                                     act=nn.ReLU(inplace=True) if act else nn.Identity()))


class VideoBasicBlock(nn.Module):
    """ResNet basic block with 3D or (2+1)D convs: conv1 -> BN -> ReLU -> conv2 -> BN, + shortcut, -> ReLU.

    ``conv_type="3d"``: 3x3x3 convs (R3D). ``"2plus1d"``: each conv is a :class:`Conv2Plus1d` whose
    width is ``mid_channels`` for both convs (torchvision, M_i of the block's first conv) or, with
    ``mid_channels=None``, its own M_i (the paper's Sec. 3.5). Shortcut: 1x1x1 conv (stride) + BN when
    the shape changes. Children ``conv1``, ``conv2`` (each ``conv``, ``norm``, ``act``), ``shortcut``.
    Shape: (N, C_in, T, H, W) -> (N, C_out, T / s, H / s, W / s).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *,
                 conv_type: str = "3d", mid_channels: Optional[int] = None):
        super().__init__()

        def conv(cin: int, s: int) -> nn.Module:
            if conv_type == "3d":
                return nn.Conv3d(cin, out_channels, 3, s, 1, bias=False)
            if conv_type == "2plus1d":
                return Conv2Plus1d(cin, out_channels, 3, s, mid_channels=mid_channels)
            raise ValueError(f"conv_type must be '3d' or '2plus1d', got {conv_type!r}")

        self.conv1 = _unit(conv(in_channels, stride), out_channels)
        self.conv2 = _unit(conv(out_channels, 1), out_channels, act=False)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(OrderedDict(
                conv=nn.Conv3d(in_channels, out_channels, 1, stride, bias=False),
                norm=nn.BatchNorm3d(out_channels)))
        else:
            self.shortcut = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


# torchvision key -> ours, applied in order (first match wins).
_TV_RULES = (
    (r"^stem\.0\.", "stem.conv."), (r"^stem\.1\.", "stem.norm."),                # R3D stem
    (r"^fc\.", "head.fc."),
    (r"^layer(\d)\.(\d+)\.conv(\d)\.0\.0\.", "S{1}.{2}.conv{3}.conv.spatial."),
    (r"^layer(\d)\.(\d+)\.conv(\d)\.0\.1\.", "S{1}.{2}.conv{3}.conv.norm."),
    (r"^layer(\d)\.(\d+)\.conv(\d)\.0\.3\.", "S{1}.{2}.conv{3}.conv.temporal."),
    (r"^layer(\d)\.(\d+)\.conv(\d)\.0\.", "S{1}.{2}.conv{3}.conv."),
    (r"^layer(\d)\.(\d+)\.conv(\d)\.1\.", "S{1}.{2}.conv{3}.norm."),
    (r"^layer(\d)\.(\d+)\.downsample\.0\.", "S{1}.{2}.shortcut.conv."),
    (r"^layer(\d)\.(\d+)\.downsample\.1\.", "S{1}.{2}.shortcut.norm."),
)
_TV_R2PLUS1D_STEM = ((r"^stem\.0\.", "stem.spatial.conv."), (r"^stem\.1\.", "stem.spatial.norm."),
                     (r"^stem\.3\.", "stem.temporal.conv."), (r"^stem\.4\.", "stem.temporal.norm."))


class VideoResNet(ConvNet):
    """R3D / R(2+1)D: stem -> conv2_x ... conv5_x of basic blocks -> global average pool -> fc.

    R3D stem: 3x7x7 conv, 64, stride 1x2x2. R(2+1)D stem (torchvision): 1x7x7 conv 3 -> 45 (stride
    1x2x2) -> BN -> ReLU -> 3x1x1 conv 45 -> 64 -> BN -> ReLU. Children ``stem``, ``stages``
    (torchvision's layer1..4), ``head.fc``; ``convert_state_dict(sd, "torchvision")`` renames
    torchvision's keys. Shape: (N, 3, T, H, W) -> (N, num_classes); features (N, 512, T/8, H/16, W/16).
    """

    dims = 3
    weight_layouts = ("torchvision",)   # convert_state_dict hook of convzoo.weights.load_weights

    def __init__(self, spec: tuple = VIDEO_RESNET_18, conv_type: str = "3d", num_classes: int = 400,
                 in_chans: int = 3, drop_rate: float = 0.0, paper_exact: bool = False):
        super().__init__()
        self.num_classes, self.in_chans, self.conv_type = num_classes, in_chans, conv_type
        self.paper_exact = paper_exact
        if conv_type == "3d":
            self.stem = ConvNormAct(in_chans, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), dims=3)
        elif conv_type == "2plus1d":
            # torchvision fixes the stem's mid width at 45; the paper's formula gives
            # M = floor(3*49*3*64 / (49*3 + 3*64)) = 83 (Sec. 3.5), used when paper_exact.
            mid = midplanes(in_chans, 64, 3, 7) if paper_exact else 45
            self.stem = nn.Sequential(OrderedDict(
                spatial=ConvNormAct(in_chans, mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), dims=3),
                temporal=ConvNormAct(mid, 64, (3, 1, 1), 1, (1, 0, 0), dims=3)))
        else:
            raise ValueError(f"conv_type must be '3d' or '2plus1d', got {conv_type!r}")
        self.feature_info = FeatureInfo([dict(num_chs=64, reduction=2, module="stem")])
        c, reduction, stages = 64, 2, []
        for i, st in enumerate(spec):
            blocks = []
            for j in range(st.num_blocks):
                stride = st.stride if j == 0 else 1
                mid = None
                if conv_type == "2plus1d" and not paper_exact:
                    # NOTE: torchvision computes M_i once per block, from (in, out) of its first
                    # conv, and reuses it for the second; the paper computes it per conv.
                    mid = midplanes(c, st.out_channels)
                blocks.append(VideoBasicBlock(c, st.out_channels, stride, conv_type=conv_type,
                                              mid_channels=mid))
                c = st.out_channels
            reduction *= st.stride
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=c, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Identity()
        self.num_features = c
        self.head = ClassifierHead(c, num_classes, drop_rate)
        self.default_cfg = dict(
            input_size=(in_chans, 16, 112, 112), min_input_size=(in_chans, 1, 1, 1),
            # torchvision's Kinetics-400 transforms: resize 128x171, crop 112, these mean/std.
            mean=(0.43216, 0.394666, 0.37645), std=(0.22803, 0.22145, 0.216989),
            interpolation="bilinear", crop_pct=112 / 128, num_classes=num_classes,
            first_conv="stem.conv" if conv_type == "3d" else "stem.spatial.conv",
            classifier="head.fc", modality="video")
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's init: kaiming normal (fan_out) convs, BN 1/0, fc N(0, 0.01).
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def convert_state_dict(self, state_dict: Mapping[str, torch.Tensor],
                           layout: str = "torchvision") -> dict:
        """Rename torchvision's ``r3d_18`` / ``r2plus1d_18`` keys (``layer1.0.conv1.0.0.weight``, ...)."""
        if layout == "convzoo":
            return dict(state_dict)
        if layout != "torchvision":
            raise ValueError(f"VideoResNet converts layout 'torchvision' (or 'convzoo'), got {layout!r}")
        if self.paper_exact and self.conv_type == "2plus1d":
            raise ValueError("paper_exact=True has different (2+1)D widths from torchvision's "
                             "r2plus1d_18; build the model with paper_exact=False to load them")
        rules = (_TV_R2PLUS1D_STEM if self.conv_type == "2plus1d" else ()) + _TV_RULES
        out = {}
        for key, value in state_dict.items():
            for pattern, repl in rules:
                m = re.match(pattern, key)
                if m:
                    new = repl.format(*[None] + list(m.groups()))
                    if new.startswith("S"):   # layerN -> stages.(N-1)
                        stage, rest = new[1:].split(".", 1)
                        new = f"stages.{int(stage) - 1}.{rest}"
                    out[new + key[m.end():]] = value
                    break
            else:
                out[key] = value   # unknown: passed through, so a strict load reports it
        return out


# --------------------------------------------------------------------------------------------------
# Small nets for MovingDigits (1 x 8 x 24 x 24)
# --------------------------------------------------------------------------------------------------


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
                 spec: tuple = VIDEO_SMALL):
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
        self.head = ClassifierHead(c, num_classes, drop_rate)
        self.default_cfg = dict(
            input_size=(in_chans, num_frames, frame_size, frame_size),
            # stack2d's first conv takes exactly C * num_frames channels
            min_input_size=(in_chans, num_frames if mode == "stack2d" else 4, 8, 8),
            mean=(0.0,) * in_chans, std=(1.0,) * in_chans, interpolation="bilinear", crop_pct=1.0,
            num_classes=num_classes,
            first_conv="stem.unit.conv.spatial" if mode == "2plus1d" else "stem.unit.conv",
            classifier="head.fc", modality="video")

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if self.mode == "stack2d" and x.shape[2] != self.num_frames:
            raise ValueError(f"stack2d_small was built for {self.num_frames} frames (its first conv "
                             f"takes C*T channels), got {x.shape[2]}")



# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def _pop(kwargs: dict) -> dict:
    kwargs.pop("drop_path_rate", None)   # no stochastic depth in these nets
    return kwargs


@register_model
def c3d(**kwargs) -> C3D:
    """C3D (Tran et al. 2015): 8 convs, 5 pools, fc6/fc7 4096; 487 Sports-1M classes by default."""
    return C3D(**_pop(kwargs))


@register_model
def r3d_18(**kwargs) -> VideoResNet:
    """R3D-18: 3x3x3 basic blocks [2, 2, 2, 2]; torchvision layout, 400 Kinetics classes."""
    return VideoResNet(VIDEO_RESNET_18, "3d", **_pop(kwargs))


@register_model
def r2plus1d_18(**kwargs) -> VideoResNet:
    """R(2+1)D-18: (2+1)D basic blocks [2, 2, 2, 2]; torchvision widths, or ``paper_exact=True``."""
    return VideoResNet(VIDEO_RESNET_18, "2plus1d", **_pop(kwargs))


@register_model
def c3d_small(**kwargs) -> SmallVideoNet:
    """Small C3D-style net (3x3x3 convs 8-16-32-64) for 1 x 8 x 24 x 24 MovingDigits clips."""
    return SmallVideoNet("3d", **_pop(kwargs))


@register_model
def r2plus1d_small(**kwargs) -> SmallVideoNet:
    """The same net with (2+1)D convs (paper's M_i per conv)."""
    return SmallVideoNet("2plus1d", **_pop(kwargs))


@register_model
def frame2d_small(**kwargs) -> SmallVideoNet:
    """The same widths with 3x3 2D convs on the middle frame only: a single-image baseline."""
    return SmallVideoNet("frame2d", **_pop(kwargs))


@register_model
def stack2d_small(**kwargs) -> SmallVideoNet:
    """The same widths with 3x3 2D convs on the frames stacked as channels (early fusion)."""
    return SmallVideoNet("stack2d", **_pop(kwargs))


for _fn in (c3d, r3d_18, r2plus1d_18, c3d_small, r2plus1d_small, frame2d_small, stack2d_small):
    _fn.modality = "video"
