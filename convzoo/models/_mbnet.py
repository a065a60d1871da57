"""The network shared by MobileNetV2, EfficientNet and EfficientNetV2: a table of MB stages.

stem conv3x3/s2 -> stages of MBConv / FusedMBConv rows -> head conv1x1 -> pool -> dropout -> FC.
The families differ only in their table (block, activation and SE per row), stem/head and
normalisation settings; MobileNetV3 shares it too (``mobilenet_v3.py``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Optional, Sequence

import torch
from torch import nn

from ..layers import ConvNormAct, make_divisible
from ..layers.conv import PaddingSpec
from ._block_types import block_type
from ._remap import prefixed, remap_modules
from ._specs import MBStage, adapt_cfg, first_conv_name
from .base import ClassifierHead, ConvNet, FeatureInfo, StrideToDilation


def scale_stages(stages: Sequence[MBStage], width_mult: float = 1.0, depth_mult: float = 1.0,
                 divisor: int = 8) -> tuple[MBStage, ...]:
    """Scale a table's width and depth with the official EfficientNet rounding.

    Channels: ``make_divisible(c * width_mult, divisor)`` (``round_filters``: nearest multiple of 8,
    never below 90 %); layers: ``ceil(n * depth_mult)`` (``round_repeats``).
    """
    return tuple(dataclasses.replace(s, out_channels=make_divisible(s.out_channels * width_mult, divisor),
                                     num_layers=int(math.ceil(s.num_layers * depth_mult)))
                 for s in stages)


class MBNet(ConvNet):
    """A stack of inverted-residual stages described by a table of :class:`MBStage` rows.

    stem (conv3x3 s2 -> BN -> act) -> stages -> neck (conv1x1 -> BN -> act) -> head (pool -> drop -> FC).
    Each row builds its own block type with its activation (``row.act``, else ``act_layer``, which
    also serves stem and neck) and SE style (``row.se_style``; its activation, if unset,
    ``se_act_layer``, else the block's). ``head_channels=0`` leaves out the 1x1 head conv.
    Channels are taken as given (scale the table with :func:`scale_stages` first).
    ``bn_eps``/``bn_momentum`` follow PyTorch's convention (TensorFlow's momentum 0.99 is PyTorch's
    0.01); ``output_stride`` (8, 16, 32) replaces the strides that would pass it by dilation, as
    DeepLab (Chen et al. 2017, arXiv:1706.05587, Sec. 3.1) and timm do (:class:`StrideToDilation`,
    ``dilation_rule``); ``norm_layer`` (torchvision's argument, a callable taking the channel count) replaces
    BatchNorm and its settings. Stochastic depth of block i of n is ``drop_path_rate * i / n``, as
    timm, torchvision and the TF code. ``padding="tf_same"`` gives TensorFlow's asymmetric SAME
    padding, needed for weights ported from TensorFlow.
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    weight_layouts = ("timm", "torchvision")

    def __init__(self, stages: Sequence[MBStage], stem_channels: int, head_channels: int, *,
                 num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0, act_layer=nn.SiLU, se_act_layer=None,
                 padding: PaddingSpec = "same", bn_eps: float = 1e-5, bn_momentum: float = 0.1,
                 norm_layer=None, default_cfg: Optional[dict] = None, output_stride: int = 32,
                 dilation_rule: str = "timm"):
        super().__init__()
        if not stages:
            raise ValueError("an MBNet needs at least one stage row")
        if padding not in ("same", "tf_same"):
            raise ValueError(f'padding must be "same" or "tf_same", got {padding!r}')
        self.in_chans, self.num_classes = in_chans, num_classes
        self.table = tuple(stages)
        nk = dict(norm=norm_layer, norm_kwargs=None) if norm_layer is not None else \
            dict(norm="batch", norm_kwargs=dict(eps=bn_eps, momentum=bn_momentum))
        self.stem = ConvNormAct(in_chans, stem_channels, 3, 2, padding, act_layer=act_layer, **nk)
        n = sum(s.num_layers for s in stages)
        rates = iter([drop_path_rate * i / n for i in range(n)])
        layers, in_ch = [], stem_channels
        dilate = StrideToDilation(output_stride, dilation_rule, reduction=2)
        self.output_stride = output_stride
        self.feature_info = FeatureInfo()
        for i, row in enumerate(stages):
            blocks, se = [], row.se_style
            block_type(row.block)          # a registered type, so its checkpoint keys are known
            for j in range(row.num_layers):
                stride, dilation = dilate(row.stride if j == 0 else 1)
                blocks.append(row.block(
                    in_ch, row.out_channels, expand_ratio=row.expand_ratio,
                    kernel_size=row.kernel_size, stride=stride, dilation=dilation,
                    act_layer=row.act or act_layer, se_ratio=row.se_ratio, se_width=se.width,
                    se_act_layer=se.act or se_act_layer, se_gate_layer=se.gate,
                    drop_path=next(rates), padding=padding, **nk))
                in_ch = row.out_channels
            layers.append(nn.Sequential(*blocks))
            reduction = dilate.reduction
            # a feature level is the last stage at each resolution, as timm's feature_info
            if i + 1 == len(stages) or stages[i + 1].stride > 1:
                self.feature_info.append(dict(num_chs=in_ch, reduction=reduction, module=f"stages.{i}"))
        self.stages = nn.Sequential(*layers)
        if head_channels:
            self.neck = ConvNormAct(in_ch, head_channels, 1, act_layer=act_layer, **nk)
            in_ch = head_channels
        else:
            self.neck = nn.Identity()
        self.num_features = in_ch
        self.head = self._make_head(in_ch, num_classes, drop_rate, act_layer)
        self._init_weights()
        self.default_cfg = adapt_cfg(default_cfg or {}, in_chans=in_chans, num_classes=num_classes,
                                     first_conv=first_conv_name(self))

    def _make_head(self, in_ch: int, num_classes: int, drop_rate: float, act_layer) -> nn.Module:
        """pool -> dropout -> FC (MobileNetV3 puts a 1x1 conv between pool and FC)."""
        return ClassifierHead(in_ch, num_classes, drop_rate)

    def _init_weights(self) -> None:
        # torchvision's EfficientNet/MobileNet init: He (fan-out) convs, unit BN, uniform FC.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                r = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)

    # ----------------------------------------------------------------- checkpoint conversion
    def _blocks(self):
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage):
                yield i, j, block

    def _block_paths(self, layout: str) -> Iterator[tuple[str, str, nn.Module]]:
        """(our block path, the layout's block path, block): timm's ``blocks.<i>.<j>``, torchvision's
        EfficientNet ``features.<i + 1>.<j>.block`` (a family with another grouping overrides this)."""
        for i, j, b in self._blocks():
            theirs = f"blocks.{i}.{j}" if layout == "timm" else f"features.{i + 1}.{j}.block"
            yield f"stages.{i}.{j}", theirs, b

    def _block_map(self, layout: str) -> dict[str, str]:
        """Every block's children, through the block registry's key map for ``layout``."""
        m = {}
        for ours, theirs, b in self._block_paths(layout):
            m.update(prefixed(ours, theirs, getattr(block_type(b), layout)(b)))
        return m

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        maps = {"timm": self._timm_map, "torchvision": self._torchvision_map}
        if layout not in maps:
            raise ValueError(f"{type(self).__name__} converts layouts {tuple(maps)}, got {layout!r}")
        return remap_modules(self, state_dict, maps[layout]())

    def _timm_map(self) -> dict[str, str]:
        """timm's ``EfficientNet`` class (efficientnet_*, tf_efficientnet*, mobilenetv2_*)."""
        return {"stem.conv": "conv_stem", "stem.norm": "bn1", "neck.conv": "conv_head",
                "neck.norm": "bn2", "head.fc": "classifier", **self._block_map("timm")}

    def _torchvision_map(self) -> dict[str, str]:
        """torchvision's EfficientNet / EfficientNetV2: ``features.<stage+1>.<j>.block.<k>``."""
        n = len(self.stages)
        return {"stem.conv": "features.0.0", "stem.norm": "features.0.1",
                "neck.conv": f"features.{n + 1}.0", "neck.norm": f"features.{n + 1}.1",
                "head.fc": "classifier.1", **self._block_map("torchvision")}
