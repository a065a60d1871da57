"""R3D-18 and R(2+1)D-18: Tran, Wang, Torresani, Ray, LeCun & Paluri, "A Closer Look at
Spatiotemporal Convolutions for Action Recognition", CVPR 2018 (arXiv:1711.11248), Table 1, Sec. 3.5.

The layout is torchvision's ``torchvision.models.video.resnet`` (same parameter count, same outputs
after loading its state dict); ``paper_exact=True`` gives every (2+1)D conv its own M_i.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
from torch import nn

from ..layers import Conv2Plus1d, ConvNormAct, midplanes
from ..registry import register_model
from ._builder import build, torchvision_args
from ._remap import prefixed, remap_modules
from ._specs import Twin, adapt_cfg, twin_cfg
from .base import ClassifierHead, ConvNet, FeatureInfo


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


def _cfg(name: str, first_conv: str) -> dict:
    # torchvision's Kinetics-400 transforms: resize 128x171, crop 112, these mean/std; the final map
    # of a 16 x 112 x 112 clip is 2 x 7 x 7 (T / 8, H / 16, W / 16).
    return dict(architecture=name, input_size=(3, 16, 112, 112), min_input_size=(3, 1, 1, 1),
                fixed_input_size=False, pool_size=(2, 7, 7), mean=(0.43216, 0.394666, 0.37645),
                std=(0.22803, 0.22145, 0.216989), interpolation="bilinear", crop_pct=112 / 128,
                crop_mode="center", num_classes=400, first_conv=first_conv, classifier="head.fc",
                modality="video")


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
# Twins: torchvision's video models of the same names (R(2+1)D-18: 31,505,325 parameters).
default_cfgs = {"r3d_18": twin_cfg(_cfg("r3d_18", "stem.conv"), Twin(None, "r3d_18")),
                "r2plus1d_18": twin_cfg(_cfg("r2plus1d_18", "stem.spatial.conv"),
                                        Twin(None, "r2plus1d_18", 31_505_325))}



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


# torchvision's names of one block's children, relative to the block (ours -> theirs): a unit's conv
# and BN are ``convK.0`` / ``convK.1``; a (2+1)D conv is ``convK.0`` = (spatial, BN, ReLU, temporal)
_TV_UNIT = {"conv": "0", "norm": "1"}
_TV_2PLUS1D = {"conv.spatial": "0.0", "conv.norm": "0.1", "conv.temporal": "0.3", "norm": "1"}
_TV_SHORTCUT = {"shortcut.conv": "downsample.0", "shortcut.norm": "downsample.1"}
_TV_STEM = {"3d": {"stem.conv": "stem.0", "stem.norm": "stem.1"},
            "2plus1d": {"stem.spatial.conv": "stem.0", "stem.spatial.norm": "stem.1",
                        "stem.temporal.conv": "stem.3", "stem.temporal.norm": "stem.4"}}


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
                 in_chans: int = 3, drop_rate: float = 0.0, paper_exact: bool = False,
                 default_cfg: Optional[dict] = None):
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
        self.head = ClassifierHead(c, num_classes, drop_rate, pool_dims=3)
        name = "r3d_18" if conv_type == "3d" else "r2plus1d_18"
        self.default_cfg = adapt_cfg(default_cfg or default_cfgs[name], in_chans=in_chans,
                                     num_classes=num_classes)
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
        return remap_modules(self, state_dict, self._torchvision_map())

    def _torchvision_map(self) -> dict[str, str]:
        """torchvision's ``r3d_18`` / ``r2plus1d_18``: ``stem.<k>``, ``layer<i + 1>.<j>.conv<n>.<k>``,
        ``downsample``, ``fc`` (module paths, ours -> theirs)."""
        unit = _TV_2PLUS1D if self.conv_type == "2plus1d" else _TV_UNIT
        m = {**_TV_STEM[self.conv_type], "head.fc": "fc"}
        for i, stage in enumerate(self.stages):
            for j in range(len(stage)):
                ours, theirs = f"stages.{i}.{j}", f"layer{i + 1}.{j}"
                for n in (1, 2):
                    m.update(prefixed(f"{ours}.conv{n}", f"{theirs}.conv{n}", unit))
                if not isinstance(stage[j].shortcut, nn.Identity):
                    m.update(prefixed(ours, theirs, _TV_SHORTCUT))
        return m


@register_model(cfg=default_cfgs["r3d_18"])
def r3d_18(**kwargs) -> VideoResNet:
    """R3D-18: 3x3x3 basic blocks [2, 2, 2, 2]; torchvision layout, 400 Kinetics classes.
    torchvision's ``weights=None`` and ``progress`` are accepted."""
    return build("r3d_18", "VideoResNet", VideoResNet, torchvision_args("r3d_18", kwargs),
                 spec=VIDEO_RESNET_18, conv_type="3d")


@register_model(cfg=default_cfgs["r2plus1d_18"])
def r2plus1d_18(**kwargs) -> VideoResNet:
    """R(2+1)D-18: (2+1)D basic blocks [2, 2, 2, 2]; torchvision widths, or ``paper_exact=True``."""
    return build("r2plus1d_18", "VideoResNet", VideoResNet,
                 torchvision_args("r2plus1d_18", kwargs), spec=VIDEO_RESNET_18,
                 conv_type="2plus1d")
