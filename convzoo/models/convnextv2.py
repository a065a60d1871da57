"""ConvNeXt V2 Atto/Femto/Pico/Nano/Tiny/Base/Large/Huge.

Woo et al. 2023, "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders",
arXiv:2301.00808: ConvNeXt's network (:mod:`convzoo.models.convnext`) with the V2 block (Fig. 5:
Global Response Normalization after the MLP's GELU, no layer scale). The eight sizes are those of
Sec. 3.3 ("model scaling") as the official code defines them (facebookresearch/ConvNeXt-V2
``models/convnextv2.py``); MACs are the official README's ImageNet-1K table. Reference
implementation with identical parameters: timm ``convnextv2_*`` (torchvision has no V2).
"""
from __future__ import annotations

from ..registry import register_model
from ._builder import build
from ._specs import ConvNeXtSpec, Twin, image_cfg, twin_cfg
from .convnext import ConvNeXt

__all__ = ["CONVNEXT_V2"]

# ConvNeXt V2 model sizes, arXiv:2301.00808 Sec. 3.3 and the official convnextv2.py:
#               B (blocks per stage)  C (channels per stage)       # README: params, GFLOPs @224
CONVNEXT_V2 = {
    "atto":  ConvNeXtSpec((2, 2, 6, 2),   (40, 80, 160, 320)),      # 3.7M    0.55
    "femto": ConvNeXtSpec((2, 2, 6, 2),   (48, 96, 192, 384)),      # 5.2M    0.78
    "pico":  ConvNeXtSpec((2, 2, 6, 2),   (64, 128, 256, 512)),     # 9.1M    1.37
    "nano":  ConvNeXtSpec((2, 2, 8, 2),   (80, 160, 320, 640)),     # 15.6M   2.45
    "tiny":  ConvNeXtSpec((3, 3, 9, 3),   (96, 192, 384, 768)),     # 28.6M   4.47
    "base":  ConvNeXtSpec((3, 3, 27, 3),  (128, 256, 512, 1024)),   # 89M    15.4
    "large": ConvNeXtSpec((3, 3, 27, 3),  (192, 384, 768, 1536)),   # 198M   34.4
    "huge":  ConvNeXtSpec((3, 3, 27, 3),  (352, 704, 1408, 2816)),  # 660M  115
}


def _cfg(variant: str) -> dict:
    """timm's default (first-listed) checkpoint of each name: 224 px, crop 0.875, bicubic, test size
    288; Huge's first checkpoint is the 384 px one (crop 1.0, "squash")."""
    name = f"convnextv2_{variant}"
    if variant == "huge":
        return dict(image_cfg(name, 384, min_input_size=32, floor=True, crop_pct=1.0),
                    crop_mode="squash")
    return dict(image_cfg(name, 224, min_input_size=32, floor=True), test_input_size=(3, 288, 288))


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
# Twins: timm's convnextv2_* (the official code's models), their parameter count, and the official
# README's FLOPs (multiply-adds) at the default size and parameters (Huge: 384 px, from its
# ImageNet-22K table).
CONVNEXT_V2_PAPER = "Woo et al. 2023, arXiv:2301.00808; facebookresearch/ConvNeXt-V2 README"
#                   variant  params       paper: GMACs  M params  same code as
CONVNEXT_V2_TWINS = {"atto":  (3_708_400,          0.55,  3.7,      ""),
                     "femto": (5_233_240,          0.78,  5.2,      "atto"),
                     "pico":  (9_066_280,          1.37,  9.1,      "atto"),
                     "nano":  (15_623_800,         2.45,  15.6,     "atto"),
                     "tiny":  (28_635_496,         4.47,  28.6,     ""),
                     "base":  (88_717_800,         15.4,  89,       "tiny"),
                     "large": (197_956_840,        34.4,  198,      "tiny"),
                     "huge":  (660_289_640,        337.9, 660,      "tiny")}
default_cfgs = {f"convnextv2_{v}": twin_cfg(_cfg(v), Twin(f"convnextv2_{v}", None, params, gmacs, mparams),
                                            paper=CONVNEXT_V2_PAPER, same_code=same and f"convnextv2_{same}")
                for v, (params, gmacs, mparams, same) in CONVNEXT_V2_TWINS.items()}


def _convnextv2(variant: str, **kwargs) -> ConvNeXt:
    """timm's ``convnextv2_*`` defaults: GRN on, layer scale off, no stochastic depth."""
    name = f"convnextv2_{variant}"
    return build(name, "ConvNeXt V2", ConvNeXt, kwargs, spec=CONVNEXT_V2[variant], grn=True,
                 layer_scale_init=0.0)


@register_model(cfg=default_cfgs["convnextv2_atto"])
def convnextv2_atto(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-A: C = (40, 80, 160, 320), B = (2, 2, 6, 2)."""
    return _convnextv2("atto", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_femto"])
def convnextv2_femto(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-F: C = (48, 96, 192, 384), B = (2, 2, 6, 2)."""
    return _convnextv2("femto", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_pico"])
def convnextv2_pico(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-P: C = (64, 128, 256, 512), B = (2, 2, 6, 2)."""
    return _convnextv2("pico", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_nano"])
def convnextv2_nano(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-N: C = (80, 160, 320, 640), B = (2, 2, 8, 2)."""
    return _convnextv2("nano", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_tiny"])
def convnextv2_tiny(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-T: C = (96, 192, 384, 768), B = (3, 3, 9, 3)."""
    return _convnextv2("tiny", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_base"])
def convnextv2_base(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-B: C = (128, 256, 512, 1024), B = (3, 3, 27, 3)."""
    return _convnextv2("base", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_large"])
def convnextv2_large(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-L: C = (192, 384, 768, 1536), B = (3, 3, 27, 3)."""
    return _convnextv2("large", **kwargs)


@register_model(cfg=default_cfgs["convnextv2_huge"])
def convnextv2_huge(**kwargs) -> ConvNeXt:
    """ConvNeXt V2-H: C = (352, 704, 1408, 2816), B = (3, 3, 27, 3); 384 px by default (timm's)."""
    return _convnextv2("huge", **kwargs)
