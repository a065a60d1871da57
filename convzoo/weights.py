"""Load checkpoints from timm, torchvision or convzoo into convzoo models; save them as safetensors.

    >>> model = convzoo.create_model("efficientnet_b0")
    >>> convzoo.load_weights(model, "efficientnet_b0_timm.pth")           # layout detected
    >>> convzoo.load_weights(model, tv_model.state_dict(), layout="torchvision")
    >>> convzoo.save_weights(model, "b0.safetensors", metadata={"note": "fine-tuned"})

What :func:`load_weights` does, in order:

1. reads the source: a state dict, a ``.safetensors`` file, or a PyTorch checkpoint read with
   ``torch.load(..., weights_only=True)`` (never arbitrary pickles). Wrappers ``{"state_dict": ...}``,
   ``{"model": ...}`` and EMA copies (``state_dict_ema``, ``model_ema``; ``use_ema=True`` picks them)
   are unwrapped; ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes stripped;
2. detects the key layout (``"convzoo"``, ``"timm"``, ``"torchvision"``, or any other layout the model
   class converts) by converting with each and keeping the one that matches the most of the model's
   keys, or uses ``layout=`` as given;
3. converts the keys with the model's hook (below);
4. adapts a first conv with another number of input channels (timm's ``adapt_input_conv``: summed
   for 1 channel, RGB filters repeated and scaled by ``3 / in_chans`` otherwise) and leaves a
   classifier of another size at its fresh initialisation, with a warning naming both sizes;
5. loads strictly: every missing, unexpected and shape-mismatched key is listed in one
   :class:`WeightsMismatchError` (``strict=False`` loads the rest and returns them instead).

**The converter hook.** A model class that can read foreign layouts implements::

    weight_layouts = ("timm", "torchvision")           # the layouts it converts, tried by detection

    def convert_state_dict(self, state_dict, layout):   # -> dict keyed by this model's keys
        return remap_modules(self, state_dict, {"stem.conv": "conv_stem", "stem.norm": "bn1", ...})

``convert_state_dict`` receives the unwrapped source state dict and a layout name from
``weight_layouts``; it returns a state dict keyed by the model's own keys. Source keys it does not
know should be passed through unchanged (they are then reported as unexpected). The helper
:func:`remap_modules` does the usual case: a map from *our* module paths to the source's module paths
(parameters and buffers keep their names: ``weight``, ``bias``, ``running_mean`` ...), with an optional
``param_map`` for single tensors that are renamed or reshaped (e.g. ConvNeXt's ``gamma``). Our module
paths are the same in both padding modes (a TF "SAME" conv is an ``nn.Conv2d`` subclass, as timm's
``Conv2dSame``), so one map serves both. ``convzoo`` layout (our own keys) needs no hook.
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from .io import atomic_write
from .models._remap import remap_modules

__all__ = ["load_weights", "save_weights", "read_state_dict", "detect_layout", "remap_modules",
           "adapt_input_conv", "nonfinite_tensor", "WeightsMismatchError", "LoadResult"]

log = logging.getLogger(__name__)

Source = Union[str, os.PathLike, Mapping]
_WRAPPERS = ("state_dict", "model", "module", "net", "network")
_EMA_WRAPPERS = ("state_dict_ema", "model_ema", "ema", "ema_state_dict")
_PREFIXES = ("module.", "_orig_mod.")


class WeightsMismatchError(ValueError):
    """The converted checkpoint does not fit the model; the message lists every differing key."""


@dataclass
class LoadResult:
    """What :func:`load_weights` did: the layout used and every adjustment made."""

    layout: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    head_reset: bool = False
    first_conv_adapted: bool = False


# --------------------------------------------------------------------------------------- reading
def read_state_dict(source: Source, *, use_ema: bool = False) -> dict[str, torch.Tensor]:
    """A flat ``{key: tensor}`` from a state dict, a safetensors file or a PyTorch checkpoint."""
    if isinstance(source, nn.Module):
        raise TypeError("source must be a state dict or a file path, got a module; "
                        "pass module.state_dict()")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {str(path)!r}")
        if path.suffix == ".safetensors" or _is_safetensors(path):
            from safetensors.torch import load_file
            try:
                obj: Any = load_file(str(path), device="cpu")
            except Exception as e:  # safetensors' own error types for truncated/garbled files
                raise ValueError(f"cannot read weights {path}: corrupt or not a safetensors "
                                 f"file ({type(e).__name__}: {e})") from None
        else:
            try:
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as e:  # pickle.UnpicklingError and friends
                raise ValueError(
                    f"could not read {str(path)!r} with torch.load(weights_only=True): {e}. Only "
                    "tensors and plain containers are loaded (a pickled nn.Module is not: save "
                    "model.state_dict() instead)") from None
    elif isinstance(source, Mapping):
        obj = source
    else:
        raise TypeError(f"source must be a state dict or a path, got {type(source).__name__}")
    obj = _unwrap(obj, use_ema)
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        for p in _PREFIXES:
            while k.startswith(p):
                k = k[len(p):]
        out[k] = v
    if not out:
        raise ValueError(f"no tensors found in the weights source (top-level keys: {list(obj)[:10]})")
    return out


def _is_safetensors(path: Path) -> bool:
    # A safetensors file is an 8-byte little-endian header length followed by a JSON header.
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _unwrap(obj: Any, use_ema: bool) -> Mapping:
    if not isinstance(obj, Mapping):
        raise TypeError(f"a checkpoint must hold a dict of tensors, got {type(obj).__name__}")
    for _ in range(3):   # e.g. {"model": {"state_dict": {...}}}
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        keys = (_EMA_WRAPPERS + _WRAPPERS) if use_ema else (_WRAPPERS + _EMA_WRAPPERS)
        inner = next((obj[k] for k in keys if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    return obj


# ----------------------------------------------------------------------------- key conversion
def convert_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], layout: str
                       ) -> dict[str, torch.Tensor]:
    """Convert ``state_dict`` from ``layout`` to ``model``'s keys (through the model's hook)."""
    if layout == "convzoo":
        return dict(state_dict)
    layouts = tuple(getattr(model, "weight_layouts", ()))
    if layout not in layouts:
        raise ValueError(f"{type(model).__name__} converts layouts {('convzoo',) + layouts}, "
                         f"got layout={layout!r}")
    return model.convert_state_dict(dict(state_dict), layout)  # type: ignore[operator]


def detect_layout(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str:
    """The layout whose conversion matches the most of ``model``'s keys (ties: convzoo first)."""
    ours = set(model.state_dict())
    best, best_score = None, 0
    for layout in ("convzoo",) + tuple(getattr(model, "weight_layouts", ())):
        try:
            converted = convert_state_dict(model, state_dict, layout)
        except Exception:  # a converter that cannot parse this source simply does not match
            continue
        score = sum(1 for k in converted if k in ours)
        if score > best_score:
            best, best_score = layout, score
    if best is None:
        raise ValueError(
            f"could not recognise the checkpoint's key layout for {type(model).__name__} (first keys: "
            f"{list(state_dict)[:5]}); known layouts: "
            f"{('convzoo',) + tuple(getattr(model, 'weight_layouts', ()))}; pass layout=")
    return best


# ---------------------------------------------------------------------------------- adapting
def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """Adapt a first-conv weight (O, I, *k) trained on I (=3) channels to ``in_chans`` channels.

    Same rule as timm's ``adapt_input_conv``: 1 channel sums the RGB filters; more channels repeat the
    RGB filters and scale them by ``3 / in_chans``, so the response to a grey image is preserved.
    """
    dtype = weight.dtype
    w = weight.float()
    i = w.shape[1]
    if in_chans == 1:
        if i > 3:
            if i % 3:
                raise ValueError(f"cannot adapt a first conv with {i} input channels to 1")
            w = w.reshape(w.shape[0], i // 3, 3, *w.shape[2:]).sum(dim=2)
        else:
            w = w.sum(dim=1, keepdim=True)
    elif in_chans != i:
        if i != 3:
            raise ValueError(f"can adapt only a 3-channel first conv to {in_chans} channels, got {i}")
        reps = int(math.ceil(in_chans / 3))
        w = w.repeat(1, reps, *([1] * (w.dim() - 2)))[:, :in_chans] * (3 / float(in_chans))
    return w.to(dtype)


def _module_key(model: nn.Module, module_path: Optional[str], tensor: str) -> Optional[str]:
    if not module_path:
        return None
    key = f"{module_path}.{tensor}"
    return key if key in model.state_dict(keep_vars=True) else None


# ----------------------------------------------------------------------------------- loading
def load_weights(model: nn.Module, source: Source, layout: Optional[str] = None, strict: bool = True,
                 *, use_ema: bool = False, allow_new_head: bool = True,
                 allow_nonfinite: bool = False) -> LoadResult:
    """Load ``source`` (state dict or file) in ``layout`` (None: detected) into ``model`` in place.

    Raises :class:`WeightsMismatchError` listing every missing, unexpected and shape-mismatched key
    when ``strict``; a classifier of another size is kept at its initialisation (with a warning;
    ``allow_new_head=False`` makes it an error) and a first conv with another channel count is
    adapted. A tensor whose dtype cannot stand for the model's (int or bool into a float weight) and
    a NaN/inf in a floating tensor are refused (``allow_nonfinite=True`` accepts the latter).
    Returns a :class:`LoadResult`.
    """
    from .models.base import FeatureExtractor
    target = model.model if isinstance(model, FeatureExtractor) else model
    sd = read_state_dict(source, use_ema=use_ema)
    if layout is None:
        layout = detect_layout(target, sd)
    sd = convert_state_dict(target, sd, layout)
    ours = target.state_dict()
    result = LoadResult(layout=layout)
    cfg = getattr(target, "default_cfg", {}) or {}

    first = _module_key(target, cfg.get("first_conv"), "weight")
    if first and first in sd and sd[first].dim() == ours[first].dim() \
            and sd[first].shape[1] != ours[first].shape[1] \
            and sd[first].shape[0] == ours[first].shape[0]:
        try:
            sd[first] = adapt_input_conv(ours[first].shape[1], sd[first])
            result.first_conv_adapted = True
            log.info("adapted first conv %s to %d input channels", first, ours[first].shape[1])
        except ValueError:   # not an RGB stem: left as a shape mismatch, reported with the rest
            pass

    head = [k for k in (_module_key(target, cfg.get("classifier"), t) for t in ("weight", "bias")) if k]
    head_src = [k for t in ("weight", "bias")
                if (k := f"{cfg.get('classifier')}.{t}") in sd and k not in ours]  # our fc is Identity
    if any(k in sd and sd[k].shape != ours[k].shape for k in head) or head_src:
        n_src = next((sd[k].shape[0] for k in head + head_src if k in sd), "?")
        n_ours = getattr(target, "num_classes", "?")
        if not allow_new_head:
            raise WeightsMismatchError(f"checkpoint classifier has {n_src} outputs, the model has {n_ours}: "
                                       f"{cfg.get('classifier')} cannot be loaded (build the model with "
                                       f"num_classes={n_src}, or accept a fresh classifier)")
        msg = (f"load_weights: checkpoint classifier has {n_src} outputs, the model has {n_ours}; "
               f"{cfg.get('classifier')} was left at its fresh initialisation (train it)")
        warnings.warn(msg, stacklevel=2)
        log.warning(msg)
        for k in head + head_src:
            sd.pop(k, None)
            if k in ours:
                sd[k] = ours[k]
        result.head_reset = True

    for k in ours:   # older checkpoints lack BN's step counter; it affects nothing in eval
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = ours[k]

    result.missing = [k for k in ours if k not in sd]
    result.unexpected = [k for k in sd if k not in ours]
    result.mismatched = [(k, tuple(sd[k].shape), tuple(ours[k].shape)) for k in ours
                         if k in sd and sd[k].shape != ours[k].shape]
    if strict and (result.missing or result.unexpected or result.mismatched):
        raise WeightsMismatchError(_mismatch_message(target, layout, result))
    load = {k: v for k, v in sd.items() if k in ours and v.shape == ours[k].shape}
    _check_tensors(load, ours, allow_nonfinite)
    target.load_state_dict(load, strict=strict)
    return result


def _check_tensors(sd: Mapping[str, torch.Tensor], ours: Mapping[str, torch.Tensor],
                   allow_nonfinite: bool) -> None:
    """dtype and finiteness of what is about to be copied into the model (``load_state_dict`` would
    cast int8 or bool to float without a word, and NaN would surface only as a loss of 4e16)."""
    for k, v in sd.items():
        want = ours[k]
        if want.is_floating_point() or want.is_complex():
            if not (v.is_floating_point() or v.is_complex()):
                raise ValueError(f"weights: tensor {k} is {str(v.dtype).replace('torch.', '')}, the model's "
                                 f"is {str(want.dtype).replace('torch.', '')} (expected a floating tensor)")
            if not allow_nonfinite and not bool(torch.isfinite(v).all()):
                bad = int((~torch.isfinite(v)).sum())
                raise ValueError(f"weights: tensor {k} holds {bad} NaN/inf value(s) (expected finite "
                                 f"weights; pass allow_nonfinite=True to load them anyway)")
        elif v.is_floating_point() and want.dtype != torch.bool:
            raise ValueError(f"weights: tensor {k} is {str(v.dtype).replace('torch.', '')}, the model's "
                             f"is {str(want.dtype).replace('torch.', '')} (expected an integer tensor)")


def nonfinite_tensor(tensors: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The name of the first floating tensor holding NaN/inf, or None when all are finite."""
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return k
    return None


def _mismatch_message(model: nn.Module, layout: str, r: LoadResult, limit: int = 20) -> str:
    def block(title, items, fmt=str):
        if not items:
            return ""
        more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
        return f"\n  {title} ({len(items)}):\n" + "\n".join(f"    {fmt(x)}" for x in items[:limit]) + more
    counts = ", ".join(f"{len(v)} {what}" for v, what in ((r.missing, "missing"), (r.unexpected, "unexpected"),
                                                           (r.mismatched, "of another shape")) if v)
    return (f"checkpoint (layout {layout!r}) does not fit {type(model).__name__}: {counts} keys "
            f"(another architecture?):"
            + block("missing from the checkpoint", r.missing)
            + block("unexpected in the checkpoint", r.unexpected)
            + block("shape mismatch (checkpoint vs model)", r.mismatched,
                    lambda x: f"{x[0]}: {x[1]} vs {x[2]}")
            + "\n(pass strict=False to load the matching tensors only)")


# ------------------------------------------------------------------------------------ saving
def save_weights(model: nn.Module, path: Union[str, os.PathLike],
                 metadata: Optional[Mapping[str, str]] = None, *, allow_nonfinite: bool = False) -> Path:
    """Write ``model``'s state dict to ``path`` as safetensors, atomically (temp file + rename).

    ``metadata`` (str -> str) is stored in the header beside ``convzoo_version`` and, when the model
    knows it, ``architecture``. A NaN/inf weight is refused (ValueError, nothing written) unless
    ``allow_nonfinite``. Returns the path.
    """
    from safetensors.torch import save_file

    from . import __version__
    path = Path(path)
    meta = {"format": "pt", "convzoo_version": __version__}
    arch = (getattr(model, "default_cfg", None) or {}).get("architecture")
    if arch:
        meta["architecture"] = str(arch)
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map str to str, got {k!r}: {type(v).__name__}")
        meta[k] = v
    # clone: safetensors refuses tensors that share storage, and we must not hold views of params
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    bad = None if allow_nonfinite else nonfinite_tensor(tensors)
    if bad is not None:
        raise ValueError(f"refusing to save {path}: tensor {bad} holds NaN/inf (expected finite weights)")
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
