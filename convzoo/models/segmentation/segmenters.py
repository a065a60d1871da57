"""torchvision's two MobileNetV3 segmenters, built from convzoo's parts with torchvision's taps.

* ``deeplabv3_mobilenet_v3_large``: DeepLabV3 (Chen et al. 2017, arXiv:1706.05587) on the dilated
  MobileNetV3-Large (output stride 16, the 960-channel final features) -> ASPP head.
* ``lraspp_mobilenet_v3_large``: Lite R-ASPP (Howard et al. 2019, arXiv:1905.02244, Sec. 6.4) on the
  same backbone: the first stride-8 block's 40-channel map (``stages.3``, torchvision's ``features.4``)
  and the final features.

Both equal torchvision's (``weights=None, weights_backbone=None``) in parameters and outputs after
loading its state dict (``layout="torchvision"``). NOTE: torchvision's ``aux_loss=True`` (an FCN head
on a middle map, for training) is not built; its checkpoints' ``aux_classifier.*`` keys are dropped.
These are registered with ``task="segmentation"`` in their table, so ``list_models()`` (the
classification registry every registry-wide test walks) leaves them out and
``list_models(task="segmentation")`` lists them.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ...registry import get_pretrained_cfg, register_model
from .._remap import remap_modules
from .._specs import Twin, image_cfg, twin_cfg
from ..mobilenet_v3 import mobilenet_v3_large
from .heads import DeepLabHead, LRASPPHead
from .segmenter import Segmenter, Trunk

__all__ = ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "TorchvisionSegmenter"]


class TorchvisionSegmenter(Segmenter):
    """A :class:`Segmenter` on torchvision's MobileNetV3-Large that reads torchvision's checkpoints:
    ``backbone.<k>`` (its ``features`` children) and ``classifier.*`` (the head)."""

    weight_layouts = ("torchvision",)

    def __init__(self, *args, net: nn.Module, head_map: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        # our trunk paths -> torchvision's, from the classification net's own torchvision key map
        self._key_map = {f"backbone.{ours}": "backbone." + theirs.removeprefix("features.")
                         for ours, theirs in net._torchvision_map().items() if theirs.startswith("features.")}
        self._key_map.update({f"head.{ours}": f"classifier.{theirs}" for ours, theirs in head_map.items()})

    def convert_state_dict(self, state_dict: dict[str, torch.Tensor], layout: str) -> dict:
        if layout != "torchvision":
            raise ValueError(f"{type(self).__name__} converts layouts ('torchvision',), got {layout!r}")
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("aux_classifier.")}
        return remap_modules(self, state_dict, self._key_map)


_DEEPLAB_KEYS = {**{f"aspp.convs.{i}.{p}": f"0.convs.{i}.{q}" for i in range(4)
                    for p, q in (("conv", "0"), ("norm", "1"))},
                 "aspp.convs.4.conv.conv": "0.convs.4.1", "aspp.convs.4.conv.norm": "0.convs.4.2",
                 "aspp.project.conv": "0.project.0", "aspp.project.norm": "0.project.1",
                 "conv.conv": "1", "conv.norm": "2", "classifier": "4"}
_LRASPP_KEYS = {"cbr.conv": "cbr.0", "cbr.norm": "cbr.1", "scale.1": "scale.1",
                "low_classifier": "low_classifier", "high_classifier": "high_classifier"}

# The metadata of every registered name, handed to register_model with each builder (timm's
# default_cfgs table). torchvision evaluates these at 520 px (resize 520), ImageNet mean/std, 21 VOC
# classes.
# Twins: torchvision's segmentation models of the same names, their parameter count at 21 classes.
SEGMENTER_PARAMS = {"deeplabv3_mobilenet_v3_large": 11_025_477, "lraspp_mobilenet_v3_large": 3_221_538}
default_cfgs = {name: twin_cfg(dict(image_cfg(name, 520, num_classes=21, interpolation="bilinear",
                                              classifier="head", first_conv="backbone.stem.conv"),
                                    task="segmentation", pool_size=None), Twin(None, name, params))
                for name, params in SEGMENTER_PARAMS.items()}


def _tv_args(name: str, kwargs: dict) -> dict:
    kwargs = dict(kwargs)
    for arg in ("weights", "weights_backbone"):
        if kwargs.pop(arg, None) is not None:
            raise ValueError(f"{name}({arg}=...): convzoo downloads nothing; build with weights=None "
                             "and load a local file with convzoo.load_weights(model, path)")
    kwargs.pop("progress", None)
    if kwargs.pop("aux_loss", None):
        raise ValueError(f"{name}: aux_loss=True (torchvision's training-time FCN head) is not built")
    unknown = sorted(set(kwargs) - {"num_classes", "in_chans", "drop_path_rate"})
    if unknown:
        raise ValueError(f"{name} does not take {unknown[0]!r}; it takes num_classes, in_chans, "
                         "drop_path_rate, weights=None, weights_backbone=None, progress, aux_loss=False")
    return kwargs


def _build(name: str, taps: list[str], make_head, head_map: dict[str, str], num_classes: int = 21,
           in_chans: int = 3, drop_path_rate: Optional[float] = None) -> TorchvisionSegmenter:
    net = mobilenet_v3_large(dilated=True, in_chans=in_chans,
                             **({} if drop_path_rate is None else {"drop_path_rate": drop_path_rate}))
    trunk = Trunk(net, taps)
    return TorchvisionSegmenter(trunk, make_head(trunk.channels, num_classes), num_classes, in_chans,
                                get_pretrained_cfg(name), net=net, head_map=head_map)


@register_model(cfg=default_cfgs["deeplabv3_mobilenet_v3_large"])
def deeplabv3_mobilenet_v3_large(**kwargs) -> TorchvisionSegmenter:
    """DeepLabV3 with the dilated MobileNetV3-Large (torchvision's; 11,025,477 parameters at 21 classes)."""
    kwargs = _tv_args("deeplabv3_mobilenet_v3_large", kwargs)
    return _build("deeplabv3_mobilenet_v3_large", ["neck"], lambda ch, n: DeepLabHead(ch[-1], n),
                  _DEEPLAB_KEYS, **kwargs)


@register_model(cfg=default_cfgs["lraspp_mobilenet_v3_large"])
def lraspp_mobilenet_v3_large(**kwargs) -> TorchvisionSegmenter:
    """LR-ASPP with the dilated MobileNetV3-Large (torchvision's; 3,221,538 parameters at 21 classes)."""
    kwargs = _tv_args("lraspp_mobilenet_v3_large", kwargs)
    return _build("lraspp_mobilenet_v3_large", ["stages.3", "neck"],
                  lambda ch, n: LRASPPHead(ch[0], ch[-1], n), _LRASPP_KEYS, **kwargs)
