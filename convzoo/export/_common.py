"""Helpers the export passes share: swapping a submodule by name, the squeeze-excite selector of the
SE rewrites, and the parity measure."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..layers.squeeze_excite import SqueezeExcite


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where ``model.get_submodule(name)`` is (``name`` is a dotted path, not "")."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def relative_error(out, ref) -> float:
    """max |out - ref| / max |ref| (tensors or arrays, in float64): the parity measure of every export test."""
    out = torch.as_tensor(np.asarray(out.detach().cpu()) if isinstance(out, torch.Tensor) else out)
    ref = torch.as_tensor(np.asarray(ref.detach().cpu()) if isinstance(ref, torch.Tensor) else ref)
    out, ref = out.double(), ref.double()
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


def wrap_squeeze_excite(model: nn.Module, wrap) -> nn.Module:
    """Replace (in place) every 2D squeeze-excite of ``model`` by ``wrap(se)``; returns ``model``.
    The one selector of the SE rewrites (oneDNN Graph's pooled squeeze, ONNX Runtime's blocked one)."""
    for name, m in list(model.named_modules()):
        if name and isinstance(m, SqueezeExcite) and m.dims == 2:
            replace_module(model, name, wrap(m))
    return model


class ArtifactError(ValueError):
    """A file that is not what its name or manifest says (truncated, another format, missing part)."""


def artifact_error(path, what: str, e: BaseException) -> ArtifactError:
    """One line naming the file and what was expected; the engine's own words last (all of them after
    ``--debug``, as the cause)."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()[:160]
    err = ArtifactError(f"{path}: not a readable {what} (truncated, or another format?): {first}")
    err.__cause__ = e
    return err


def set_aside(path, e: Exception, hint: str = "verify=False (convzoo export --no-verify) skips this check"):
    """Rename a file that failed its check to ``<path>.failed-check`` (nothing unchecked is left under
    the name asked for) and return the error to raise: ``e``'s type and words, saying where the file
    went and ``hint``."""
    import os
    kept = f"{path}.failed-check"
    os.replace(path, kept)
    return type(e)(f"{e}; the file is kept as {kept}; {hint}")
