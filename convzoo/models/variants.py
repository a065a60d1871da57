"""Small nets that differ only in their convolution block: the ``convzoo compare`` line-up.

One topology, eight block types, matched depth and width::

    stem ConvNormAct 3x3 (C_in -> w1)
      -> stage 0: depth x block(w1)                       at H x W
      -> stage 1: ConvNormAct 3x3 stride 2 (w1 -> w2), depth x block(w2)   at H/2 x W/2
      -> global average pool -> linear

Only ``block`` changes, each in its paper's form (channels kept, stride 1, with a residual); the last
two, the blocks' successors, are trained by ``convzoo compare`` when named (``DEFAULT_VARIANTS`` is
the first six):

==================  ============================================================  ==================
``variant_conv``     ReLU(x + BN(conv3x3(x)))                                      standard conv
``variant_spatial``  ReLU(x + BN(conv1x3(conv3x1(x)))), C channels between        spatially separable
                     (Jaderberg et al. 2014; Inception-v3, Szegedy et al. 2016, arXiv:1512.00567)
``variant_dwsep``    x + BN(pw1x1(ReLU(BN(dw3x3(x)))))                              MobileNetV1, arXiv:1704.04861
``variant_mbconv``   MBConv, expand 4, k3 (inverted residual)                      MobileNetV2, arXiv:1801.04381
``variant_fused``    Fused-MBConv, expand 4, k3                                     EfficientNetV2, arXiv:2104.00298
``variant_convnext`` ConvNeXt block, dw 7x7, LN, MLP ratio 4, layer scale (init 1)  arXiv:2201.03545
``variant_uib``      UIB as ExtraDW: dw3x3 -> expand 4 -> dw3x3 -> project         MobileNetV4, arXiv:2404.10518
``variant_convnextv2``
                     ConvNeXt V2 block: as above with GRN, no layer scale          arXiv:2301.00808
==================  ============================================================  ==================

The stem and the stride-2 transition are the same standard conv in every variant, so the table
measures the blocks. ``norm=None`` drops BatchNorm (for the distributed equivalence test, where
per-process batch statistics would differ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from ..blocks import ConvNeXtBlock, FusedMBConv, MBConv, UniversalInvertedResidual
from ..layers import ConvNormAct, DepthwiseSeparableConv, SpatiallySeparableConv
from ..registry import register_model
from ._builder import build
from ._specs import adapt_cfg
# the table of names lives apart (torch-free, for the CLI); re-exported here, its first home
from ..variant_table import DEFAULT_VARIANTS, LABELS, LAYER_NAMES, VARIANT_TABLE, VARIANTS, Variant  # noqa: F401
from .base import ClassifierHead, ConvNet, FeatureInfo


class Residual(nn.Module):
    """x -> act(x + fn(x)) (ResNet v1's post-add activation; ``act=None`` leaves the sum linear, as
    MBConv does). Children ``fn``, ``act``. Shape: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, fn: nn.Module, act: Optional[nn.Module] = None):
        super().__init__()
        self.fn = fn
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.fn(x))


def _norm(c: int, norm: Optional[str]) -> nn.Module:
    return nn.BatchNorm2d(c) if norm else nn.Identity()


# block name -> builder(channels, norm) -> channel-preserving module. The plain convs end in BN with
# the ReLU after the sum (ResNet v1), the depthwise separable block has a linear pointwise projection
# (as MBConv / EfficientNet's expand-1 block): a ReLU inside the residual branch made these nets
# train several times slower on digits.
BLOCKS: dict[str, Callable[[int, Optional[str]], nn.Module]] = {
    "conv": lambda c, norm: Residual(ConvNormAct(c, c, 3, norm=norm, act_layer=None), nn.ReLU()),
    # Inception-v3's n x 1 / 1 x n pair with C channels in between (rank = C): 6C^2 weights vs 9C^2
    "spatial": lambda c, norm: Residual(nn.Sequential(SpatiallySeparableConv(c, c, 3, rank=c, bias=not norm),
                                                      _norm(c, norm)), nn.ReLU()),
    "dwsep": lambda c, norm: Residual(DepthwiseSeparableConv(c, c, 3, norm=norm, pw_act_layer=None)),
    "mbconv": lambda c, norm: MBConv(c, c, expand_ratio=4, kernel_size=3, norm=norm),
    "fused": lambda c, norm: FusedMBConv(c, c, expand_ratio=4, kernel_size=3, norm=norm),
    # NOTE: deviates from the paper's layer-scale init 1e-6 (meant for 300 epochs of deep nets): at
    # 1e-6 these blocks start as the identity and, in a 5-epoch run, stay near it (95% on digits, vs
    # 99% for the other blocks); 1.0 starts them as ordinary residual branches like the others.
    "convnext": lambda c, norm: ConvNeXtBlock(c, kernel_size=7, layer_scale_init=1.0),
    # MobileNetV4's own new form of its universal block (ExtraDW: both optional depthwise convs)
    "uib": lambda c, norm: UniversalInvertedResidual(c, c, start_kernel=3, mid_kernel=3, expand_ratio=4,
                                                     norm=norm),
    # V2 as its paper: GRN in the MLP and no layer scale (GRN's zero init starts it as V1's MLP)
    "convnextv2": lambda c, norm: ConvNeXtBlock(c, kernel_size=7, layer_scale_init=0.0, grn=True),
}


@dataclass(frozen=True)
class VariantSpec:
    """The shared topology: widths of the two stages and blocks per stage."""
    widths: tuple = (32, 64)
    depth: int = 2


class VariantNet(ConvNet):
    """stem -> [depth x block] -> stride-2 conv -> [depth x block] -> pool -> fc.

    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    def __init__(self, block: str, *, num_classes: int = 10, in_chans: int = 1, spec: VariantSpec = VariantSpec(),
                 norm: Optional[str] = "batch", drop_rate: float = 0.0, image_size: int = 16,
                 default_cfg: Optional[dict] = None):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {block!r}")
        if norm not in ("batch", None):
            raise ValueError(f"norm must be 'batch' or None, got {norm!r}")
        self.block, self.in_chans, self.num_classes = block, in_chans, num_classes
        w1, w2 = spec.widths
        self.stem = ConvNormAct(in_chans, w1, 3, norm=norm)
        make = BLOCKS[block]
        stage0 = nn.Sequential(*[make(w1, norm) for _ in range(spec.depth)])
        stage1 = nn.Sequential(ConvNormAct(w1, w2, 3, stride=2, norm=norm),
                               *[make(w2, norm) for _ in range(spec.depth)])
        self.stages = nn.Sequential(stage0, stage1)
        self.neck = nn.Identity()
        self.head = ClassifierHead(w2, num_classes, drop_rate)
        self.feature_info = FeatureInfo([dict(num_chs=w1, reduction=1, module="stem"),
                                         dict(num_chs=w1, reduction=1, module="stages.0"),
                                         dict(num_chs=w2, reduction=2, module="stages.1")])
        self.num_features = w2
        side = -(-image_size // 2)   # one padded stride-2 conv
        self.default_cfg = adapt_cfg(default_cfg or _cfg(f"variant_{block}"), in_chans=in_chans,
                                     num_classes=num_classes, pool_size=(side, side),
                                     input_size=(in_chans, image_size, image_size))


def _cfg(name: str) -> dict:
    return dict(architecture=name, input_size=(1, 16, 16), min_input_size=(1, 2, 2),
                fixed_input_size=False, pool_size=(8, 8), mean=(0.5,), std=(0.5,),
                interpolation="bilinear", crop_pct=1.0, crop_mode="center", num_classes=10,
                first_conv="stem.conv", classifier="head.fc", modality="image")


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
default_cfgs = {f"variant_{b}": _cfg(f"variant_{b}") for b in VARIANTS}


def _builder(block: str):
    def fn(*, widths=(32, 64), depth: int = 2, **kwargs) -> VariantNet:
        name = f"variant_{block}"
        return build(name, "VariantNet", VariantNet, kwargs, block=block,
                     spec=VariantSpec(tuple(widths), depth))
    title = next(v.title for v in VARIANT_TABLE if v.name == block)
    fn.__name__ = fn.__qualname__ = f"variant_{block}"
    fn.__doc__ = f"{title} variant of the compare net (digits-sized: 1 channel, 10 classes, 16x16)."
    return register_model(fn, cfg=default_cfgs[fn.__name__])


variant_conv = _builder("conv")
variant_spatial = _builder("spatial")
variant_dwsep = _builder("dwsep")
variant_mbconv = _builder("mbconv")
variant_fused = _builder("fused")
variant_convnext = _builder("convnext")
variant_uib = _builder("uib")
variant_convnextv2 = _builder("convnextv2")
