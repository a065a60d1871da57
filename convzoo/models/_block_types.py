"""The block types an :class:`~convzoo.models._specs.MBStage` row may name, in one registry.

Each entry owns the block's name (what spec files and search spaces write: ``"mbconv"``,
``"fused"``) and how its children are named in timm's and torchvision's checkpoints, so a table, a
spec file and a key map all learn a new block type here. Key maps give, for one block, ``{our child
module path: theirs}`` relative to the block; the model adds the block prefixes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from torch import nn

from ..blocks import FusedMBConv, MBConv

_SE_TIMM = {"se.reduce": "se.conv_reduce", "se.expand": "se.conv_expand"}


def _mbconv_timm(b: MBConv) -> dict[str, str]:
    if isinstance(b.expand, nn.Identity):      # expand ratio 1: timm's DepthwiseSeparableConv ("ds")
        names = {"dw": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}
    else:                                      # timm's InvertedResidual ("ir")
        names = {"expand": ("conv_pw", "bn1"), "dw": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")}
    return _conv_norm(names) | _SE_TIMM


def _fused_timm(b: FusedMBConv) -> dict[str, str]:
    if isinstance(b.project, nn.Identity):     # expand ratio 1: timm's ConvBnAct ("cn")
        names = {"expand": ("conv", "bn1")}
    else:                                      # timm's EdgeResidual ("er")
        names = {"expand": ("conv_exp", "bn1"), "project": ("conv_pwl", "bn2")}
    return _conv_norm(names) | _SE_TIMM


def _conv_norm(names: dict[str, tuple[str, str]]) -> dict[str, str]:
    out = {}
    for ours, (conv, bn) in names.items():
        out[f"{ours}.conv"], out[f"{ours}.norm"] = conv, bn
    return out


def _torchvision_sequence(b: nn.Module) -> dict[str, str]:
    """torchvision's ``block.<k>``: the present children in order, each a ``Conv2dNormActivation``
    (``<k>.0`` conv, ``<k>.1`` BN) or the SE (``<k>.fc1``, ``<k>.fc2``). Same for MBConv and
    Fused-MBConv (EfficientNet, EfficientNetV2, MobileNetV3)."""
    out, k = {}, 0
    for name in ("expand", "dw", "se", "project"):
        child = getattr(b, name, None)
        if child is None or isinstance(child, nn.Identity):
            continue
        if name == "se":
            out["se.reduce"], out["se.expand"] = f"{k}.fc1", f"{k}.fc2"
        else:
            out[f"{name}.conv"], out[f"{name}.norm"] = f"{k}.0", f"{k}.1"
        k += 1
    return out


@dataclass(frozen=True)
class BlockType:
    """A block an MB table can use: its spec name, class and checkpoint key maps."""

    name: str
    cls: type[nn.Module]
    timm: Callable[[nn.Module], dict[str, str]]
    torchvision: Callable[[nn.Module], dict[str, str]]


BLOCK_TYPES = (
    BlockType("mbconv", MBConv, _mbconv_timm, _torchvision_sequence),
    BlockType("fused", FusedMBConv, _fused_timm, _torchvision_sequence),
)
_BY_NAME = {t.name: t for t in BLOCK_TYPES}
_BY_CLASS = {t.cls: t for t in BLOCK_TYPES}


def block_type(block: Union[str, type, nn.Module]) -> BlockType:
    """The registry entry of a block name (``"mbconv"``), class (``MBConv``) or instance."""
    if isinstance(block, str):
        if block not in _BY_NAME:
            raise ValueError(f"block must be one of {sorted(_BY_NAME)}, got {block!r}")
        return _BY_NAME[block]
    cls = block if isinstance(block, type) else type(block)
    for c in cls.__mro__:          # a subclass keeps its parent's name and keys
        if c in _BY_CLASS:
            return _BY_CLASS[c]
    raise ValueError(f"block must be one of {[t.cls.__name__ for t in BLOCK_TYPES]}, "
                     f"got {cls.__name__}")


__all__ = ["BlockType", "BLOCK_TYPES", "block_type"]
