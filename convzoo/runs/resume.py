"""A run continued from its last checkpoint: ``convzoo train --resume``'s work as a library call.

    run folder (config.json: model, data, TrainConfig) + the changes asked for
      --check: only how long and where it trains may change (epochs, num_workers, eval_every,
               device); what the run is (model, data, options, the recipe) must equal config.json
      --under the folder's lock--> last checkpoint: already done -> its report, nothing written;
                                   none yet -> started again in its own folder (when it holds
                                   nothing else); else -> train_run(resume=True) to the new epochs

A resumed run that silently trained another recipe would report a number no recipe produced, so a
contradiction is refused, naming the setting, the value asked for and the run's own.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional, Union

# what a resumed run may change: more epochs, how it loads data, how often it evaluates, where it runs
MAY_CHANGE = frozenset({"epochs", "num_workers", "eval_every", "device"})
# what the run is, beside its TrainConfig (config.json's top-level keys)
RUN_KEYS = ("model", "model_kwargs", "dataset", "data_root", "data_kwargs")


class ResumeConflict(ValueError):
    """A setting asked for on resume contradicts the run's own: ``key``, ``given``, ``recorded``;
    ``run_key``: it is what the run is (model, data), not a TrainConfig field."""

    def __init__(self, out: Path, key: str, given, recorded, run_key: bool):
        self.key, self.given, self.recorded, self.run_key = key, given, recorded, run_key
        if run_key:
            msg = f"{key} cannot change on resume (the run's {key} is {show(recorded)})"
        else:
            msg = (f"{key} = {show(given)} contradicts the run's {key} = {show(recorded)} in {out}/config.json "
                   f"(on resume only {', '.join(sorted(MAY_CHANGE))} may change)")
        super().__init__(msg)


def resume_run(out: Union[str, os.PathLike], changes: Optional[dict[str, Any]] = None, *,
               run: Optional[dict[str, Any]] = None, progress: bool = True) -> Optional[dict[str, Any]]:
    """Continue the run in ``out`` (see the module docstring); returns its report (None on a non-main
    process under torchrun). ``changes``: TrainConfig fields asked for (a field equal to the run's own
    is no change); ``run``: what the caller says the run is (any of :data:`RUN_KEYS`), checked against
    config.json. Raises :class:`ResumeConflict` (a ``ValueError``) before anything is written."""
    from convzoo.train import TrainConfig, lock
    from convzoo.train.checkpoint import last_checkpoint
    from .manifest import read_report, read_run_config, write_run_config
    from .training import check_restartable, train_run
    out = Path(out)
    run_cfg = read_run_config(out)
    saved = TrainConfig.from_dict(run_cfg["train"])
    for key, value in (run or {}).items():
        if key not in RUN_KEYS:
            raise ValueError(f"run key {key!r} is not one of {', '.join(RUN_KEYS)}")
        if not same(value or None, run_cfg.get(key) or None):
            raise ResumeConflict(out, key, value, run_cfg.get(key), run_key=True)
    changed = {}
    for name, new in sorted((changes or {}).items()):
        old = getattr(saved, name)
        if same(old, new):
            continue
        if name not in MAY_CHANGE:
            raise ResumeConflict(out, name, new, old, run_key=False)
        changed[name] = (old, new)
    with lock.run_lock(out):
        info = last_checkpoint(out)
        done = int(info["epoch"]) if info else 0
        epochs = changed.get("epochs", (None, saved.epochs))[1]
        if epochs < done:
            raise ValueError(f"epochs = {epochs} is below the {done} epochs {out} has already trained")
        if info is not None and done >= epochs and (out / "report.json").is_file():
            print(f"{out} already finished ({done} of {saved.epochs} epochs); nothing to do, report.json kept "
                  f"(ask for more than {done} epochs to train on)", file=sys.stderr)
            return read_report(out)
        cfg = TrainConfig.from_dict({**saved.to_dict(), **{k: v[1] for k, v in changed.items()}})
        for k, (old, new) in changed.items():
            print(f"resume: {k} {show(old)} -> {show(new)}", file=sys.stderr)
        run_info = {k: run_cfg[k] for k in ("pretrained", "class_names", "preprocess") if k in run_cfg}
        run_info.update({k: run_cfg.get(k) or ({} if k.endswith("kwargs") else None) for k in RUN_KEYS})
        if info is None:
            check_restartable(out)
            print(f"{out} has no checkpoint yet (stopped before its first epoch ended): starting it again",
                  file=sys.stderr)
            return train_run(run_info, cfg, out, restart=True, progress=progress)
        if changed:
            write_run_config(out, {k: v for k, v in run_cfg.items() if k != "train"}, cfg.to_dict())
        return train_run(run_info, cfg, out, resume=True, progress=progress)


def same(a, b) -> bool:
    """Equal as config.json stores them (tuples read back as lists)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def show(v) -> str:
    return "none" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


__all__ = ["resume_run", "ResumeConflict", "MAY_CHANGE", "RUN_KEYS"]
