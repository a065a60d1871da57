"""EfficientNet-Lite0-4: EfficientNet for mobile accelerators and integer quantization.

Tan & Le 2019 (arXiv:1905.11946) define B0; the Lite variants are TensorFlow's
``efficientnet/lite/efficientnet_lite_builder.py`` (tensorflow/tpu, 2020): B0's table with the
changes that make it quantize well (the TF blog of 2020-03, "Higher accuracy on vision models with
EfficientNet-Lite": PTQ of B0 fell from 75 % to 46 %, fixed by these):

- no squeeze-excite (its wide sigmoid/swish ranges quantize badly, and mobile delegates lack it);
- ReLU6 instead of swish (a bounded activation range);
- stem (32) and head (1280) channels fixed while the width grows, and the first and last stages'
  repeats fixed while the depth grows (``fix_stem_head``), to keep the small models small.

Twins: timm's ``efficientnet_lite*`` (PyTorch padding, BN eps 1e-5) and ``tf_efficientnet_lite*``
(TensorFlow SAME padding, BN eps 1e-3, inputs in [-1, 1]); parameter counts and outputs equal.
"""
from __future__ import annotations

import dataclasses

from torch import nn

from ..registry import register_model
from ._builder import build
from ._mbnet import scale_stages
from ._specs import MBStage, Scaling, TF_INCEPTION_MEAN, TF_INCEPTION_STD, Twin, image_cfg, twin_cfg
from .efficientnet import EfficientNet
from ..blocks import MBConv

__all__ = ["EFFICIENTNET_LITE0", "EFFICIENTNET_LITE_SCALING", "lite_stages"]

# EfficientNet-Lite0: Table 1 of Tan & Le 2019 (arXiv:1905.11946) without SE, stages 2-8.
#                block  e  k  s  c_out  n   se
EFFICIENTNET_LITE0 = (
    MBStage(MBConv,     1, 3, 1,  16,   1),  # stage 2, input 112x112
    MBStage(MBConv,     6, 3, 2,  24,   2),  # stage 3
    MBStage(MBConv,     6, 5, 2,  40,   2),  # stage 4
    MBStage(MBConv,     6, 3, 2,  80,   3),  # stage 5
    MBStage(MBConv,     6, 5, 1, 112,   3),  # stage 6
    MBStage(MBConv,     6, 5, 2, 192,   4),  # stage 7
    MBStage(MBConv,     6, 3, 1, 320,   1),  # stage 8
)
LITE_STEM, LITE_HEAD = 32, 1280   # fixed for every variant (efficientnet_lite_builder.py)

# (width, depth, resolution, dropout) of efficientnet_lite_builder.py::efficientnet_lite_params.
#                                     width depth  res  dropout
EFFICIENTNET_LITE_SCALING = {
    "lite0": Scaling(1.0, 1.0, 224, 0.2),
    "lite1": Scaling(1.0, 1.1, 240, 0.2),
    "lite2": Scaling(1.1, 1.2, 260, 0.3),
    "lite3": Scaling(1.2, 1.4, 280, 0.3),
    "lite4": Scaling(1.4, 1.8, 300, 0.3),
}

# timm's pretrained_cfgs, which differ from the TF table's resolutions: timm's efficientnet_lite1-4
# (untrained there) reuse B1-B4's (240, 260, 300, 380) and tf_efficientnet_lite3/4 are evaluated at
# 300/380 px, bilinear. The cfgs say what timm does, so a timm user's pipeline is unchanged.
#               res  crop   tf interpolation
_TIMM_CFG = {
    "lite0": (224, 0.875, "bicubic"),
    "lite1": (240, 0.882, "bicubic"),
    "lite2": (260, 0.890, "bicubic"),
    "lite3": (300, 0.904, "bilinear"),
    "lite4": (380, 0.920, "bilinear"),
}


def lite_stages(scaling: Scaling, divisor: int = 8) -> tuple[MBStage, ...]:
    """Lite0's table scaled by ``scaling``, with the first and last stages' repeats kept."""
    scaled = list(scale_stages(EFFICIENTNET_LITE0, scaling.width_mult, scaling.depth_mult, divisor))
    for i in (0, len(scaled) - 1):   # fix_first_last: only the channels of these stages scale
        scaled[i] = dataclasses.replace(scaled[i], num_layers=EFFICIENTNET_LITE0[i].num_layers)
    return tuple(scaled)


def _cfg(name: str, variant: str, tf: bool) -> dict:
    res, crop, interp = _TIMM_CFG[variant]
    if not tf:   # timm's efficientnet_lite*: bicubic, crop as B0-B4's (lite4: 0.922)
        crop, interp = (0.922 if variant == "lite4" else crop), "bicubic"
    stats = dict(mean=TF_INCEPTION_MEAN, std=TF_INCEPTION_STD) if tf else {}
    return image_cfg(name, res, crop_pct=crop, interpolation=interp, **stats)


# The metadata of every registered name (handed to register_model with each builder).
# Twins: timm's efficientnet_lite* and tf_efficientnet_lite*, with these parameters (the same for the
# tf_ ports); Lite1-4 are Lite0's code at other widths and depths.
#                variant   params
LITE_PARAMS = {"lite0": 4_652_008,
               "lite1": 5_416_680,
               "lite2": 6_092_072,
               "lite3": 8_197_096,
               "lite4": 13_006_568}
default_cfgs = {f"{tf}efficientnet_{v}": twin_cfg(_cfg(f"{tf}efficientnet_{v}", v, bool(tf)),
                                                  Twin(f"{tf}efficientnet_{v}", None, LITE_PARAMS[v]),
                                                  same_code="" if v == "lite0" else f"{tf}efficientnet_lite0")
                for tf in ("", "tf_") for v in EFFICIENTNET_LITE_SCALING}


def _lite(variant: str, tf: bool = False, **kwargs) -> EfficientNet:
    name = f"{'tf_' if tf else ''}efficientnet_{variant}"
    scaling = EFFICIENTNET_LITE_SCALING[variant]
    kwargs.setdefault("drop_rate", scaling.dropout)
    kwargs.setdefault("act_layer", nn.ReLU6)
    if tf:   # timm's tf_ ports: SAME padding, BN eps 1e-3 (TF's)
        kwargs.setdefault("padding", "tf_same")
        kwargs.setdefault("bn_eps", 1e-3)
    return build(name, "EfficientNet-Lite", EfficientNet, kwargs, stages=lite_stages(scaling), stem_channels=LITE_STEM,
                 head_channels=LITE_HEAD)


@register_model(cfg=default_cfgs["efficientnet_lite0"])
def efficientnet_lite0(**kwargs) -> EfficientNet:
    """EfficientNet-Lite0: B0 without SE, ReLU6; 224 px."""
    return _lite("lite0", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_lite1"])
def efficientnet_lite1(**kwargs) -> EfficientNet:
    """EfficientNet-Lite1: depth 1.1 (first/last stage fixed), stem/head fixed."""
    return _lite("lite1", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_lite2"])
def efficientnet_lite2(**kwargs) -> EfficientNet:
    """EfficientNet-Lite2: width 1.1, depth 1.2."""
    return _lite("lite2", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_lite3"])
def efficientnet_lite3(**kwargs) -> EfficientNet:
    """EfficientNet-Lite3: width 1.2, depth 1.4."""
    return _lite("lite3", **kwargs)


@register_model(cfg=default_cfgs["efficientnet_lite4"])
def efficientnet_lite4(**kwargs) -> EfficientNet:
    """EfficientNet-Lite4: width 1.4, depth 1.8."""
    return _lite("lite4", **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_lite0"])
def tf_efficientnet_lite0(**kwargs) -> EfficientNet:
    """EfficientNet-Lite0 as the TensorFlow original (SAME padding, BN eps 1e-3, inputs in [-1, 1])."""
    return _lite("lite0", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_lite1"])
def tf_efficientnet_lite1(**kwargs) -> EfficientNet:
    """EfficientNet-Lite1, TensorFlow padding and BN settings."""
    return _lite("lite1", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_lite2"])
def tf_efficientnet_lite2(**kwargs) -> EfficientNet:
    """EfficientNet-Lite2, TensorFlow padding and BN settings."""
    return _lite("lite2", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_lite3"])
def tf_efficientnet_lite3(**kwargs) -> EfficientNet:
    """EfficientNet-Lite3, TensorFlow padding and BN settings."""
    return _lite("lite3", tf=True, **kwargs)


@register_model(cfg=default_cfgs["tf_efficientnet_lite4"])
def tf_efficientnet_lite4(**kwargs) -> EfficientNet:
    """EfficientNet-Lite4, TensorFlow padding and BN settings."""
    return _lite("lite4", tf=True, **kwargs)
