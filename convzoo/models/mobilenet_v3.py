"""MobileNetV3-Large and MobileNetV3-Small.

Howard et al. 2019, "Searching for MobileNetV3", arXiv:1905.02244, Tables 1 and 2: inverted residual
bottlenecks (MobileNetV2's) with per-layer ReLU or hard-swish and, in some layers, squeeze-excite
with a hard-sigmoid gate squeezed to 1/4 of the expanded channels (Sec. 5.3), then the efficient last
stage of Sec. 5.1 (conv1x1 960 -> pool -> conv1x1 1280 without BN -> classifier).
Reference implementations: timm ``mobilenetv3_large_100`` and torchvision ``mobilenet_v3_large``
(5,483,032 parameters, both); timm ``mobilenetv3_small_050/075/100`` and torchvision
``mobilenet_v3_small`` (2,542,856 parameters, = timm's ``_100``).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Sequence

import torch
from torch import nn

from ..blocks import MBConv
from ..blocks.se_width import SE_MOBILENET_V3
from ..layers import make_act, make_divisible
from ..layers.conv import PaddingSpec
from ..registry import register_model
from ._builder import build, torchvision_args
from ._mbnet import MBNet
from ._remap import remap_modules
from ._specs import MBStage, Twin, image_cfg, twin_cfg
from .base import ClassifierHead

__all__ = ["MobileNetV3", "MobileNetV3Head", "MOBILENET_V3_LARGE", "MOBILENET_V3_SMALL"]

RE, HS = nn.ReLU, nn.Hardswish          # Table 1's "NL" column
SE, V3 = 0.25, SE_MOBILENET_V3          # "SE" checked: 1/4 of the expansion, ReLU, hard-sigmoid

# MobileNetV3-Large, Table 1 of Howard et al. 2019 (arXiv:1905.02244), the 15 bneck rows; one row per
# line. Paper columns: input, operator, exp size, #out, SE, NL, s. Here e = exp size / input
# channels (written as that fraction), k the bneck kernel. Row 1 (conv2d 3x3, 16, HS, s2) is the
# stem; conv2d 1x1 960 the neck; pool, conv2d 1x1 1280 NBN and the classifier the head.
#                block   e         k  s  c_out n  se  NL  SE style      # Table 1 input
MOBILENET_V3_LARGE = (
    MBStage(MBConv,  16 / 16,  3, 1,  16,  1, 0,  RE),            # 112^2 x 16
    MBStage(MBConv,  64 / 16,  3, 2,  24,  1, 0,  RE),            # 112^2 x 16
    MBStage(MBConv,  72 / 24,  3, 1,  24,  1, 0,  RE),            # 56^2 x 24
    MBStage(MBConv,  72 / 24,  5, 2,  40,  1, SE, RE, V3),        # 56^2 x 24
    MBStage(MBConv, 120 / 40,  5, 1,  40,  1, SE, RE, V3),        # 28^2 x 40
    MBStage(MBConv, 120 / 40,  5, 1,  40,  1, SE, RE, V3),        # 28^2 x 40
    MBStage(MBConv, 240 / 40,  3, 2,  80,  1, 0,  HS),            # 28^2 x 40
    MBStage(MBConv, 200 / 80,  3, 1,  80,  1, 0,  HS),            # 14^2 x 80
    MBStage(MBConv, 184 / 80,  3, 1,  80,  1, 0,  HS),            # 14^2 x 80
    MBStage(MBConv, 184 / 80,  3, 1,  80,  1, 0,  HS),            # 14^2 x 80
    MBStage(MBConv, 480 / 80,  3, 1, 112,  1, SE, HS, V3),        # 14^2 x 80
    MBStage(MBConv, 672 / 112, 3, 1, 112,  1, SE, HS, V3),        # 14^2 x 112
    MBStage(MBConv, 672 / 112, 5, 2, 160,  1, SE, HS, V3),        # 14^2 x 112
    MBStage(MBConv, 960 / 160, 5, 1, 160,  1, SE, HS, V3),        # 7^2 x 160
    MBStage(MBConv, 960 / 160, 5, 1, 160,  1, SE, HS, V3),        # 7^2 x 160
)

# MobileNetV3-Small, Table 2 of Howard et al. 2019 (arXiv:1905.02244), the 11 bneck rows, columns as
# above. Row 1 (conv2d 3x3, 16, HS, s2) is the stem; conv2d 1x1 576 (SE, HS) the neck (timm and
# torchvision put no SE there, nor does the official TF code); pool, conv2d 1x1 1024 NBN the head.
#                block   e         k  s  c_out n  se  NL  SE style      # Table 2 input
MOBILENET_V3_SMALL = (
    MBStage(MBConv,  16 / 16,  3, 2,  16,  1, SE, RE, V3),        # 112^2 x 16
    MBStage(MBConv,  72 / 16,  3, 2,  24,  1, 0,  RE),            # 56^2 x 16
    MBStage(MBConv,  88 / 24,  3, 1,  24,  1, 0,  RE),            # 28^2 x 24
    MBStage(MBConv,  96 / 24,  5, 2,  40,  1, SE, HS, V3),        # 28^2 x 24
    MBStage(MBConv, 240 / 40,  5, 1,  40,  1, SE, HS, V3),        # 14^2 x 40
    MBStage(MBConv, 240 / 40,  5, 1,  40,  1, SE, HS, V3),        # 14^2 x 40
    MBStage(MBConv, 120 / 40,  5, 1,  48,  1, SE, HS, V3),        # 14^2 x 40
    MBStage(MBConv, 144 / 48,  5, 1,  48,  1, SE, HS, V3),        # 14^2 x 48
    MBStage(MBConv, 288 / 48,  5, 2,  96,  1, SE, HS, V3),        # 14^2 x 48
    MBStage(MBConv, 576 / 96,  5, 1,  96,  1, SE, HS, V3),        # 7^2 x 96
    MBStage(MBConv, 576 / 96,  5, 1,  96,  1, SE, HS, V3),        # 7^2 x 96
)
# timm groups these rows as the TF reference's block groups (``blocks.<i>.<j>``): rows per group,
# keyed by the number of rows. Its last group is the 960 / 576 conv (our neck).
TIMM_GROUPS = {15: (1, 2, 3, 4, 2, 3), 11: (1, 2, 3, 2, 3)}


def scale_small(width_mult: float, stem_channels: int = 16) -> tuple[MBStage, ...]:
    """Table 2 at a width multiplier, with timm's rounding (``round_channels``): every width, the
    expanded ones included, is ``make_divisible(w * width_mult, 8)``; the expansion of each row is
    rewritten as (its rounded expanded width) / (its rounded input width)."""
    rows, in_ch = [], stem_channels
    for row in MOBILENET_V3_SMALL:
        out = make_divisible(row.out_channels * width_mult, 8)
        hidden = make_divisible(in_ch * row.expand_ratio, 8)
        rows.append(dataclasses.replace(row, expand_ratio=hidden / in_ch, out_channels=out))
        in_ch = out
    return tuple(rows)


class MobileNetV3Head(ClassifierHead):
    """pool -> 1x1 conv without BN (a Linear on the pooled vector) -> act -> dropout -> FC.

    Sec. 5.1: the 1280-wide layer moves after the pool, where it costs 1x1 instead of 7x7.
    Children ``hidden`` (torchvision's ``classifier.0``, timm's ``conv_head``), ``act``, ``drop``,
    ``fc``. ``in_features`` is the hidden width (what ``pre_logits`` returns).
    Shape: (N, C, *S) -> (N, num_classes).
    """

    def __init__(self, in_features: int, hidden_features: int, num_classes: int,
                 drop_rate: float = 0.0, act_layer=nn.Hardswish):
        super().__init__(hidden_features, num_classes, drop_rate)
        self.hidden = nn.Linear(in_features, hidden_features)
        self.act = make_act(act_layer)

    def drop_pre_logits(self) -> None:
        super().drop_pre_logits()
        self.hidden, self.act = nn.Identity(), nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        # no super() call: TorchScript cannot compile one
        if self.pool_dims > 0 and self.global_pool == "":   # unpooled: the hidden layer at every position
            x = self.drop(self.norm(self.act(self.hidden(x.movedim(1, -1)))))
            return (x if pre_logits else self.fc(x)).movedim(-1, 1)
        if self.pool_dims > 0:
            x = x.mean(self.pool_axes) if self.global_pool == "avg" else x.amax(self.pool_axes)
        x = self.drop(self.norm(self.act(self.hidden(x))))
        return x if pre_logits else self.fc(x)


class MobileNetV3(MBNet):
    """MobileNetV3: conv3x3/s2 (HS) -> bneck rows -> conv1x1 (HS) -> :class:`MobileNetV3Head`.

    Large: Table 1, neck 960, head 1280 (the defaults); Small: Table 2, neck 576, head 1024.

    Every row sets its own activation (``RE``/``HS``) and SE style; ``act_layer`` (hard-swish) is the
    stem's, the neck's and the head's.
    NOTE: details Table 1 leaves open follow the references: BN eps 1e-5 and momentum 0.1 as timm's
    port (``mobilenetv3_large_100``) or 1e-3 and 0.01 as torchvision's (``mobilenet_v3_large``);
    the 1280 layer ("conv2d 1x1, NBN") and the classifier have biases, and the 1280 layer is a
    ``Linear`` on the pooled vector (timm's 1x1 ``conv_head`` is reshaped on loading); dropout 0.2
    before the classifier as torchvision (Table 1 shows none; timm's default is 0).
    Shape: (N, in_chans, H, W) -> (N, num_classes).
    """

    def __init__(self, stages: Sequence[MBStage] = MOBILENET_V3_LARGE, stem_channels: int = 16,
                 head_channels: int = 960, hidden_channels: int = 1280, *, num_classes: int = 1000,
                 in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
                 act_layer=nn.Hardswish, se_act_layer=None, padding: PaddingSpec = "same",
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1, norm_layer=None,
                 default_cfg: Optional[dict] = None, output_stride: int = 32, dilation_rule: str = "timm"):
        self._hidden_channels = hidden_channels      # read by _make_head during MBNet.__init__
        super().__init__(stages, stem_channels, head_channels, num_classes=num_classes, in_chans=in_chans,
                         drop_rate=drop_rate, drop_path_rate=drop_path_rate, act_layer=act_layer,
                         se_act_layer=se_act_layer, padding=padding, bn_eps=bn_eps, bn_momentum=bn_momentum,
                         norm_layer=norm_layer, default_cfg=default_cfg, output_stride=output_stride,
                         dilation_rule=dilation_rule)

    def _make_head(self, in_ch: int, num_classes: int, drop_rate: float, act_layer) -> nn.Module:
        return MobileNetV3Head(in_ch, self._hidden_channels, num_classes, drop_rate, act_layer)

    def _init_weights(self) -> None:
        super()._init_weights()
        for m in self.head.modules():     # torchvision's MobileNetV3 init of its Linear layers
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)

    # ----------------------------------------------------------------- checkpoint conversion
    def _timm_groups(self) -> tuple[int, ...]:
        """Blocks per timm group: :data:`TIMM_GROUPS` for Tables 1 and 2, else one group per stage."""
        sizes = tuple(len(s) for s in self.stages)
        return TIMM_GROUPS.get(sum(sizes), sizes) if len(sizes) == sum(sizes) else sizes

    def _block_paths(self, layout: str) -> Iterator[tuple[str, str, nn.Module]]:
        """timm: ``blocks.<group>.<j>`` (:meth:`_timm_groups`); torchvision: ``features.<1 + k>.block``."""
        groups = [(g, j) for g, n in enumerate(self._timm_groups()) for j in range(n)]
        for k, (i, j, b) in enumerate(self._blocks()):
            theirs = "blocks.{}.{}".format(*groups[k]) if layout == "timm" else f"features.{k + 1}.block"
            yield f"stages.{i}.{j}", theirs, b

    def _timm_map(self) -> dict[str, str]:
        """timm's ``MobileNetV3`` class: the 960 conv is its last block group, a ConvBnAct."""
        last = len(self._timm_groups())
        return {"stem.conv": "conv_stem", "stem.norm": "bn1", "neck.conv": f"blocks.{last}.0.conv",
                "neck.norm": f"blocks.{last}.0.bn1", "head.hidden": "conv_head",
                "head.fc": "classifier", **self._block_map("timm")}

    def _torchvision_map(self) -> dict[str, str]:
        """torchvision's ``MobileNetV3``: ``features.<k>`` flat, ``classifier.0`` / ``.3``."""
        n = sum(len(s) for s in self.stages)
        return {"stem.conv": "features.0.0", "stem.norm": "features.0.1",
                "neck.conv": f"features.{n + 1}.0", "neck.norm": f"features.{n + 1}.1",
                "head.hidden": "classifier.0", "head.fc": "classifier.3",
                **self._block_map("torchvision")}

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        if layout != "timm":
            return super().convert_state_dict(state_dict, layout)
        # timm's conv_head is a 1x1 conv on the pooled map: (out, in, 1, 1) -> our Linear's (out, in)
        flat = {"head.hidden.weight": ("conv_head.weight", lambda t: t.flatten(1))}
        return remap_modules(self, state_dict, self._timm_map(), flat)


# The metadata of every registered name, handed to register_model with each builder (timm's default_cfgs table).
default_cfgs = {
    "mobilenetv3_large_100": image_cfg("mobilenetv3_large_100", 224, interpolation="bicubic"),
    "mobilenet_v3_large": image_cfg("mobilenet_v3_large", 224, interpolation="bilinear"),
    **{f"mobilenetv3_small_{w}": image_cfg(f"mobilenetv3_small_{w}", 224, interpolation="bicubic")
       for w in ("050", "075", "100")},
    "mobilenet_v3_small": image_cfg("mobilenet_v3_small", 224, interpolation="bilinear"),
}

# Twins: timm's names carry timm's settings (BN eps 1e-5), torchvision's its own (eps 1e-3, momentum
# 0.01); their parameter counts, and Table 3's multiply-adds at 224 px and parameters (Large 1.0:
# 219M, 5.4M; Small 1.0 and 0.75: 56M, 44M; no Small-0.5 row).
V3_PAPER = "Howard et al. 2019, arXiv:1905.02244, Table 3"
#                               timm                    torchvision           params     paper: GMACs  M params
V3_TWINS = {"mobilenetv3_large_100": Twin("mobilenetv3_large_100", None,                 5_483_032,        0.219, 5.4),
            "mobilenet_v3_large":    Twin(None,                    "mobilenet_v3_large", 5_483_032,        0.219, 5.4),
            "mobilenetv3_small_050": Twin("mobilenetv3_small_050", None,                 1_593_224),
            "mobilenetv3_small_075": Twin("mobilenetv3_small_075", None,                 2_041_872,        0.044),
            "mobilenetv3_small_100": Twin("mobilenetv3_small_100", None,                 2_542_856),
            "mobilenet_v3_small":    Twin(None,                    "mobilenet_v3_small", 2_542_856,        0.056)}
V3_SMALL = ("mobilenetv3_small_050", "mobilenetv3_small_075", "mobilenet_v3_small")   # Small 1.0's code
default_cfgs = {n: twin_cfg(cfg, V3_TWINS[n], paper=V3_PAPER if n != "mobilenetv3_small_100" else "",
                            same_code="mobilenetv3_small_100" if n in V3_SMALL else "")
                for n, cfg in default_cfgs.items()}


def _small(name: str, width_mult: float, kwargs: dict) -> MobileNetV3:
    """Table 2 at ``width_mult``: neck 576 scaled as every width; the stem (16) and the 1024-wide
    head layer are not (timm fixes the stem below 0.75, where 16 x 0.75 rounds back to 16 anyway)."""
    return build(name, "MobileNetV3", MobileNetV3, kwargs, stages=scale_small(width_mult),
                 stem_channels=16, head_channels=make_divisible(576 * width_mult, 8),
                 hidden_channels=1024)


@register_model(cfg=default_cfgs["mobilenetv3_large_100"])
def mobilenetv3_large_100(**kwargs) -> MobileNetV3:
    """MobileNetV3-Large 1.0 (Table 1), timm's settings (BN eps 1e-5); 224 px, bicubic."""
    return build("mobilenetv3_large_100", "MobileNetV3", MobileNetV3, kwargs, stem_channels=16, head_channels=960)


@register_model(cfg=default_cfgs["mobilenet_v3_large"])
def mobilenet_v3_large(**kwargs) -> MobileNetV3:
    """MobileNetV3-Large 1.0 (Table 1), torchvision's settings (BN eps 1e-3, momentum 0.01); bilinear.

    torchvision's arguments: ``norm_layer``, ``dropout``, ``weights=None``, ``progress``,
    ``dilated=True`` (output stride 16, the DeepLabV3 / LR-ASPP backbone). ``output_stride`` follows
    torchvision's dilation rule here (the block whose stride is removed dilates already; see
    :class:`~convzoo.models.base.StrideToDilation`).
    """
    kwargs = torchvision_args("mobilenet_v3_large", kwargs)
    if kwargs.pop("dilated", False):
        if kwargs.setdefault("output_stride", 16) != 16:
            raise ValueError("mobilenet_v3_large: dilated=True is output_stride=16; give one of them")
    kwargs.setdefault("dilation_rule", "torchvision")
    kwargs.setdefault("bn_eps", 1e-3)
    kwargs.setdefault("bn_momentum", 0.01)
    return build("mobilenet_v3_large", "MobileNetV3", MobileNetV3, kwargs, stem_channels=16, head_channels=960)


@register_model(cfg=default_cfgs["mobilenetv3_small_050"])
def mobilenetv3_small_050(**kwargs) -> MobileNetV3:
    """MobileNetV3-Small 0.5 (Table 2 at width 0.5, timm's rounding and settings); bicubic."""
    return _small("mobilenetv3_small_050", 0.5, kwargs)


@register_model(cfg=default_cfgs["mobilenetv3_small_075"])
def mobilenetv3_small_075(**kwargs) -> MobileNetV3:
    """MobileNetV3-Small 0.75 (Table 2 at width 0.75, timm's rounding and settings); bicubic."""
    return _small("mobilenetv3_small_075", 0.75, kwargs)


@register_model(cfg=default_cfgs["mobilenetv3_small_100"])
def mobilenetv3_small_100(**kwargs) -> MobileNetV3:
    """MobileNetV3-Small 1.0 (Table 2), timm's settings (BN eps 1e-5); 224 px, bicubic."""
    return _small("mobilenetv3_small_100", 1.0, kwargs)


@register_model(cfg=default_cfgs["mobilenet_v3_small"])
def mobilenet_v3_small(**kwargs) -> MobileNetV3:
    """MobileNetV3-Small 1.0 (Table 2), torchvision's settings (BN eps 1e-3, momentum 0.01); bilinear.

    torchvision's arguments: ``norm_layer``, ``dropout``, ``weights=None``, ``progress``.
    """
    kwargs = torchvision_args("mobilenet_v3_small", kwargs)
    kwargs.setdefault("bn_eps", 1e-3)
    kwargs.setdefault("bn_momentum", 0.01)
    return _small("mobilenet_v3_small", 1.0, kwargs)
