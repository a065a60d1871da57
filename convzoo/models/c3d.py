"""C3D: Tran, Bourdev, Fergus, Torresani & Paluri, "Learning Spatiotemporal Features with 3D
Convolutional Networks", ICCV 2015 (arXiv:1412.0767), Sec. 3.3 / Fig. 3.

Layer names and the padded pool5 (512 x 1 x 4 x 4 = 8192 features into fc6) follow the widely used
PyTorch port (DavideA/c3d-pytorch), so its Sports-1M checkpoint loads through ``convert_state_dict``.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
from torch import nn

from ..layers import ConvNormAct
from ..registry import register_model
from ._builder import build
from ._specs import Twin, adapt_cfg, twin_cfg
from .base import ClassifierHead, ConvNet, FeatureInfo


@dataclass(frozen=True)
class C3DGroup:
    """One conv group of C3D Fig. 3: its 3x3x3 convs (names, widths) and the max-pool after it."""
    names: tuple           # layer names of the PyTorch port (its checkpoint keys)
    out_channels: tuple
    pool: tuple            # (T, H, W) kernel = stride
    pool_padding: tuple = (0, 0, 0)


# C3D, Fig. 3 of Tran et al. 2015 (arXiv:1412.0767). Every conv is 3x3x3, stride 1, padding 1.
#        names                 convs in the group   pool (T, H, W) after it
C3D_TABLE = (
    C3DGroup(("conv1",),          (64,),      (1, 2, 2)),   # conv1a; pool1 keeps the time axis
    C3DGroup(("conv2",),          (128,),     (2, 2, 2)),   # conv2a
    C3DGroup(("conv3a", "conv3b"), (256, 256), (2, 2, 2)),
    C3DGroup(("conv4a", "conv4b"), (512, 512), (2, 2, 2)),
    # NOTE: the paper does not state pool5's padding; the PyTorch port pads H, W by 1 so a
    # 512 x 1 x 3.5 x 3.5 map becomes 512 x 1 x 4 x 4 = 8192 features (fc6 is 8192 -> 4096).
    C3DGroup(("conv5a", "conv5b"), (512, 512), (2, 2, 2), (0, 1, 1)),
)
C3D_FC = (4096, 4096)   # fc6, fc7, each followed by ReLU and dropout 0.5

# The metadata of the registered name, handed to register_model with each builder (timm's default_cfgs table).
# fc6 fixes the input to 16 x 112 x 112 (fixed_input_size; min_input_size None says the same to
# older callers); the features after fc7 are flat, so there is no pool_size.
default_cfgs = {"c3d": dict(
    architecture="c3d", input_size=(3, 16, 112, 112), min_input_size=None, fixed_input_size=True,
    pool_size=None,
    # The port's Sports-1M weights expect Caffe-style input: 0-255 RGB minus the mean clip.
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), interpolation="bilinear", crop_pct=112 / 128,
    crop_mode="center", num_classes=487, first_conv="stem.conv1.conv", classifier="head.fc",
    modality="video")}
# Twin: the port's C3D (DavideA/c3d-pytorch, its checkpoint's layout), 79,991,015 parameters at 487 classes.
default_cfgs = {"c3d": twin_cfg(default_cfgs["c3d"], Twin(None, None, 79_991_015), **{"c3d-pytorch": "C3D"})}



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
                 spec: tuple = C3D_TABLE, fc: tuple = C3D_FC, default_cfg: Optional[dict] = None):
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
        self.head = ClassifierHead(in_features, num_classes, pool_dims=0)
        self._names["fc8"] = "head.fc"
        self.default_cfg = adapt_cfg(default_cfg or default_cfgs["c3d"], in_chans=in_chans,
                                     num_classes=num_classes)

    def check_trunk_input(self, x: torch.Tensor) -> None:
        ConvNet.check_input(self, x)   # the convs take any clip size; only fc6 fixes it

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




@register_model(cfg=default_cfgs["c3d"])
def c3d(**kwargs) -> C3D:
    """C3D (Tran et al. 2015): 8 convs, 5 pools, fc6/fc7 4096; 487 Sports-1M classes by default."""
    return build("c3d", "C3D", C3D, kwargs)
