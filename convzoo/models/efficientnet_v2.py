"""EfficientNetV2-S/M/L.

Tan & Le 2021, "EfficientNetV2: Smaller Models and Faster Training", arXiv:2104.00298. S is Table 4
(final version: stage 6 has 256 channels, head 1280, as the released weights); M and L are the
official configs of google/automl ``efficientnetv2/effnetv2_configs.py`` (the paper prints no table
for them). Early stages use Fused-MBConv (one k x k conv), later ones MBConv with SE 0.25.
Reference implementations: torchvision ``efficientnet_v2_*`` (symmetric padding, BN eps 1e-3) and
timm ``tf_efficientnetv2_*`` (TF SAME padding, BN eps 1e-3), registered here as ``tf_efficientnet_v2_*``.
"""
from __future__ import annotations

from ..blocks import FusedMBConv, MBConv
from ..registry import register_model
from ._builder import build, torchvision_args
from ._specs import TF_INCEPTION_MEAN, TF_INCEPTION_STD, MBStage, Twin, image_cfg, twin_cfg
from .efficientnet import EfficientNet

__all__ = ["EFFICIENTNET_V2_S", "EFFICIENTNET_V2_M", "EFFICIENTNET_V2_L"]

# EfficientNetV2-S, Table 4 of Tan & Le 2021 (arXiv:2104.00298), stages 1-6; stem 24, head 1280.
#                 block       e  k  s  c_out   n   se
EFFICIENTNET_V2_S = (
    MBStage(FusedMBConv,      1, 3, 1,  24,    2),
    MBStage(FusedMBConv,      4, 3, 2,  48,    4),
    MBStage(FusedMBConv,      4, 3, 2,  64,    4),
    MBStage(MBConv,           4, 3, 2, 128,    6, 0.25),
    MBStage(MBConv,           6, 3, 1, 160,    9, 0.25),
    MBStage(MBConv,           6, 3, 2, 256,   15, 0.25),
)

# EfficientNetV2-M, official config v2_m_block (google/automl effnetv2_configs.py); stem 24, head 1280.
#                 block       e  k  s  c_out   n   se
EFFICIENTNET_V2_M = (
    MBStage(FusedMBConv,      1, 3, 1,  24,    3),
    MBStage(FusedMBConv,      4, 3, 2,  48,    5),
    MBStage(FusedMBConv,      4, 3, 2,  80,    5),
    MBStage(MBConv,           4, 3, 2, 160,    7, 0.25),
    MBStage(MBConv,           6, 3, 1, 176,   14, 0.25),
    MBStage(MBConv,           6, 3, 2, 304,   18, 0.25),
    MBStage(MBConv,           6, 3, 1, 512,    5, 0.25),
)

# EfficientNetV2-L, official config v2_l_block; stem 32, head 1280.
#                 block       e  k  s  c_out   n   se
EFFICIENTNET_V2_L = (
    MBStage(FusedMBConv,      1, 3, 1,  32,    4),
    MBStage(FusedMBConv,      4, 3, 2,  64,    7),
    MBStage(FusedMBConv,      4, 3, 2,  96,    7),
    MBStage(MBConv,           4, 3, 2, 192,   10, 0.25),
    MBStage(MBConv,           6, 3, 1, 224,   19, 0.25),
    MBStage(MBConv,           6, 3, 2, 384,   25, 0.25),
    MBStage(MBConv,           6, 3, 1, 640,    7, 0.25),
)

#         table              stem  eval px  dropout   (official (train, eval, dropout) tuples)
_V2 = {"s": (EFFICIENTNET_V2_S, 24, 384, 0.2),
       "m": (EFFICIENTNET_V2_M, 24, 480, 0.3),
       "l": (EFFICIENTNET_V2_L, 32, 480, 0.4)}


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table). Eval
# crop 1.0: timm's tf_efficientnetv2 ports and torchvision evaluate the full eval-size image; the tf_
# names load timm's TF ports, which expect mean = std = 0.5 (inputs in [-1, 1]).
default_cfgs = {
    **{f"efficientnet_v2_{v}": image_cfg(f"efficientnet_v2_{v}", res, crop_pct=1.0)
       for v, (_, _, res, _) in _V2.items()},
    **{f"tf_efficientnet_v2_{v}": image_cfg(f"tf_efficientnet_v2_{v}", res, crop_pct=1.0,
                                            mean=TF_INCEPTION_MEAN, std=TF_INCEPTION_STD)
       for v, (_, _, res, _) in _V2.items()},
}

# Twins: torchvision's efficientnet_v2_* and timm's tf_efficientnetv2_* (timm's efficientnetv2_* have
# BN eps 1e-5: bn_eps=1e-5 gives their outputs), both with these parameters, and the official
# README's FLOPs (multiply-adds) and parameters of the released checkpoints at the eval size (Table 7
# of the paper gives the v1 PDF's 24M / 8.8B, 55M / 24B, 121M / 53B for other checkpoints).
V2_PAPER = "Tan & Le 2021, arXiv:2104.00298; google/automl efficientnetv2 README (released checkpoints)"
#     variant    params       paper: GMACs  M params
V2_TWINS = {
    "s": (21_458_488,         8.4,   21.5),
    "m": (54_139_356,         24.7,  54.1),
    "l": (118_515_272,        56.3,  119.5),
}
default_cfgs.update({f"efficientnet_v2_{v}": twin_cfg(
    default_cfgs[f"efficientnet_v2_{v}"], Twin(None, f"efficientnet_v2_{v}", params, *paper), paper=V2_PAPER,
    same_code="" if v == "s" else "efficientnet_v2_s") for v, (params, *paper) in V2_TWINS.items()})
default_cfgs.update({f"tf_efficientnet_v2_{v}": twin_cfg(
    default_cfgs[f"tf_efficientnet_v2_{v}"], Twin(f"tf_efficientnetv2_{v}", None, params),
    same_code="" if v == "s" else "tf_efficientnet_v2_s") for v, (params, *_) in V2_TWINS.items()})


def _efficientnet_v2(variant: str, tf: bool = False, **kwargs) -> EfficientNet:
    """Defaults are the twin's: torchvision's ``efficientnet_v2_*`` (BN eps 1e-3, momentum 0.1,
    stochastic depth 0.2) and timm's ``tf_efficientnetv2_*`` (BN eps 1e-3, momentum 0.1, SAME
    padding, no stochastic depth). TensorFlow trained with momentum 0.99 (``bn_momentum=0.01``)."""
    name = f"{'tf_' if tf else ''}efficientnet_v2_{variant}"
    table, stem, res, dropout = _V2[variant]
    kwargs = torchvision_args(name, kwargs)
    kwargs.setdefault("bn_eps", 1e-3)
    kwargs.setdefault("drop_rate", dropout)
    kwargs.setdefault("drop_path_rate", 0.0 if tf else 0.2)
    if tf:
        kwargs.setdefault("padding", "tf_same")
    return build(name, "EfficientNetV2", EfficientNet.from_table, kwargs, width_mult=1.0,
                 depth_mult=1.0, divisor=8, stages=table, stem_channels=stem, head_channels=1280, resolution=res,
                 architecture=name, crop_pct=1.0)


@register_model(cfg=default_cfgs["efficientnet_v2_s"])
def efficientnet_v2_s(**kwargs) -> EfficientNet:
    """EfficientNetV2-S (Table 4, 256/1280 version): eval 384 px, dropout 0.2."""
    return _efficientnet_v2("s", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_v2_m"])
def efficientnet_v2_m(**kwargs) -> EfficientNet:
    """EfficientNetV2-M (official config): eval 480 px, dropout 0.3."""
    return _efficientnet_v2("m", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_v2_l"])
def efficientnet_v2_l(**kwargs) -> EfficientNet:
    """EfficientNetV2-L (official config): eval 480 px, dropout 0.4."""
    return _efficientnet_v2("l", **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_v2_s"])
def tf_efficientnet_v2_s(**kwargs) -> EfficientNet:
    """EfficientNetV2-S with TF SAME padding, for timm's ``tf_efficientnetv2_s`` weights."""
    return _efficientnet_v2("s", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_v2_m"])
def tf_efficientnet_v2_m(**kwargs) -> EfficientNet:
    """EfficientNetV2-M with TF SAME padding, for timm's ``tf_efficientnetv2_m`` weights."""
    return _efficientnet_v2("m", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_v2_l"])
def tf_efficientnet_v2_l(**kwargs) -> EfficientNet:
    """EfficientNetV2-L with TF SAME padding, for timm's ``tf_efficientnetv2_l`` weights."""
    return _efficientnet_v2("l", tf=True, **kwargs)
