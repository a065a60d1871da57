"""Networks described by a spec file: the output of ``convzoo search`` and the nets of ``convzoo scale``.

A spec is a small JSON document holding an MB-family table (the rows of EfficientNet Table 1 /
EfficientNetV2 Table 4, see :class:`~convzoo.models._specs.MBStage`) plus stem, head and resolution:

    {"format": "convzoo.mbnet/1", "stem_channels": 16, "head_channels": 128, "resolution": 64,
     "num_classes": 7, "stages": [
        {"block": "fused", "expand_ratio": 1, "kernel_size": 3, "stride": 1, "out_channels": 16,
         "num_layers": 1, "se_ratio": 0.0}, ...]}

``create_model("searched", spec="run/best_spec.json")`` (or ``spec=<dict>``) builds it, and
``convzoo train --model searched --model-arg spec=run/best_spec.json --dataset shapes
--data-arg resolution=64`` trains it. The network is stem conv3x3 s2 -> stages -> conv1x1
head -> pool -> FC, as EfficientNet (Tan & Le 2019, arXiv:1905.11946).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from torch import nn

from ..io import atomic_write_text
from ..layers.conv import PaddingSpec
from ..registry import register_model
from ._block_types import BLOCK_TYPES, block_type
from ._builder import build
from ._mbnet import MBNet
from ._specs import MBStage, image_cfg

SPEC_FORMAT = "convzoo.mbnet/1"
BLOCKS = {t.name: t.cls for t in BLOCK_TYPES}     # spec name -> class, from the block registry
_STAGE_KEYS = ("block", "expand_ratio", "kernel_size", "stride", "out_channels", "num_layers",
               "se_ratio")


# ---------------------------------------------------------------------------------------------------
# spec <-> table


def stage_to_dict(row: MBStage) -> dict:
    d = asdict(row)
    extra = {k: d.pop(k) for k in list(d) if k not in _STAGE_KEYS}
    defaults = asdict(MBStage(row.block, 1, 1, 1, 1, 1))
    changed = sorted(k for k, v in extra.items() if v != defaults[k])
    if changed:   # classes (activations, gates) have no JSON form in this format
        raise ValueError(f"spec format {SPEC_FORMAT!r} holds the columns {list(_STAGE_KEYS)}; "
                         f"this row also sets {changed}")
    d["block"] = block_type(row.block).name
    return d


def stage_from_dict(d: dict) -> MBStage:
    missing = [k for k in _STAGE_KEYS if k not in d and k != "se_ratio"]
    unknown = sorted(set(d) - set(_STAGE_KEYS))
    if missing or unknown:
        raise ValueError(f"stage needs keys {list(_STAGE_KEYS)}; missing {missing}, unknown {unknown}")
    if not isinstance(d["block"], str) or d["block"] not in BLOCKS:
        raise ValueError(f"stage block must be one of {sorted(BLOCKS)}, got {d['block']!r}")
    for k in ("kernel_size", "stride", "out_channels", "num_layers"):
        if not isinstance(d[k], int) or d[k] < 1:
            raise ValueError(f"stage {k} must be a positive int, got {d[k]!r}")
    return MBStage(BLOCKS[d["block"]], d["expand_ratio"], d["kernel_size"], d["stride"],
                   d["out_channels"], d["num_layers"], float(d.get("se_ratio", 0.0)))


def make_spec(stages: Sequence[MBStage], *, stem_channels: int, head_channels: int, resolution: int,
              num_classes: int, **meta: Any) -> dict:
    """A JSON-able spec dict; ``meta`` (e.g. the MACs the search measured) is stored alongside."""
    spec = dict(format=SPEC_FORMAT, stem_channels=stem_channels, head_channels=head_channels,
                resolution=resolution, num_classes=num_classes,
                stages=[stage_to_dict(s) for s in stages])
    if meta:
        spec["meta"] = meta
    return spec


def load_spec(spec: Union[str, os.PathLike, dict]) -> dict:
    """Read and validate a spec (a path to a JSON file, or a dict)."""
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"spec file {str(path)!r} does not exist")
        spec = json.loads(path.read_text())
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a path or a dict, got {type(spec).__name__}")
    if spec.get("format") != SPEC_FORMAT:
        raise ValueError(f"spec format must be {SPEC_FORMAT!r}, got {spec.get('format')!r}")
    for k in ("stem_channels", "resolution", "num_classes", "stages"):
        if k not in spec:
            raise ValueError(f"spec lacks {k!r} (has {sorted(spec)})")
    return spec


def save_spec(spec: dict, path: Union[str, os.PathLike]) -> None:
    """Write a spec atomically (temp file in the same folder, then ``os.replace``)."""
    atomic_write_text(path, json.dumps(spec, indent=2) + "\n")


def build_from_spec(spec: Union[str, os.PathLike, dict], *, num_classes: Optional[int] = None,
                    in_chans: int = 3, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                    act_layer=nn.SiLU, se_act_layer=None, padding: PaddingSpec = "same",
                    bn_eps: float = 1e-5, bn_momentum: float = 0.1, norm_layer=None,
                    output_stride: int = 32, dilation_rule: str = "timm") -> MBNet:
    """The :class:`~convzoo.models._mbnet.MBNet` a spec describes (channels taken as written); the
    keywords after ``drop_path_rate`` are :class:`~convzoo.models._mbnet.MBNet`'s."""
    spec = load_spec(spec)
    num_classes = spec["num_classes"] if num_classes is None else num_classes
    cfg = image_cfg("searched", spec["resolution"], in_chans=in_chans, num_classes=num_classes,
                    crop_pct=1.0, interpolation="bilinear", mean=(0.5,) * 3, std=(0.25,) * 3)
    return MBNet([stage_from_dict(s) for s in spec["stages"]], spec["stem_channels"],
                 spec.get("head_channels", 0), num_classes=num_classes, in_chans=in_chans,
                 drop_rate=drop_rate, drop_path_rate=drop_path_rate, default_cfg=cfg,
                 act_layer=act_layer, se_act_layer=se_act_layer, padding=padding, bn_eps=bn_eps,
                 bn_momentum=bn_momentum, norm_layer=norm_layer, output_stride=output_stride,
                 dilation_rule=dilation_rule)


# The registry's table (timm's default_cfgs): sizes and classes come from each spec file.
default_cfgs = {"searched": dict(architecture="searched", modality="image", input_size=None,
                                 num_classes=None, first_conv="stem.conv", classifier="head.fc")}


@register_model(cfg=default_cfgs["searched"])
def searched(spec: Optional[Union[str, os.PathLike, dict]] = None, **kwargs) -> MBNet:
    """A net from a spec file written by ``convzoo search`` / ``convzoo scale`` (``spec=`` path or dict)."""
    if spec is None:
        raise ValueError("model 'searched' needs spec=<path to a spec JSON, e.g. run/best_spec.json>")
    return build("searched", "MBNet (spec file)", build_from_spec, kwargs, spec=spec)


__all__ = ["SPEC_FORMAT", "make_spec", "load_spec", "save_spec", "build_from_spec",
           "stage_to_dict", "stage_from_dict"]
