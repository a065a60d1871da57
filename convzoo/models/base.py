"""The common top level of every convzoo model: ``stem -> stages -> neck -> head``.

Every family builds these four children, so ``forward_features``, ``forward_head``,
``reset_classifier``, ``features_only`` and the registry-wide tests are written once.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

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
    """Global average pool -> [norm] -> dropout -> linear. Children ``norm``, ``drop``, ``fc``.

    ``num_classes=0`` gives the pooled features (``fc`` is Identity). ``pool_dims`` is the number of
    trailing axes averaged (2 for images, 3 for clips, 1 for waveforms, 0 for an input already
    flat), fixed here so tracing never branches on the input's rank.
    Shape: (N, C, *S) -> (N, num_classes).
    """

    def __init__(self, in_features: int, num_classes: int, drop_rate: float = 0.0,
                 norm: Optional[nn.Module] = None, *, pool_dims: int = 2):
        super().__init__()
        self.in_features = in_features
        self.pool_dims = pool_dims
        # never empty, so TorchScript can type it (List[int]); unused when pool_dims == 0
        self.pool_axes = list(range(2, 2 + pool_dims)) or [-1]
        self.norm = norm if norm is not None else nn.Identity()
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.pool_dims > 0:
            x = x.mean(self.pool_axes)
        x = self.drop(self.norm(x))
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()


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

    def reset_classifier(self, num_classes: int) -> None:
        self.head.reset(num_classes)
        self.num_classes = num_classes
        self.default_cfg["num_classes"] = num_classes

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
    """Runs a :class:`ConvNet`'s stem and stages and returns the maps at its ``feature_info`` taps.

    ``out_indices`` selects taps (negative indices count from the end); default: all.
    Shape: (N, C, *S) -> list of (N, C_i, *S / reduction_i).
    """

    def __init__(self, model: ConvNet, out_indices: Optional[Sequence[int]] = None):
        super().__init__()
        if not getattr(model, "feature_info", None):
            raise ValueError(f"{type(model).__name__} declares no feature_info; features_only is not "
                             "supported for it")
        n = len(model.feature_info)
        idx = list(range(n)) if out_indices is None else [i % n if -n <= i < n else _bad_index(i, n)
                                                          for i in out_indices]
        self.model = model
        self.out_indices = idx
        self.feature_info = FeatureInfo(model.feature_info[i] for i in idx)
        self._taps = {model.feature_info[i]["module"] for i in idx}
        last = max(idx)
        self._last_module = model.feature_info[last]["module"]
        self.default_cfg = model.default_cfg

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        if not torch.jit.is_scripting():
            if eager(x):
                m.check_input(x)
        outs = []
        x = m.stem(x)
        if "stem" in self._taps:
            outs.append(x)
        if self._last_module == "stem":
            return outs
        for i, stage in enumerate(m.stages):
            x = stage(x)
            name = f"stages.{i}"
            if name in self._taps:
                outs.append(x)
            if name == self._last_module:
                return outs
        x = m.neck(x)
        if "neck" in self._taps:
            outs.append(x)
        return outs


def _bad_index(i: int, n: int) -> int:
    raise ValueError(f"out_indices entry {i} is out of range for {n} feature levels")
