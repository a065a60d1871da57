"""Row types of the architecture tables: one frozen dataclass per kind of row.

A family file (``efficientnet.py``, ``mobilenet.py``, ...) writes its paper's table as a tuple of these
rows, positionally, under a column-header comment, so the code reads like the table it cites.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import nn

from ..blocks.se_width import SE_EFFICIENTNET, SEStyle


@dataclass(frozen=True)
class MBStage:
    """One stage row of MobileNetV2 Table 2 / EfficientNet Table 1 / EfficientNetV2 Table 4 /
    MobileNetV3 Table 1 (torchvision's ``InvertedResidualConfig`` holds the same columns).

    The input channels are left out: they are the previous row's output (or the stem's). ``block``
    is a block type of :mod:`convzoo.models._block_types` (its name there is what spec files write).
    """

    block: type[nn.Module]   # MBConv or FusedMBConv
    expand_ratio: float      # the "6" in "MBConv6" (MobileNetV2's t); expanded = round(in * e)
    kernel_size: int
    stride: int              # applies to the first block of the stage only
    out_channels: int        # "#Channels" (MobileNetV2's c)
    num_layers: int          # "#Layers" (MobileNetV2's n)
    se_ratio: float = 0.0    # 0: no SE; what it is relative to: se_style.width
    act: Optional[type[nn.Module]] = None   # "NL" (MobileNetV3): None takes the net's act_layer
    se_style: SEStyle = SE_EFFICIENTNET


@dataclass(frozen=True)
class DSStage:
    """Depthwise-separable rows of MobileNetV1 Table 1 that share an output resolution."""

    stride: int              # of the first depthwise conv; the others have stride 1
    out_channels: int        # of every pointwise conv in the stage
    num_layers: int          # depthwise + pointwise pairs


@dataclass(frozen=True)
class Scaling:
    """EfficientNet's per-variant compound-scaling tuple (official ``efficientnet_params``)."""

    width_mult: float
    depth_mult: float
    resolution: int
    dropout: float


@dataclass(frozen=True)
class ConvNeXtSpec:
    """ConvNeXt variant (Liu et al. 2022, Sec. 3): blocks per stage and channels per stage."""

    depths: tuple[int, ...]
    channels: tuple[int, ...]


@dataclass(frozen=True)
class Twin:
    """One row of a family's twin table: the models a registered name equals, and what pins it.

    ``timm`` / ``torchvision``: the model of that name in each library has this one's architecture
    and parameter count, and its weights load into this one (the layout detected), giving the same
    outputs (tests/test_image_models_reference.py and the family's tests compare them; where one
    setting differs, e.g. BN eps, the family's comment names it); None: that library has no such
    model. ``num_params``: their count written out (as torchvision's weights'
    ``meta["num_params"]``), so a bug shared by both sides cannot hide; ``gmacs`` and ``mparams``:
    the paper's figures as printed, G multiply-adds at the default resolution and M parameters.
    """

    timm: Optional[str]
    torchvision: Optional[str] = None
    num_params: Optional[int] = None
    gmacs: Optional[float] = None
    mparams: Optional[float] = None


def twin_cfg(cfg: dict, twin: Optional[Twin] = None, *, paper: str = "", same_code: str = "",
             fused: bool = False, **layouts: str) -> dict:
    """``cfg`` with the twin facts the registry holds for tests, ``hub`` and ``load_weights``' readers:

    ``twins``: {library or weight layout: the name of the model this one equals there}, from
    ``twin`` and ``layouts`` (other layouts, e.g. ``efficientnet_pytorch="efficientnet-b0"``);
    ``num_params``; ``paper``: {"gmacs", "mparams": the paper's figures or None, "source": the citation,
    and ``"fused": True`` where the paper counts the inference-time form (``reparameterize_model``)};
    ``same_code``: the registered model whose code this one runs at other widths or depths (its
    representative in the default test tier). Keys without a fact are left out.
    """
    out = dict(cfg)
    names = {"timm": twin.timm, "torchvision": twin.torchvision} if twin else {}
    twins = {k: v for k, v in {**names, **layouts}.items() if v}
    if twins:
        out["twins"] = twins
    if twin is not None and twin.num_params is not None:
        out["num_params"] = twin.num_params
    if paper:
        out["paper"] = {"gmacs": twin.gmacs if twin else None, "mparams": twin.mparams if twin else None,
                        "source": paper, **({"fused": True} if fused else {})}
    if same_code:
        out["same_code"] = same_code
    return out


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_INCEPTION_MEAN = TF_INCEPTION_STD = (0.5, 0.5, 0.5)   # the [-1, 1] input of timm's TF ports


def image_cfg(architecture: str, resolution: int, *, in_chans: int = 3, num_classes: int = 1000,
              crop_pct: float = 0.875, interpolation: str = "bicubic", mean=IMAGENET_MEAN,
              std=IMAGENET_STD, first_conv: str = "stem.conv", classifier: str = "head.fc",
              min_input_size: int = 1, reduction: int = 32, floor: bool = False) -> dict:
    """The preprocessing metadata of an ImageNet model (timm's ``pretrained_cfg`` keys).

    ``pool_size`` is the final map at ``resolution``: ``ceil(r / reduction)`` for padded stride-2
    convs, ``floor`` for ConvNeXt's unpadded patchify/downsampling convs. ``mean``/``std`` are
    repeated or averaged when ``in_chans`` is not 3, as timm does.
    """
    side = resolution // reduction if floor else -(-resolution // reduction)
    return adapt_cfg(dict(
        architecture=architecture, input_size=(3, resolution, resolution), pool_size=(side, side),
        mean=tuple(mean), std=tuple(std), interpolation=interpolation, crop_pct=crop_pct,
        crop_mode="center", fixed_input_size=False, num_classes=num_classes, first_conv=first_conv,
        classifier=classifier, modality="image", min_input_size=(3, min_input_size, min_input_size)),
        in_chans=in_chans, num_classes=num_classes)


TWIN_KEYS = ("twins", "num_params", "paper", "same_code")


def instance_cfg(cfg: dict) -> dict:
    """A registered cfg less its twin facts (:func:`twin_cfg`): the ``default_cfg`` a model carries
    holds timm's keys and convzoo's own (``modality``, ``task``), as before twins were registered."""
    return {k: v for k, v in cfg.items() if k not in TWIN_KEYS}


def adapt_cfg(cfg: dict, *, in_chans: int, num_classes: int, **overrides) -> dict:
    """A table entry made an instance's ``default_cfg``: twin facts dropped, channels, classes and
    ``overrides`` applied.

    With ``in_chans`` other than the table's, ``mean``/``std`` become the table's average repeated
    (timm's rule for adapted first convs).
    """
    cfg = dict(instance_cfg(cfg), num_classes=num_classes, **overrides)
    for key in ("input_size", "min_input_size"):
        if cfg.get(key) is not None:
            cfg[key] = (in_chans, *tuple(cfg[key])[1:])
    for key in ("mean", "std"):
        v = tuple(cfg.get(key) or ())
        if v and len(v) != in_chans:
            cfg[key] = (sum(v) / len(v),) * in_chans
    return cfg


def first_conv_name(model: nn.Module) -> str:
    """The module path of the model's first convolution (its weight is ``<path>.weight``)."""
    return next(name for name, m in model.named_modules()
                if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)))
