"""A segmenter is a backbone trunk, tapped at some of its maps, and a head giving per-pixel logits.

``create_segmenter(backbone, head, num_classes, output_stride, upsample)`` builds one over any
registered image backbone that declares ``feature_info`` (every ConvNet family); the two torchvision
twins (:mod:`.segmenters`) are built the same way with torchvision's taps.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from ...layers.checks import InputChecked, check_input, eager
from ...registry import create_model, get_pretrained_cfg
from ..base import ConvNet
from .._specs import instance_cfg
from .heads import DeepLabHead, LRASPPHead
from .unet import UPSAMPLE_MODES, UNetDecoder

__all__ = ["Trunk", "Segmenter", "create_segmenter", "HEADS"]

HEADS = ("deeplabv3", "lraspp", "unet")
# torchvision's segmenters run their MobileNetV3 at output stride 16 (dilated=True); a U-Net decoder
# has the skips to restore resolution and keeps the classification net's 32
DEFAULT_OUTPUT_STRIDE = {"deeplabv3": 16, "lraspp": 16, "unet": 32}


class Trunk(nn.Module):
    """A :class:`ConvNet` without its classifier: ``stem -> stages -> [neck]``, returning the maps of
    the parts named in ``taps`` (``"stages.<i>"`` or ``"neck"``), shallow to deep. Stages after the
    deepest tap are dropped, and the neck unless tapped, so no parameter goes unused.
    ``channels`` and ``reductions`` describe the taps (measured once on a probe input).
    Shape: (N, C, H, W) -> [(N, C_i, H / r_i, W / r_i)].
    """

    def __init__(self, net: ConvNet, taps: Sequence[str]):
        super().__init__()
        names = [n for n, _ in net._parts()]
        bad = [t for t in taps if t not in names or t == "stem"]
        if bad or not taps:
            raise ValueError(f"taps must name stages ('stages.<i>') or 'neck' of {type(net).__name__}, "
                             f"got {list(taps)}")
        idx = sorted(names.index(t) for t in taps)
        self.stem = net.stem
        self.stages = net.stages[:min(idx[-1], len(net.stages))]
        self.neck = net.neck if "neck" in taps else nn.Identity()
        self.stage_taps = [i - 1 for i in idx if names[i] != "neck"]
        self.tap_neck = "neck" in taps
        self.taps = [names[i] for i in idx]
        self.channels, self.reductions = self._probe(net)

    @torch.no_grad()
    def _probe(self, net: ConvNet) -> tuple[list[int], list[int]]:
        size = 64 * max(1, -(-max(tuple(net.default_cfg.get("min_input_size") or (3, 1, 1))[1:]) // 64))
        p = next(self.parameters())
        was = self.training
        maps = self.eval()(torch.zeros(1, net.in_chans, size, size, device=p.device, dtype=p.dtype))
        self.train(was)
        return [m.shape[1] for m in maps], [size // m.shape[-1] for m in maps]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.stage_taps:
                out.append(x)
        if self.tap_neck:
            out.append(self.neck(x))
        return out


class Segmenter(InputChecked):
    """backbone (:class:`Trunk`) -> head -> logits at the input's H x W, returned as ``{"out": logits}``
    (torchvision's segmenters' output). Any input size the backbone accepts works, odd ones too.

    ``default_cfg`` is the backbone's preprocessing with ``task="segmentation"`` and ``num_classes``.
    :meth:`logits_only` gives a module returning the tensor itself, for tools that want one output
    (``convzoo.export.to_onnx``).
    Shape: (N, C, H, W) -> {"out": (N, num_classes, H, W)}.
    """

    task = "segmentation"
    dims = 2

    def __init__(self, backbone: Trunk, head: nn.Module, num_classes: int, in_chans: int,
                 default_cfg: dict[str, Any]):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes, self.in_chans = num_classes, in_chans
        self.default_cfg = dict(instance_cfg(default_cfg), num_classes=num_classes, task="segmentation")
        self.min_input_size = tuple(self.default_cfg.get("min_input_size") or (in_chans, 1, 1))[1:]

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        return self.default_cfg

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.check_inputs and eager(x):
            check_input(self, x, self.in_chans, 2, self.min_input_size)
        return {"out": self.head(self.backbone(x), x.shape[-2:])}

    def logits_only(self) -> "LogitsOnly":
        return LogitsOnly(self)


class LogitsOnly(nn.Module):
    """A :class:`Segmenter` whose forward returns ``out`` itself (shares the segmenter's parameters).

    Shape: (N, C, H, W) -> (N, num_classes, H, W).
    """

    def __init__(self, segmenter: Segmenter):
        super().__init__()
        self.model = segmenter
        self.default_cfg, self.in_chans, self.dims = segmenter.default_cfg, segmenter.in_chans, 2
        self.num_classes = segmenter.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def _level_taps(net: ConvNet, head: str) -> list[str]:
    """The ``features_only`` levels a head reads (the last one is the deepest stage, not the 1x1 neck
    conv before the classifier: torchvision's ResNet DeepLab reads ``layer4`` the same way; only its
    MobileNetV3 twins read the neck, :mod:`.segmenters`)."""
    info = net.feature_info
    if head == "deeplabv3":
        return [info[-1]["module"]]
    if head == "lraspp":              # low: the first level at stride 8; high: the deepest
        low = [f["module"] for f in info if f["reduction"] == 8]
        if not low or low[0] == info[-1]["module"]:
            raise ValueError(f"{type(net).__name__} has no feature level at stride 8 below its last "
                             "for the LR-ASPP head")
        return [low[0], info[-1]["module"]]
    return info.module_name()


def create_segmenter(backbone: str, head: str = "deeplabv3", num_classes: int = 21, *,
                     output_stride: Optional[int] = None, upsample: str = "transposed",
                     in_chans: int = 3, **kwargs) -> Segmenter:
    """A segmenter over a registered image backbone's ``features_only`` levels: ``head``
    ``"deeplabv3"`` (ASPP on the deepest level), ``"lraspp"`` (the first stride-8 level and the
    deepest) or ``"unet"`` (every level, decoded with ``upsample`` ``"transposed"`` or ``"resize"``).

    ``output_stride`` (8, 16, 32; default 16 for deeplabv3/lraspp as torchvision's, 32 for unet)
    goes to the backbone (``create_model(backbone, output_stride=...)``); other ``kwargs`` too
    (``drop_path_rate``, ``bn_eps``, ...). The backbone must be an image model with ``feature_info``.
    Returns a :class:`Segmenter` (its forward returns ``{"out": logits}`` at the input's size).
    """
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f'upsample must be "transposed" or "resize", got {upsample!r}')
    if upsample != "transposed" and head != "unet":
        raise ValueError(f"upsample={upsample!r} is the unet decoder's option; {head} resizes bilinearly")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    cfg = get_pretrained_cfg(backbone)
    if cfg.get("modality", "image") != "image" or cfg.get("task", "classification") != "classification":
        raise ValueError(f"create_segmenter needs an image classification backbone, got {backbone!r} "
                         f"({cfg.get('modality', 'image')}, {cfg.get('task', 'classification')})")
    os_ = DEFAULT_OUTPUT_STRIDE[head] if output_stride is None else output_stride
    if os_ != 32:
        kwargs["output_stride"] = os_
    net = create_model(backbone, in_chans=in_chans, **kwargs)
    if not isinstance(net, ConvNet) or not net.feature_info or getattr(net, "dims", 2) != 2:
        raise ValueError(f"{backbone} has no 2D feature maps for a segmentation head "
                         "(it declares no feature_info)")
    trunk = Trunk(net, _level_taps(net, head))
    ch, red = trunk.channels, trunk.reductions
    if head == "deeplabv3":
        head_mod: nn.Module = DeepLabHead(ch[-1], num_classes)
    elif head == "lraspp":
        head_mod = LRASPPHead(ch[0], ch[-1], num_classes)
    else:
        head_mod = UNetDecoder(ch, red, num_classes, upsample)
    return Segmenter(trunk, head_mod, num_classes, in_chans, dict(net.default_cfg, architecture=backbone,
                                                                  segmentation_head=head))
