"""EfficientNet B0-B7 and compound scaling.

Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
arXiv:1905.11946. B0 is Table 1; B1-B7 scale it with the official (width, depth, resolution, dropout)
tuples of ``efficientnet_builder.py::efficientnet_params`` (tensorflow/tpu), rounding filters with
``round_filters`` (:func:`~convzoo.layers.make_divisible`) and repeats with ``ceil``.
Reference implementations that settled details: timm ``efficientnet_b*`` / ``tf_efficientnet_b*``
and torchvision ``efficientnet_b*`` (identical parameter counts).

Any table can be grown in the three dimensions of Eq. 3::

    d, w, r = compound_scaling(phi=1)                    # 1.2, 1.1, 1.15
    net = EfficientNet.from_table(EFFICIENTNET_B0, width_mult=w, depth_mult=d,
                                  resolution=round(224 * r), num_classes=10)
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

from torch import nn

from ..blocks import MBConv
from ..layers import make_divisible
from ..layers.conv import PaddingSpec
from ..registry import register_model
from ._builder import build, torchvision_args
from ._mbnet import MBNet, scale_stages
from ._remap import remap_modules
from ._specs import MBStage, Scaling, Twin, image_cfg, twin_cfg

__all__ = ["EfficientNet", "EFFICIENTNET_B0", "EFFICIENTNET_SCALING", "compound_scaling",
           "CompoundScaling", "scale_stages"]

# EfficientNet-B0, Table 1 of Tan & Le 2019 (arXiv:1905.11946), stages 2-8.
# Stage 1 (conv3x3, 32 ch) is the stem; stage 9 (conv1x1 1280, pool, FC) is the head.
#                block  e  k  s  c_out  n   se
EFFICIENTNET_B0 = (
    MBStage(MBConv,     1, 3, 1,  16,   1, 0.25),  # stage 2, input 112x112
    MBStage(MBConv,     6, 3, 2,  24,   2, 0.25),  # stage 3, input 112x112
    MBStage(MBConv,     6, 5, 2,  40,   2, 0.25),  # stage 4, input 56x56
    MBStage(MBConv,     6, 3, 2,  80,   3, 0.25),  # stage 5, input 28x28
    MBStage(MBConv,     6, 5, 1, 112,   3, 0.25),  # stage 6, input 14x14
    MBStage(MBConv,     6, 5, 2, 192,   4, 0.25),  # stage 7, input 14x14
    MBStage(MBConv,     6, 3, 1, 320,   1, 0.25),  # stage 8, input 7x7
)
B0_STEM, B0_HEAD = 32, 1280

# (width, depth, resolution, dropout). The paper gives only phi and alpha/beta/gamma, so these
# per-variant values come from the TF reference efficientnet_builder.py (timm quotes the same).
#                                width depth  res  dropout
EFFICIENTNET_SCALING = {
    "b0": Scaling(1.0, 1.0, 224, 0.2),
    "b1": Scaling(1.0, 1.1, 240, 0.2),
    "b2": Scaling(1.1, 1.2, 260, 0.3),
    "b3": Scaling(1.2, 1.4, 300, 0.3),
    "b4": Scaling(1.4, 1.8, 380, 0.4),
    "b5": Scaling(1.6, 2.2, 456, 0.4),
    "b6": Scaling(1.8, 2.6, 528, 0.5),
    "b7": Scaling(2.0, 3.1, 600, 0.5),
}


class CompoundScaling(NamedTuple):
    depth_mult: float
    width_mult: float
    resolution_mult: float


def compound_scaling(phi: float, alpha: float = 1.2, beta: float = 1.1,
                     gamma: float = 1.15) -> CompoundScaling:
    """Eq. 3 of Tan & Le 2019: depth ``alpha**phi``, width ``beta**phi``, resolution ``gamma**phi``.

    With ``alpha * beta**2 * gamma**2 ~= 2`` (1.92 for the defaults, the paper's grid-search result at
    phi = 1) the MACs grow by about ``2**phi``. Returns ``(depth_mult, width_mult, resolution_mult)``.
    NOTE: the released B1-B7 do not use these values exactly; their tuples were hand-rounded
    (:data:`EFFICIENTNET_SCALING`).
    """
    for name, v in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1 (Eq. 3), got {v}")
    return CompoundScaling(alpha ** phi, beta ** phi, gamma ** phi)


class EfficientNet(MBNet):
    """EfficientNet: MBConv stages (SiLU, SE 0.25 of the block input) between a stem and a 1x1 head.

    stem conv3x3/s2 -> 7 MBConv stages -> conv1x1 -> pool -> dropout -> FC.
    Defaults match timm's ``efficientnet_b*`` and torchvision (BN eps 1e-5, momentum 0.1, symmetric
    padding); ``padding="tf_same", bn_eps=1e-3`` match timm's ``tf_efficientnet_b*`` ports
    (registered here as ``tf_efficientnet_b*``, which train with PyTorch's momentum 0.1 as timm's
    do); ``bn_momentum=0.01`` is the TensorFlow original's 0.99.
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("timm", "torchvision", "efficientnet_pytorch")

    @classmethod
    def from_table(cls, stages: Sequence[MBStage] = EFFICIENTNET_B0, stem_channels: int = B0_STEM,
                   head_channels: int = B0_HEAD, *, width_mult: float = 1.0, depth_mult: float = 1.0,
                   resolution: int = 224, num_classes: int = 1000, in_chans: int = 3,
                   drop_rate: float = 0.2, drop_path_rate: float = 0.2, divisor: int = 8,
                   architecture: str = "efficientnet", crop_pct: Optional[float] = None,
                   default_cfg: Optional[dict] = None, act_layer=nn.SiLU, se_act_layer=None,
                   padding: PaddingSpec = "same", bn_eps: float = 1e-5, bn_momentum: float = 0.1,
                   norm_layer=None, output_stride: int = 32, dilation_rule: str = "timm") -> "EfficientNet":
        """Scale any base table by (depth, width, resolution) into a model.

        Stage, stem and head channels are ``make_divisible(c * width_mult, divisor)``, layers
        ``ceil(n * depth_mult)``; ``resolution`` (pixels) is the model's default input size. The
        keywords after ``default_cfg`` are :class:`MBNet`'s. ``crop_pct`` defaults to
        ``resolution / (resolution + 32)``, the TF eval crop.
        ``default_cfg`` (a registered name's table entry) replaces the metadata derived here.
        """
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError(f"width_mult and depth_mult must be > 0, got {width_mult}, {depth_mult}")
        if not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"resolution must be a positive int (pixels), got {resolution!r}")
        stem = make_divisible(stem_channels * width_mult, divisor)
        head = make_divisible(head_channels * width_mult, divisor) if head_channels else 0
        crop = crop_pct if crop_pct is not None else round(resolution / (resolution + 32), 3)
        cfg = default_cfg or image_cfg(architecture, resolution, crop_pct=crop)
        return cls(scale_stages(stages, width_mult, depth_mult, divisor), stem, head,
                   num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                   drop_path_rate=drop_path_rate, default_cfg=cfg, act_layer=act_layer,
                   se_act_layer=se_act_layer, padding=padding, bn_eps=bn_eps, bn_momentum=bn_momentum,
                   norm_layer=norm_layer, output_stride=output_stride, dilation_rule=dilation_rule)

    def convert_state_dict(self, state_dict, layout: str) -> dict:
        if layout == "efficientnet_pytorch":
            return remap_modules(self, state_dict, self._efficientnet_pytorch_map())
        return super().convert_state_dict(state_dict, layout)

    def _efficientnet_pytorch_map(self) -> dict[str, str]:
        """lukemelas' ``efficientnet_pytorch`` (and the EfficientNet-Lite files in its layout): blocks
        numbered over the whole net (``_blocks.<n>``), BNs named by position. Its B0-B7 are TF ports
        (SAME padding, BN eps 1e-3): load them into ``tf_efficientnet_b*``."""
        m = {"stem.conv": "_conv_stem", "stem.norm": "_bn0", "neck.conv": "_conv_head",
             "neck.norm": "_bn1", "head.fc": "_fc"}
        for n, (i, j, _) in enumerate(self._blocks()):
            m.update({f"stages.{i}.{j}.{ours}": f"_blocks.{n}.{theirs}" for ours, theirs in _EPT_BLOCK.items()})
        return m


# an MBConv's children in efficientnet_pytorch's MBConvBlock (absent ones are simply not asked for)
_EPT_BLOCK = {"expand.conv": "_expand_conv", "expand.norm": "_bn0", "dw.conv": "_depthwise_conv",
              "dw.norm": "_bn1", "se.reduce": "_se_reduce", "se.expand": "_se_expand",
              "project.conv": "_project_conv", "project.norm": "_bn2"}


def _crop(resolution: int) -> float:
    return round(resolution / (resolution + 32), 3)   # the TF reference's eval crop


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
# tf_ names: timm's TF ports of the official weights (ImageNet mean/std, bicubic, as timm's cfgs).
default_cfgs = {f"{tf}efficientnet_{v}": image_cfg(f"{tf}efficientnet_{v}", s.resolution,
                                                   crop_pct=_crop(s.resolution))
                for tf in ("", "tf_") for v, s in EFFICIENTNET_SCALING.items()}

# Twins: timm's and torchvision's efficientnet_b* (torchvision's B5-B7, TF ports, use BN eps 1e-3:
# bn_eps=1e-3 gives their outputs), their parameter count, and Table 2's FLOPS (multiply-adds) and
# parameters.
# The tf_ names are timm's tf_efficientnet_b* and efficientnet_pytorch's efficientnet-b* (SAME
# padding, eps 1e-3), with the same parameters.
EFFICIENTNET_PAPER = "Tan & Le 2019, arXiv:1905.11946, Table 2"
#      variant   params      paper: GMACs  M params
EFFICIENTNET_TWINS = {
    "b0": (5_288_548,         0.39,  5.3),
    "b1": (7_794_184,         0.70,  7.8),
    "b2": (9_109_994,         1.0,   9.2),
    "b3": (12_233_232,        1.8,   12),
    "b4": (19_341_616,        4.2,   19),
    "b5": (30_389_784,        9.9,   30),
    "b6": (43_040_704,        19,    43),
    "b7": (66_347_960,        37,    66),
}
default_cfgs.update({f"efficientnet_{v}": twin_cfg(
    default_cfgs[f"efficientnet_{v}"], Twin(f"efficientnet_{v}", f"efficientnet_{v}", params, *paper),
    paper=EFFICIENTNET_PAPER, same_code="" if v == "b0" else "efficientnet_b0")
    for v, (params, *paper) in EFFICIENTNET_TWINS.items()})
default_cfgs.update({f"tf_efficientnet_{v}": twin_cfg(
    default_cfgs[f"tf_efficientnet_{v}"], Twin(f"tf_efficientnet_{v}", None, params),
    same_code="" if v == "b0" else "tf_efficientnet_b0", efficientnet_pytorch=f"efficientnet-{v}")
    for v, (params, *_) in EFFICIENTNET_TWINS.items()})


def _efficientnet(variant: str, tf: bool = False, **kwargs) -> EfficientNet:
    """Defaults are the twin's: timm's ``efficientnet_b*`` / ``tf_efficientnet_b*`` (no stochastic
    depth; BN momentum 0.1). torchvision's ``stochastic_depth_prob`` (0.2 there) and ``dropout`` are
    taken under their names."""
    name = f"{'tf_' if tf else ''}efficientnet_{variant}"
    kwargs = torchvision_args(name, kwargs)
    kwargs.setdefault("drop_path_rate", 0.0)
    if tf:   # timm's tf_ ports: SAME padding, BN eps 1e-3 (TF's); momentum stays PyTorch's 0.1
        kwargs.setdefault("padding", "tf_same")
        kwargs.setdefault("bn_eps", 1e-3)
    scaling = EFFICIENTNET_SCALING[variant]
    kwargs.setdefault("drop_rate", scaling.dropout)
    return build(name, "EfficientNet", EfficientNet.from_table, kwargs, stages=EFFICIENTNET_B0,
                 stem_channels=B0_STEM, head_channels=B0_HEAD, width_mult=scaling.width_mult,
                 depth_mult=scaling.depth_mult, resolution=scaling.resolution, architecture=name)


@register_model(cfg=default_cfgs["efficientnet_b0"])
def efficientnet_b0(**kwargs) -> EfficientNet:
    """EfficientNet-B0 (Table 1): 224 px, dropout 0.2."""
    return _efficientnet("b0", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b1"])
def efficientnet_b1(**kwargs) -> EfficientNet:
    """EfficientNet-B1: B0 with depth 1.1; 240 px, dropout 0.2."""
    return _efficientnet("b1", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b2"])
def efficientnet_b2(**kwargs) -> EfficientNet:
    """EfficientNet-B2: width 1.1, depth 1.2; 260 px, dropout 0.3."""
    return _efficientnet("b2", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b3"])
def efficientnet_b3(**kwargs) -> EfficientNet:
    """EfficientNet-B3: width 1.2, depth 1.4; 300 px, dropout 0.3."""
    return _efficientnet("b3", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b4"])
def efficientnet_b4(**kwargs) -> EfficientNet:
    """EfficientNet-B4: width 1.4, depth 1.8; 380 px, dropout 0.4."""
    return _efficientnet("b4", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b5"])
def efficientnet_b5(**kwargs) -> EfficientNet:
    """EfficientNet-B5: width 1.6, depth 2.2; 456 px, dropout 0.4."""
    return _efficientnet("b5", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b6"])
def efficientnet_b6(**kwargs) -> EfficientNet:
    """EfficientNet-B6: width 1.8, depth 2.6; 528 px, dropout 0.5."""
    return _efficientnet("b6", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_b7"])
def efficientnet_b7(**kwargs) -> EfficientNet:
    """EfficientNet-B7: width 2.0, depth 3.1; 600 px, dropout 0.5."""
    return _efficientnet("b7", **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b0"])
def tf_efficientnet_b0(**kwargs) -> EfficientNet:
    """EfficientNet-B0 as the TensorFlow original (SAME padding, BN eps 1e-3): timm's tf_ ports."""
    return _efficientnet("b0", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b1"])
def tf_efficientnet_b1(**kwargs) -> EfficientNet:
    """EfficientNet-B1, TensorFlow padding and BN settings."""
    return _efficientnet("b1", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b2"])
def tf_efficientnet_b2(**kwargs) -> EfficientNet:
    """EfficientNet-B2, TensorFlow padding and BN settings."""
    return _efficientnet("b2", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b3"])
def tf_efficientnet_b3(**kwargs) -> EfficientNet:
    """EfficientNet-B3, TensorFlow padding and BN settings."""
    return _efficientnet("b3", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b4"])
def tf_efficientnet_b4(**kwargs) -> EfficientNet:
    """EfficientNet-B4, TensorFlow padding and BN settings."""
    return _efficientnet("b4", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b5"])
def tf_efficientnet_b5(**kwargs) -> EfficientNet:
    """EfficientNet-B5, TensorFlow padding and BN settings."""
    return _efficientnet("b5", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b6"])
def tf_efficientnet_b6(**kwargs) -> EfficientNet:
    """EfficientNet-B6, TensorFlow padding and BN settings."""
    return _efficientnet("b6", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_b7"])
def tf_efficientnet_b7(**kwargs) -> EfficientNet:
    """EfficientNet-B7, TensorFlow padding and BN settings."""
    return _efficientnet("b7", tf=True, **kwargs)
