"""Preprocessing from a model's metadata, with timm's semantics: the transform a checkpoint expects.

    >>> cfg = resolve_data_config(model)            # input size, interpolation, mean, std, crop_pct
    >>> x = create_transform(cfg)(open_image("cat.jpg", "RGB"))    # (3, 224, 224), normalised

Eval: resize the short side to ``floor(size / crop_pct)`` (bicubic/bilinear as the cfg says),
center-crop ``size``, scale to [0, 1], normalise by mean/std: timm's ``transforms_imagenet_eval``
and torchvision's ``ImageClassification`` (resize 256 -> crop 224 is crop_pct 0.875). Using another
interpolation or crop than the weights were evaluated with costs points of accuracy silently
(keras-team/keras#16982), which is why this comes from the model, not from the user.
Train: random-resized crop (scale 0.08-1, ratio 3/4-4/3), horizontal flip, colour jitter 0.4,
normalise (timm's ``transforms_imagenet_train`` defaults without auto-augment).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Union

import torch

__all__ = ["resolve_data_config", "create_transform", "DATA_CONFIG_KEYS"]

DATA_CONFIG_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
_DEFAULTS = dict(input_size=(3, 224, 224), interpolation="bicubic", mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225), crop_pct=0.875, crop_mode="center")
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


def resolve_data_config(model_or_cfg: Union[torch.nn.Module, Mapping[str, Any], None] = None,
                        **overrides: Any) -> dict[str, Any]:
    """The six preprocessing keys of a model (its ``pretrained_cfg``/``default_cfg``) or of a cfg
    dict (a hub folder's ``pretrained_cfg``), timm's defaults for what is missing, ``overrides`` last.

    Equal to ``timm.data.resolve_data_config(model=m)`` for a model with the same cfg.
    """
    if model_or_cfg is None:
        cfg: Mapping[str, Any] = {}
    elif isinstance(model_or_cfg, Mapping):
        cfg = model_or_cfg
    else:
        cfg = getattr(model_or_cfg, "pretrained_cfg", None) or getattr(model_or_cfg, "default_cfg", None) or {}
        if not isinstance(cfg, Mapping):
            raise TypeError(f"expected a model with a default_cfg or a cfg dict, got {type(model_or_cfg).__name__}")
    out = {k: (cfg.get(k) if cfg.get(k) is not None else _DEFAULTS[k]) for k in DATA_CONFIG_KEYS}
    for k, v in overrides.items():
        if k not in DATA_CONFIG_KEYS:
            raise ValueError(f"unknown data config key {k!r}; expected one of {', '.join(DATA_CONFIG_KEYS)}")
        if v is not None:
            out[k] = v
    out["input_size"], out["mean"], out["std"] = (tuple(out[k]) for k in ("input_size", "mean", "std"))
    _check(out)
    return out


def _check(cfg: Mapping[str, Any]) -> None:
    c, *size = cfg["input_size"]
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"input_size must be (C, H, W) with H, W >= 1, got {cfg['input_size']}")
    if len(cfg["mean"]) != c or len(cfg["std"]) != c or min(cfg["std"]) <= 0:
        raise ValueError(f"mean and std need {c} values (std > 0), got {cfg['mean']} and {cfg['std']}")
    if not 0 < float(cfg["crop_pct"]) <= 1:
        raise ValueError(f"crop_pct must be in (0, 1], got {cfg['crop_pct']}")
    if cfg["interpolation"] not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {cfg['interpolation']!r}")
    if cfg["crop_mode"] not in ("center", "squash"):
        raise ValueError(f"crop_mode must be 'center' or 'squash', got {cfg['crop_mode']!r}")


def create_transform(config: Mapping[str, Any], train: bool = False):
    """A torchvision transform from :func:`resolve_data_config`'s dict: PIL image -> (C, H, W) float.

    The image must already be in the model's mode (``open_image(path, "RGB")``); equal to timm's
    ``create_transform(**config, is_training=train)`` without its augmentation extras.
    """
    from torchvision import transforms as T
    cfg = resolve_data_config(config)
    h, w = cfg["input_size"][1:]
    interp = T.InterpolationMode(cfg["interpolation"])
    norm = [T.ToTensor(), T.Normalize(cfg["mean"], cfg["std"])]
    if train:
        return T.Compose([T.RandomResizedCrop((h, w), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation=interp),
                          T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4), *norm])
    crop = float(cfg["crop_pct"])
    scale = (math.floor(h / crop), math.floor(w / crop))
    if cfg["crop_mode"] == "squash":   # both sides to the scale size, aspect ratio not kept
        resize = [T.Resize(scale, interpolation=interp)]
    elif scale[0] == scale[1]:         # short side to the scale size, aspect ratio kept
        resize = [T.Resize(scale[0], interpolation=interp)]
    else:                              # non-square target: the side that needs the larger scale
        resize = [_KeepRatio(scale, interp)]
    return T.Compose([*resize, T.CenterCrop((h, w)), *norm])


class _KeepRatio:
    """Resize keeping the aspect ratio so that both sides cover ``size`` (timm's ResizeKeepRatio)."""

    def __init__(self, size: tuple[int, int], interpolation):
        self.size, self.interpolation = size, interpolation

    def __call__(self, img):
        from torchvision.transforms import functional as F
        w, h = img.size
        ratio = min(h / self.size[0], w / self.size[1])
        return F.resize(img, [round(h / ratio), round(w / ratio)], interpolation=self.interpolation)
