"""Costs of registered models without allocating their weights: the table ``convzoo list`` prints and
``convzoo summary``'s profile, as library calls (``convzoo.model_cost(name)``, :class:`CostCache`).

A model built under ``torch.device("meta")`` has parameters with shapes but no storage, and a
forward pass on meta tensors computes shapes only. So params and MACs of EfficientNet-B7 or
ConvNeXt-XL come out exact in about a second, with no gigabytes allocated. Builders that cannot run
on meta fall back to the CPU.

    name -> create_model on meta (CPU fallback) -> profile at default_cfg["input_size"] -> costs
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .analysis.profile import Profile, profile


@dataclass
class ModelCost:
    """One row of ``convzoo list``."""

    name: str
    modality: str
    input_size: Optional[tuple]       # (C, *spatial) from default_cfg
    params: Optional[int]
    macs: Optional[int]               # at input_size, batch 1; None when not computed
    error: Optional[str] = None       # why the model could not be built or run

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size) if self.input_size else None
        return d


# In-place ops that only write values: on a meta tensor (no values) they can be skipped. Weight init
# on meta otherwise runs PyTorch's Python reference kernels (about 8 ms per kaiming_normal_).
_VALUE_WRITES = frozenset("""normal_ uniform_ zero_ fill_ erfinv_ mul_ add_ sub_ div_ clamp_ copy_
    bernoulli_ exponential_ random_ log_normal_ cauchy_ geometric_ clamp_min_ clamp_max_
    trunc_normal_""".split())


class _SkipInitOnMeta(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in _VALUE_WRITES:
            t = args[0] if args else kwargs.get("tensor", kwargs.get("self"))   # nn.init passes kwargs
            if isinstance(t, torch.Tensor) and t.is_meta:
                return t
        return func(*args, **kwargs)


def catalog_model(name: str, meta: bool = True, **kwargs) -> tuple[nn.Module, bool]:
    """``create_model(name, **kwargs)``, on the meta device when it works; returns (model, on_meta)."""
    from .registry import create_model
    if meta:
        try:
            with torch.device("meta"), _SkipInitOnMeta():
                return create_model(name, **kwargs), True
        except (NotImplementedError, RuntimeError):
            pass            # a builder that computes with real tensors (e.g. loads or inspects data)
    return create_model(name, **kwargs), False


def default_input_size(model: nn.Module) -> Optional[tuple]:
    cfg = getattr(model, "default_cfg", None) or {}
    size = cfg.get("input_size")
    return tuple(int(v) for v in size) if size else None


def _cheap_on_cpu(model: nn.Module, size: tuple, batch_size: int = 1) -> bool:
    """Small models run faster for real than on meta, whose shape kernels are Python (and whose
    first use imports sympy, several seconds)."""
    params = sum(p.numel() for p in model.parameters())
    n = batch_size
    for v in size:
        n *= v
    return params <= 6_000_000 and n <= 3 * 260 * 260


def _profile_registered(name: str, model: nn.Module, on_meta: bool, size: tuple, batch_size: int,
                        kwargs: dict) -> Profile:
    if on_meta and _cheap_on_cpu(model, size, batch_size):
        model, on_meta = catalog_model(name, meta=False, **kwargs)
    try:
        return profile(model, size, batch_size=batch_size)
    except (NotImplementedError, RuntimeError):
        if not on_meta:
            raise
    model, _ = catalog_model(name, meta=False, **kwargs)        # an op without a meta kernel
    return profile(model, size, batch_size=batch_size)


def profile_model(name: str, input_size: Optional[tuple] = None, batch_size: int = 1,
                  **kwargs) -> Profile:
    """Profile a registered model at ``input_size`` (default: its ``default_cfg["input_size"]``).

    ``kwargs`` go to ``create_model`` (``num_classes``, ``in_chans``, ...)."""
    model, on_meta = catalog_model(name, **kwargs)
    size = input_size or default_input_size(model)
    if size is None:
        raise ValueError(f"model {name!r} has no default_cfg['input_size']; pass --input-size")
    return _profile_registered(name, model, on_meta, tuple(size), batch_size, kwargs)


def model_cost(name: str, macs: bool = True) -> ModelCost:
    """Params (and MACs at the default input size) of a registered model; errors are recorded."""
    from .registry import get_pretrained_cfg
    modality = get_pretrained_cfg(name).get("modality", "image")
    try:
        model, on_meta = catalog_model(name)
    except Exception as e:                                       # noqa: BLE001 (reported per row)
        return ModelCost(name, modality, None, None, None, _one_line(e))
    size = default_input_size(model)
    params = sum(p.numel() for p in model.parameters())
    if not macs or size is None:
        return ModelCost(name, modality, size, params, None)
    try:
        prof = _profile_registered(name, model, on_meta, size, 1, {})
    except Exception as e:                                       # noqa: BLE001
        return ModelCost(name, modality, size, params, None, _one_line(e))
    return ModelCost(name, modality, size, params, prof.macs)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def code_fingerprint() -> str:
    """A digest of convzoo's source files and the torch version: cached costs stay valid exactly as
    long as neither changes (hashing ~150 small files takes milliseconds)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(torch.__version__.encode())
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


class CostCache:
    """``convzoo list``'s cache of computed rows: one JSON file per code fingerprint under the cache
    folder (``$CONVZOO_CACHE`` or ``~/.cache/convzoo``), written atomically.

    Only rows of models defined inside convzoo are cached (a plugin's source is not fingerprinted),
    and only complete ones (MACs counted, no error). An unreadable file counts as empty.
    """

    def __init__(self, root: Optional[str] = None):
        from .io import cache_dir
        self.path = cache_dir(root) / "model-costs" / f"costs-{code_fingerprint()}.json"
        try:
            self.rows = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.rows = {}
        self.dirty = False

    def get(self, name: str) -> Optional[ModelCost]:
        row = self.rows.get(name)
        if not isinstance(row, dict):
            return None
        try:
            size = tuple(row["input_size"]) if row.get("input_size") else None
            return ModelCost(**{**row, "input_size": size})
        except TypeError:       # a file from another layout of ModelCost
            return None

    def put(self, cost: ModelCost) -> None:
        from .registry import model_entrypoint
        if cost.error or cost.macs is None:
            return
        if not getattr(model_entrypoint(cost.name), "__module__", "").startswith("convzoo."):
            return
        self.rows[cost.name] = cost.to_dict()
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        from .io import atomic_write_text
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.rows, indent=1, sort_keys=True))
        except OSError:   # a read-only home: the listing itself must not fail
            return
        self.dirty = False
