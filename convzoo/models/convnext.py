"""ConvNeXt T/S/B/L/XL.

Liu et al. 2022, "A ConvNet for the 2020s", arXiv:2201.03545, Sec. 3 (variants) and Fig. 4 (block);
official code facebookresearch/ConvNeXt ``models/convnext.py``. Reference implementations with
identical parameters: timm ``convnext_*`` and torchvision ``convnext_*`` (no XL).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from ..blocks import ConvNeXtBlock
from ..layers import ChannelLayerNorm, ConvNormAct, drop_path_rates
from ..layers.conv import make_conv
from ..registry import register_model
from ._builder import build, torchvision_args
from ._remap import remap_modules
from ._specs import ConvNeXtSpec, Twin, adapt_cfg, image_cfg, twin_cfg
from .base import ClassifierHead, ConvNet, StrideToDilation

__all__ = ["ConvNeXt", "ConvNeXtStage", "CONVNEXT"]

# ConvNeXt, Sec. 3 of Liu et al. 2022 (arXiv:2201.03545):  B (blocks)     C (channels)
CONVNEXT = {
    "tiny":   ConvNeXtSpec((3, 3, 9, 3),  (96, 192, 384, 768)),
    "small":  ConvNeXtSpec((3, 3, 27, 3), (96, 192, 384, 768)),
    "base":   ConvNeXtSpec((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large":  ConvNeXtSpec((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ConvNeXtSpec((3, 3, 27, 3), (256, 512, 1024, 2048)),
}


class ConvNeXtStage(nn.Module):
    """[LN -> conv2x2/s2 downsample] -> ConvNeXt blocks. Children ``downsample``, ``blocks``.

    Shape: (N, C_in, H, W) -> (N, C_out, H/s, W/s), s = 2 with downsampling, else 1.
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, *, downsample: bool,
                 drop_path: Sequence[float], layer_scale_init: float = 1e-6,
                 dilation: tuple[int, int] = (1, 1), grn: bool = False):
        super().__init__()
        # LN before the strided conv "stabilises training" (Sec. 2.6); both as in the official code.
        # Dilated (output_stride): the 2x2 conv keeps stride 1 with dilation[0] and PyTorch's "same"
        # padding (an even kernel: one row/column after, none before, at dilation 1), as timm's.
        first, rest = dilation
        down = (nn.Conv2d(in_channels, out_channels, 2, 2) if first == rest == 1 else
                make_conv(in_channels, out_channels, 2, 1, "same", dilation=first))
        self.downsample = (nn.Sequential(ChannelLayerNorm(in_channels, eps=1e-6), down)
                           if downsample else nn.Identity())
        self.blocks = nn.Sequential(*[ConvNeXtBlock(out_channels, drop_path=drop_path[i],
                                                    layer_scale_init=layer_scale_init, dilation=rest, grn=grn)
                                      for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXt(ConvNet):
    """ConvNeXt: patchify stem (conv4x4/s4 -> LN) -> 4 stages -> pool -> LN -> FC.

    ``output_stride`` (8, 16, 32) replaces the last downsamplings by dilation, as timm's.
    Stochastic depth rises linearly from 0 to ``drop_path_rate`` over all blocks; layer scale is
    initialised to 1e-6. ``grn=True`` with ``layer_scale_init=0`` is ConvNeXt V2 (``convnextv2.py``).
    Shape: (N, in_chans, H, W) -> (N, num_classes), H, W >= 32.
    """

    weight_layouts = ("timm", "torchvision")

    def __init__(self, spec: ConvNeXtSpec, *, num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, layer_scale_init: float = 1e-6,
                 head_init_scale: float = 1.0, default_cfg: Optional[dict] = None,
                 output_stride: int = 32, grn: bool = False):
        super().__init__()
        self.in_chans, self.num_classes = in_chans, num_classes
        dims = spec.channels
        self.stem = ConvNormAct(in_chans, dims[0], 4, 4, padding=0, bias=True, norm="layer",
                                norm_kwargs=dict(eps=1e-6), act_layer=None)
        rates = drop_path_rates(drop_path_rate, sum(spec.depths))
        stages, in_ch, start = [], dims[0], 0
        dilate = StrideToDilation(output_stride, reduction=4)
        self.output_stride = output_stride
        for i, (depth, ch) in enumerate(zip(spec.depths, dims)):
            stride, _ = dilate(2 if i > 0 else 1)
            # timm's rule: the stage that loses its stride downsamples at the old dilation (1 up to
            # a total dilation of 2, else 2) and its blocks at the new one
            first = 1 if dilate.dilation in (1, 2) else 2
            stages.append(ConvNeXtStage(in_ch, ch, depth, downsample=i > 0,
                                        drop_path=rates[start:start + depth],
                                        layer_scale_init=layer_scale_init,
                                        dilation=(first, dilate.dilation), grn=grn))
            start += depth
            in_ch = ch
            self.feature_info.append(dict(num_chs=ch, reduction=dilate.reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Identity()
        self.num_features = in_ch
        self.head = ClassifierHead(in_ch, num_classes, drop_rate, norm=nn.LayerNorm(in_ch, eps=1e-6))
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes)
        self._init_weights(head_init_scale)

    def _init_weights(self, head_init_scale: float) -> None:
        # official init: truncated normal (std 0.02) for convs and linears, zero biases
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        if isinstance(self.head.fc, nn.Linear):
            self.head.fc.weight.data.mul_(head_init_scale)
            self.head.fc.bias.data.mul_(head_init_scale)

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        m, params = {}, {}
        if layout == "timm":
            m.update({"stem.conv": "stem.0", "stem.norm": "stem.1", "head.norm": "head.norm",
                      "head.fc": "head.fc"})
            for i, stage in enumerate(self.stages):
                m[f"stages.{i}.downsample.0"] = f"stages.{i}.downsample.0"
                m[f"stages.{i}.downsample.1"] = f"stages.{i}.downsample.1"
                for j in range(len(stage.blocks)):
                    p = f"stages.{i}.blocks.{j}"
                    m.update({f"{p}.dwconv": f"{p}.conv_dw", f"{p}.norm": f"{p}.norm",
                              f"{p}.pwconv1": f"{p}.mlp.fc1", f"{p}.pwconv2": f"{p}.mlp.fc2",
                              f"{p}.grn": f"{p}.mlp.grn"})
                    params[f"{p}.gamma"] = f"{p}.gamma"
                    # timm's small V2 nets (conv_mlp=True) hold the MLP as 1x1 convs: (O, I, 1, 1) -> (O, I)
                    for fc, theirs in (("pwconv1", "fc1"), ("pwconv2", "fc2")):
                        params[f"{p}.{fc}.weight"] = (f"{p}.mlp.{theirs}.weight", _flat)
        elif layout == "torchvision":
            m.update({"stem.conv": "features.0.0", "stem.norm": "features.0.1",
                      "head.norm": "classifier.0", "head.fc": "classifier.2"})
            for i, stage in enumerate(self.stages):
                m[f"stages.{i}.downsample.0"] = f"features.{2 * i}.0"
                m[f"stages.{i}.downsample.1"] = f"features.{2 * i}.1"
                for j in range(len(stage.blocks)):
                    p, q = f"stages.{i}.blocks.{j}", f"features.{2 * i + 1}.{j}"
                    m.update({f"{p}.dwconv": f"{q}.block.0", f"{p}.norm": f"{q}.block.2",
                              f"{p}.pwconv1": f"{q}.block.3", f"{p}.pwconv2": f"{q}.block.5"})
                    params[f"{p}.gamma"] = (f"{q}.layer_scale", torch.flatten)  # (C, 1, 1) -> (C,)
        else:
            raise ValueError(f"ConvNeXt converts layouts ('timm', 'torchvision'), got {layout!r}")
        return remap_modules(self, state_dict, m, params)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1)


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
# pool_size: the unpadded stride-4 stem and stride-2 downsamplings floor the size.
default_cfgs = {f"convnext_{v}": image_cfg(f"convnext_{v}", 224, min_input_size=32, floor=True,
                                           first_conv="stem.conv")
                for v in CONVNEXT}

# Twins: timm's and torchvision's convnext_* (torchvision has no XL), their parameter count, and
# Table 1's FLOPs (multiply-adds) at 224 px and parameters (XL: the ImageNet-22K table; T: the paper
# prints 29M, the README 28M).
CONVNEXT_PAPER = "Liu et al. 2022, arXiv:2201.03545, Table 1"
#                variant   timm              torchvision       params       paper: GMACs  M params
CONVNEXT_TWINS = {"tiny":   Twin("convnext_tiny",   "convnext_tiny",   28_589_128,         4.5,  29),
                  "small":  Twin("convnext_small",  "convnext_small",  50_223_688,         8.7,  50),
                  "base":   Twin("convnext_base",   "convnext_base",   88_591_464,         15.4, 89),
                  "large":  Twin("convnext_large",  "convnext_large",  197_767_336,        34.4, 198),
                  "xlarge": Twin("convnext_xlarge", None,              350_196_968,        60.9, 350)}
default_cfgs = {n: twin_cfg(cfg, CONVNEXT_TWINS[n[len("convnext_"):]], paper=CONVNEXT_PAPER,
                            same_code="" if n == "convnext_tiny" else "convnext_tiny")
                for n, cfg in default_cfgs.items()}


def _convnext(variant: str, **kwargs) -> ConvNeXt:
    """Defaults are timm's ``convnext_*`` (no stochastic depth; torchvision's default
    ``stochastic_depth_prob=0.1`` is taken when given). torchvision's ``layer_scale`` is our
    ``layer_scale_init``; ``block`` and ``norm_layer`` are refused (the block and its LayerNorms are
    the paper's)."""
    name = f"convnext_{variant}"
    kwargs = torchvision_args(name, kwargs)
    for arg in ("block", "norm_layer"):
        if kwargs.pop(arg, None) is not None:
            raise ValueError(f"{name} (ConvNeXt) does not take {arg}= (the paper's block and "
                             f"LayerNorms are fixed)")
    if "layer_scale" in kwargs:
        kwargs["layer_scale_init"] = kwargs.pop("layer_scale")
    return build(name, "ConvNeXt", ConvNeXt, kwargs, spec=CONVNEXT[variant])


@register_model(cfg=default_cfgs["convnext_tiny"])
def convnext_tiny(**kwargs) -> ConvNeXt:
    """ConvNeXt-T: C = (96, 192, 384, 768), B = (3, 3, 9, 3)."""
    return _convnext("tiny", **kwargs)


@register_model(cfg=default_cfgs["convnext_small"])
def convnext_small(**kwargs) -> ConvNeXt:
    """ConvNeXt-S: C = (96, 192, 384, 768), B = (3, 3, 27, 3)."""
    return _convnext("small", **kwargs)


@register_model(cfg=default_cfgs["convnext_base"])
def convnext_base(**kwargs) -> ConvNeXt:
    """ConvNeXt-B: C = (128, 256, 512, 1024), B = (3, 3, 27, 3)."""
    return _convnext("base", **kwargs)


@register_model(cfg=default_cfgs["convnext_large"])
def convnext_large(**kwargs) -> ConvNeXt:
    """ConvNeXt-L: C = (192, 384, 768, 1536), B = (3, 3, 27, 3)."""
    return _convnext("large", **kwargs)


@register_model(cfg=default_cfgs["convnext_xlarge"])
def convnext_xlarge(**kwargs) -> ConvNeXt:
    """ConvNeXt-XL: C = (256, 512, 1024, 2048), B = (3, 3, 27, 3) (ImageNet-22K models)."""
    return _convnext("xlarge", **kwargs)
