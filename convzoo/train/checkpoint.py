"""Atomic, safe checkpoints: weights as safetensors, training state via ``torch.save`` of tensors and
primitives only (loaded back with ``weights_only=True``).

Layout inside a run folder::

    checkpoints/epoch_0003.safetensors   model weights after epoch 3
    checkpoints/epoch_0003.pt            optimizer, EMA, RNG states, step counters (no pickled objects)
    checkpoints/last.json                {"epoch": 3, ...}: written last, so it only ever names a
                                         complete pair; a crash mid-save leaves the previous pair valid

Every file is written to a temporary name in the same folder and moved into place with
``os.replace`` (atomic on POSIX), so a SIGKILL at any moment leaves either the old or the new file.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..io import atomic_write, atomic_write_text  # noqa: F401  (re-exported for callers)


class CheckpointError(RuntimeError):
    """A missing, incomplete or corrupt checkpoint; the message is one line."""


def _save_weights(model: nn.Module, path: Path, metadata: Optional[dict] = None) -> None:
    from ..weights import save_weights
    save_weights(model, path, {str(k): str(v) for k, v in (metadata or {}).items()})


def _load_weights(model: nn.Module, path: Path) -> None:
    """Our own layout, strict, finite, the classifier included; every refusal a CheckpointError."""
    from ..weights import load_weights
    try:
        load_weights(model, path, layout="convzoo", strict=True, allow_new_head=False)
    except FileNotFoundError:
        raise
    except (ValueError, TypeError) as e:
        first = str(e).strip().splitlines()
        msg = first[0].rstrip(":")
        if len(first) > 1 and first[0].endswith(":"):   # a key listing: name the first key
            msg += ": " + " ".join(line.strip() for line in first[1:3])
        raise CheckpointError(msg if str(path) in msg else f"weights {path}: {msg}") from None


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors and primitives (weights_only-loadable)."""
    np_state = np.random.get_state()
    state = {
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _ckpt_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path, epoch: int, model: nn.Module, state: dict[str, Any],
                    keep: int = 1) -> Path:
    """Save the pair for ``epoch`` (1-based, completed epochs), then point ``last.json`` at it and
    delete older pairs beyond ``keep``."""
    d = _ckpt_dir(run_dir)
    stem = d / f"epoch_{epoch:04d}"
    _save_weights(model, stem.with_suffix(".safetensors"), {"epoch": epoch})
    atomic_write(stem.with_suffix(".pt"), lambda tmp: torch.save(state, tmp))
    atomic_write_text(d / "last.json", json.dumps({"epoch": epoch, "weights": stem.name + ".safetensors",
                                                   "state": stem.name + ".pt"}) + "\n")
    for old in sorted(d.glob("epoch_*.safetensors"))[:-keep]:
        if old.stem != stem.name:
            old.unlink(missing_ok=True)
            old.with_suffix(".pt").unlink(missing_ok=True)
    return stem


def last_checkpoint(run_dir: Path) -> Optional[dict[str, Any]]:
    """``last.json`` of ``run_dir`` (with absolute paths), or None when no epoch was saved yet."""
    d = _ckpt_dir(run_dir)
    p = d / "last.json"
    if not p.is_file():
        return None
    try:
        info = json.loads(p.read_text())
        info["weights"], info["state"] = d / info["weights"], d / info["state"]
        int(info["epoch"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"corrupt checkpoint index {p}") from None
    return info


def load_checkpoint(run_dir: Path, model: nn.Module) -> tuple[int, dict[str, Any]]:
    """Load the last complete checkpoint of ``run_dir`` into ``model``; return (epoch, state)."""
    info = last_checkpoint(run_dir)
    if info is None:
        raise CheckpointError(f"no checkpoint in {run_dir} (nothing to resume: no epoch finished)")
    _load_weights(model, info["weights"])
    if not Path(info["state"]).is_file():
        raise CheckpointError(f"checkpoint state missing: {info['state']}")
    try:
        state = torch.load(info["state"], map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint state {info['state']}: corrupt "
                              f"({type(e).__name__})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"checkpoint state {info['state']} is not a convzoo training state")
    return int(info["epoch"]), state


# ------------------------------------------------------------------------- a run's whole state
def save_run_state(run, epoch: int) -> Path:
    """Checkpoint a :class:`~convzoo.train.loop.RunState` after ``epoch`` completed epochs."""
    state = {"epoch": epoch, "step": run.step, "best_accuracy": run.best,
             "optimizer": run.optimizer.state_dict(), "rng": rng_state()}
    if run.ema is not None:
        state["ema"] = run.ema.state_dict()
    if run.scaler is not None:
        state["scaler"] = run.scaler.state_dict()
    return save_checkpoint(run.out, epoch, run.net, state)


def restore_run_state(run) -> None:
    """Load the last checkpoint of ``run.out`` into ``run`` (model, optimizer, EMA, scaler, RNG,
    counters) and cut the log back to the epochs it holds."""
    from ..io import read_jsonl
    out = run.out
    run.start_epoch, state = load_checkpoint(out, run.model)
    run.optimizer.load_state_dict(state["optimizer"])
    if run.ema is not None:
        if "ema" not in state:
            raise CheckpointError(f"checkpoint in {out} has no EMA state but ema_decay is set")
        run.ema.load_state_dict(state["ema"])
    if run.scaler is not None and "scaler" in state:
        run.scaler.load_state_dict(state["scaler"])
    run.step, run.best = int(state["step"]), float(state.get("best_accuracy", 0.0))
    set_rng_state(state["rng"])
    run.resumed = True
    if run.dist.is_main:  # drop log lines of the epoch that was cut short
        rows = [r for r in read_jsonl(out / "metrics.jsonl") if r.get("epoch", 0) <= run.start_epoch]
        atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
