"""The common top level of every convzoo model: ``stem -> stages -> neck -> head``.

Every family builds these four children, so ``forward_features``, ``forward_head``,
``reset_classifier``, ``features_only`` and the registry-wide tests are written once.
"""

from typing import Any, Optional

import torch
import torch.utils.checkpoint
from torch import nn

from ..layers.checks import InputChecked, check_input, eager


class FeatureInfo(list):
    """A list of dicts ``{"num_chs", "reduction", "module"}``, one per tap, as timm's feature_info."""

    def channels(self) -> list[int]:
        return [f["num_chs"] for f in self]

    def reduction(self) -> list[int]:
        return [f["reduction"] for f in self]

    def module_name(self) -> list[str]:
        return [f["module"] for f in self]


class ClassifierHead(nn.Module):
    """Global pool -> [norm] -> dropout -> linear. Children ``norm``, ``drop``, ``fc``.

    ``num_classes=0`` gives the pooled features (``fc`` is Identity). ``global_pool``: ``"avg"``
    (default), ``"max"``, or ``""`` (no pooling: norm, dropout and fc act at every position, as a
    1x1 conv would, and the map keeps its shape; timm's ``global_pool=''``). ``pool_dims`` is the
    number of trailing axes pooled (2 for images, 3 for clips, 1 for waveforms, 0 for an input already
    flat), fixed here so tracing never branches on the input's rank.
    Shape: (N, C, *S) -> (N, num_classes); unpooled (N, C, *S) -> (N, num_classes or C, *S).
    """

    POOLS = ("avg", "max", "")

    def __init__(self, in_features: int, num_classes: int, drop_rate: float = 0.0,
                 norm: Optional[nn.Module] = None, global_pool: str = "avg", *, pool_dims: int = 2):
        super().__init__()
        self.in_features = in_features
        self.global_pool = _check_pool(global_pool)
        self.pool_dims = pool_dims
        # never empty, so TorchScript can type it (List[int]); unused when pool_dims == 0
        self.pool_axes = list(range(2, 2 + pool_dims)) or [-1]
        self.norm = norm if norm is not None else nn.Identity()
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.pool_dims > 0 and self.global_pool == "":
            x = x.movedim(1, -1)
            x = self.drop(self.norm(x))
            return (x if pre_logits else self.fc(x)).movedim(-1, 1)
        if self.pool_dims > 0:
            x = x.mean(self.pool_axes) if self.global_pool == "avg" else x.amax(self.pool_axes)
        x = self.drop(self.norm(x))
        return x if pre_logits else self.fc(x)

    def drop_pre_logits(self) -> None:
        """Remove the layers between pool and fc (the norm), when the map they were sized for is gone."""
        self.norm = nn.Identity()

    def reset(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        if global_pool is not None:
            self.global_pool = _check_pool(global_pool)
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()


def _check_pool(pool: str) -> str:
    if pool not in ClassifierHead.POOLS:
        raise ValueError(f"global_pool must be one of 'avg', 'max' or '' (no pooling), got {pool!r}")
    return pool


class ConvNet(InputChecked):
    """Base class: subclasses set ``stem``, ``stages`` (Sequential of stages), ``neck`` and ``head``,
    and describe themselves with ``feature_info`` and ``default_cfg``.

    ``default_cfg`` keys (timm's pretrained_cfg): ``input_size`` (C, *S), ``mean``, ``std``,
    ``interpolation``, ``crop_pct``, ``num_classes``, ``first_conv``, ``classifier``, ``modality``
    ("image", "audio", "video"), ``min_input_size`` (the smallest spatial size the net accepts).
    """

    # Class defaults, unannotated: TorchScript cannot read annotations postponed by
    # ``from __future__ import annotations`` (it would see the string 'int').
    dims = 2
    in_chans = 3
    num_classes = 1000

    def __init__(self) -> None:
        super().__init__()
        self.feature_info = FeatureInfo()
        self.default_cfg: dict[str, Any] = {}

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        return self.default_cfg

    def check_input(self, x: torch.Tensor) -> None:
        check_input(self, x, self.in_chans, self.dims)
        min_size = self.default_cfg.get("min_input_size")
        if min_size is not None:
            min_size = tuple(min_size)[-self.dims:]
            if any(s < m for s, m in zip(x.shape[2:], min_size)):
                raise ValueError(f"{type(self).__name__} needs an input of at least {min_size} "
                                 f"(spatial), got {tuple(x.shape[2:])}")

    grad_checkpointing = False
    __jit_unused_properties__ = ["pretrained_cfg"]   # a dict of mixed types: Python-side metadata
    grad_checkpointing_granularity = "block"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if not torch.jit.is_scripting():   # checkpointing is eager training only
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                return self.neck(self._checkpointed_stages(x))
        return self.neck(self.stages(x))

    @torch.jit.unused
    def _checkpointed_stages(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            if self.grad_checkpointing_granularity == "block" and type(stage) is nn.Sequential:
                for block in stage:
                    x = checkpoint_stage(block, x)
            else:
                x = checkpoint_stage(stage, x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if self.check_inputs and eager(x):
                self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    @property
    def head_hidden_size(self) -> int:
        """Width of ``forward_head(x, pre_logits=True)`` (timm's attribute)."""
        return self.head.in_features

    def set_global_pool(self, global_pool: str) -> None:
        """``"avg"``, ``"max"`` or ``""`` (the head then returns the unpooled map); keeps ``fc``."""
        self.head.global_pool = _check_pool(global_pool)

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = "avg") -> None:
        """A fresh classifier for ``num_classes`` (0: none, the head returns pooled features) and the
        pool ``global_pool`` (``""``: none; None keeps the current one), as timm's method."""
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
        self.head.reset(num_classes, global_pool)
        self.num_classes = num_classes
        self.default_cfg["num_classes"] = num_classes

    # ------------------------------------------------------------------ timm's intermediates API
    def check_trunk_input(self, x: torch.Tensor) -> None:
        """The input check for a run that stops before the neck (features, intermediates)."""
        self.check_input(x)

    def _parts(self) -> list[tuple[str, nn.Module]]:
        """(name, module) of stem, each stage and neck: the names ``feature_info`` levels use."""
        return [("stem", self.stem), *((f"stages.{i}", s) for i, s in enumerate(self.stages)),
                ("neck", self.neck)]

    def forward_intermediates(self, x: torch.Tensor, indices=None, norm: bool = False,
                              stop_early: bool = False, output_fmt: Optional[str] = None,
                              intermediates_only: bool = False):
        """The feature maps at ``feature_info`` levels, and the final features (timm's method).

        ``indices``: None (all levels), an int n (the last n) or a sequence (negative from the end).
        Returns ``(forward_features(x), [maps])``, or the maps only with ``intermediates_only``;
        ``stop_early`` skips the stages after the last level taken (the final features are then
        those of the truncated net, as timm). ``norm`` is accepted for timm's callers: these
        families have no norm between the last stage and the head, so it changes nothing.
        ``output_fmt``: channels-first (``NCL``/``NCHW``/``NCTHW``, the default) or channels-last
        (``NLC``/``NHWC``/``NTHWC``) for the spatial maps.
        Shape: (N, C, *S) -> (N, C', *S'), [(N, C_i, *S / reduction_i), ...].
        """
        take, _ = feature_take_indices(len(self.feature_info), indices)
        channels_last = _output_fmt(output_fmt, self.dims)
        wanted = {self.feature_info[i]["module"] for i in take}
        parts = self._parts()
        if stop_early or intermediates_only:
            hits = [k for k, (name, _) in enumerate(parts) if name in wanted]
            if not hits:
                raise ValueError(f"feature levels {take} were pruned from this model")
            parts = parts[:max(hits) + 1]
        (self.check_input if parts[-1][0] == "neck" else self.check_trunk_input)(x)
        checkpoint = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        maps = []
        for name, part in parts:
            x = checkpoint_stage(part, x) if checkpoint and name.startswith("stages.") else part(x)
            if name in wanted:
                maps.append(x.movedim(1, -1) if channels_last and x.dim() > 2 else x)
        if intermediates_only:
            return maps
        return x, maps

    def prune_intermediate_layers(self, indices=1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Drop what comes after the last level in ``indices`` (timm's method): later stages, the
        neck (when stages were dropped, or with ``prune_norm``, unless the neck is that level) and,
        with ``prune_head``, the classifier and pool (``reset_classifier(0, "")``) and, when the neck
        went, the head's norm. Returns the level indices kept."""
        take, last = feature_take_indices(len(self.feature_info), indices)
        name = self.feature_info[last]["module"]
        cut = prune_norm
        if name != "neck":
            keep = 0 if name == "stem" else int(name.split(".")[1]) + 1
            cut = cut or keep < len(self.stages)
            if cut:
                self.neck = nn.Identity()
            self.stages = self.stages[:keep]
        if prune_head:
            self.reset_classifier(0, "")
            if cut:   # pre-logits layers (ConvNeXt's norm, MobileNetV3's 1280) are sized for the last stage
                self.head.drop_pre_logits()
        return take

    def set_grad_checkpointing(self, enable: bool = True, granularity: str = "block") -> None:
        """Recompute activations in backward instead of storing them (training only).

        Each stage is checkpointed; with ``granularity="block"`` (default, as timm's
        ``checkpoint_seq``) a stage that is a plain ``nn.Sequential`` is checkpointed block by block,
        so only block inputs are kept and one block is recomputed at a time; ``"stage"`` keeps only
        stage inputs but recomputes a whole stage at once (higher peak, see docs/deploy.md).
        Gradients are unchanged (see :func:`checkpoint_stage`).
        """
        if granularity not in ("block", "stage"):
            raise ValueError(f'granularity must be "block" or "stage", got {granularity!r}')
        self.grad_checkpointing = bool(enable)
        self.grad_checkpointing_granularity = granularity

    def set_memory_efficient(self, enable: bool = True) -> None:
        """Use a SiLU that saves only its input for backward (custom autograd; export turns it off)."""
        from ..layers.memory_efficient import set_memory_efficient
        set_memory_efficient(self, enable)


OUTPUT_STRIDES = (8, 16, 32)
DILATION_RULES = ("timm", "torchvision")


class StrideToDilation:
    """Replaces a stride that would take the running reduction past ``output_stride`` by dilation.

    DeepLab's atrous trick (Chen et al. 2017, arXiv:1706.05587, Sec. 3.1): the map stays at
    ``output_stride`` and later kernels dilate by the strides removed, so they see the same pixels.
    Call it once per block with the block's stride; it returns ``(stride, dilation)`` for that block
    and tracks ``reduction`` (the block output's stride). ``rule="timm"``: the block whose stride is
    removed keeps the previous dilation, the blocks after it dilate (timm's ``EfficientNetBuilder``,
    the TF DeepLab code); ``"torchvision"``: that block dilates already (torchvision's
    ``mobilenet_v3_large(dilated=True)``).
    """

    def __init__(self, output_stride: int = 32, rule: str = "timm", reduction: int = 1):
        if isinstance(output_stride, bool) or output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
        if rule not in DILATION_RULES:
            raise ValueError(f"dilation_rule must be 'timm' or 'torchvision', got {rule!r}")
        self.output_stride, self.rule = output_stride, rule
        self.reduction, self.dilation = reduction, 1

    def __call__(self, stride: int) -> tuple[int, int]:
        dilation = self.dilation
        if stride > 1 and self.reduction * stride > self.output_stride:
            self.dilation *= stride
            stride = 1
            if self.rule == "torchvision":
                dilation = self.dilation
        else:
            self.reduction *= stride
        return stride, dilation


def checkpoint_stage(stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``stage(x)`` under activation checkpointing (``use_reentrant=False``, RNG state preserved, so
    DropPath/dropout masks repeat). The recomputation in backward runs BatchNorm in training mode a
    second time; we restore BN running statistics afterwards so they are updated once, as without
    checkpointing."""
    calls = [0]

    def run(inp: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        if calls[0] == 1:
            return stage(inp)
        buffers = [b for m in stage.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for b in m.buffers()]
        saved = [b.clone() for b in buffers]
        try:
            return stage(inp)
        finally:   # also when checkpoint stops the recomputation early (it raises to do so)
            with torch.no_grad():
                for b, v in zip(buffers, saved):
                    b.copy_(v)

    return torch.utils.checkpoint.checkpoint(run, x, use_reentrant=False)


class FeatureExtractor(nn.Module):
    """A :class:`ConvNet`'s maps at its ``feature_info`` levels (``features_only=True``).

    ``out_indices`` selects levels as timm takes them: None (all), an int n (the last n) or a
    sequence (negative indices count from the end). The run stops after the last level taken, so a
    trunk-only selection takes inputs the full net would refuse (e.g. C3D's conv levels at any
    clip size). ``as_dict=True`` returns ``{module name: map}`` (timm's ``feature_cls="dict"``).
    Shape: (N, C, *S) -> list of (N, C_i, *S / reduction_i).
    """

    def __init__(self, model: ConvNet, out_indices=None, as_dict: bool = False):
        super().__init__()
        if not getattr(model, "feature_info", None):
            raise ValueError(f"{type(model).__name__} declares no feature_info; features_only is not "
                             "supported for it")
        idx, _ = feature_take_indices(len(model.feature_info), out_indices)
        self.model = model
        self.out_indices = idx
        self.as_dict = as_dict
        self.feature_info = FeatureInfo(model.feature_info[i] for i in idx)
        self.default_cfg = model.default_cfg
        self.pretrained_cfg = model.default_cfg

    def forward(self, x: torch.Tensor):  # -> list of maps, or a dict with as_dict
        maps = self.model.forward_intermediates(x, self.out_indices, intermediates_only=True)
        if self.as_dict:
            return dict(zip(self.feature_info.module_name(), maps))
        return maps


def _bad_index(i: int, n: int) -> int:
    raise ValueError(f"out_indices entry {i} is out of range for {n} feature levels")


def feature_take_indices(num_levels: int, indices=None) -> tuple[list[int], int]:
    """timm's rule: None -> all levels, int n -> the last n, a sequence -> those (negative from the
    end). Returns (sorted indices, the largest)."""
    if indices is None:
        take = list(range(num_levels))
    elif isinstance(indices, int):
        if not 0 < indices <= num_levels:
            raise ValueError(f"indices={indices} must be 1..{num_levels} (the last n feature levels)")
        take = list(range(num_levels - indices, num_levels))
    else:
        take = sorted({i % num_levels if -num_levels <= i < num_levels else _bad_index(i, num_levels)
                       for i in indices})
        if not take:
            raise ValueError("indices is empty; give at least one feature level")
    return take, max(take)


_FIRST, _LAST = ("NCL", "NCHW", "NCTHW"), ("NLC", "NHWC", "NTHWC")


def _output_fmt(output_fmt: Optional[str], dims: int) -> bool:
    """True for channels-last, False for channels-first. Any rank's spelling is taken (timm's callers
    ask every model for "NCHW"): only the channel axis' place matters."""
    if output_fmt is None or output_fmt in _FIRST:
        return False
    if output_fmt in _LAST:
        return True
    raise ValueError(f"output_fmt must be channels-first ({_FIRST[dims - 1]!r}) or channels-last "
                     f"({_LAST[dims - 1]!r}), got {output_fmt!r}")
