"""A run folder trained: ``convzoo train``'s work as a library call.

    run_info (model, options, dataset, root, data options[, pretrained]) + TrainConfig
      --build_data / build_run_model--> data, model [<-- the recorded starting weights, sha256 checked]
      --under the folder's lock--> convzoo.train.fit --> config.json, metrics.jsonl, checkpoints/,
                                                         model.safetensors, report.json

The folder is refused when it holds anyone's files (unless the run is resumed or restarted), and a
folder this call created is removed again when it is refused before anything is written.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Union

from .data import build_data, preprocess_info
from .manifest import RUN_CONFIG
from .run import build_run_model


def pretrained_record(source: str) -> dict[str, Any]:
    """What a run records of its starting weights (a file, a model folder, ``local-dir:``/``hf-hub:``):
    where they came from, the file and its sha256, and the architecture a folder names."""
    from convzoo.hub import resolve_source, sha256
    if not str(source).strip():
        raise ValueError("--pretrained expects a weights file, a model folder or a local-dir:/hf-hub: name, got ''")
    path, folder = resolve_source(source)
    return {"source": str(source), "file": str(path.resolve()), "sha256": sha256(path),
            "architecture": folder.architecture if folder is not None else None}


def load_pretrained(model, info: dict[str, Any], num_classes: Optional[int]) -> str:
    """Load the recorded starting weights into ``model`` (the file checked against its sha256); returns
    the line that says what changed (layout, first conv adapted, a new classifier)."""
    from convzoo.hub import sha256
    from convzoo.weights import load_weights
    if sha256(info["file"]) != info["sha256"]:
        raise ValueError(f"--pretrained {info['source']}: {info['file']} changed while the run was being set up")
    quiet = logging.getLogger("convzoo.weights")
    level = quiet.level
    try:   # a new head is the point of fine-tuning: said in the returned line, not as a warning
        quiet.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = load_weights(model, info["file"])
    finally:
        quiet.setLevel(level)
    notes = [f"layout {res.layout}"]
    if res.first_conv_adapted:
        notes.append(f"first conv adapted to {getattr(model, 'in_chans', '?')} channels")
    if res.head_reset:
        notes.append(f"new classifier for {num_classes if num_classes is not None else '?'} classes")
    return f"pretrained: {info['source']} (sha256 {info['sha256'][:12]}; {', '.join(notes)})"


def holds_files(out: Path) -> bool:
    from convzoo.train.lock import is_lock_file
    return out.is_dir() and any(not is_lock_file(p) for p in out.iterdir())


def refuse_used_folder(out: Path) -> None:
    """``ValueError`` when ``out`` holds files (a live writer is named instead: RunLockedError)."""
    from convzoo.train import lock
    if holds_files(out):
        if (out / lock.LOCK_NAME).exists():
            with lock.run_lock(out):
                pass
        raise ValueError(f"{out} already holds files; continue it with --resume {out} or choose another --out")


def check_restartable(out: Path) -> None:
    """A run with no checkpoint starts again, rewriting its config and metrics: only when the folder
    holds nothing else (a finished model, a report, a compress output, anyone's files are never
    touched: refused, naming them)."""
    from convzoo.train.lock import is_lock_file
    unfinished = {RUN_CONFIG, "metrics.jsonl", "checkpoints"}    # and temp files, the lock
    others = sorted(p.name for p in out.iterdir()
                    if p.name not in unfinished and not is_lock_file(p) and not p.name.endswith(".tmp"))
    ckpt = out / "checkpoints"
    if ckpt.is_dir():
        others += [f"checkpoints/{p.name}" for p in ckpt.iterdir() if not p.name.endswith(".tmp")]
    if others:
        raise ValueError(f"{out} has no checkpoint to resume from but holds {', '.join(others[:4])}"
                         f"{' ...' if len(others) > 4 else ''}: it is not an unfinished run (nothing was changed; "
                         f"train a new run with --out)")


def train_run(run_info: dict[str, Any], cfg, out: Union[str, os.PathLike], *, resume: bool = False,
              restart: bool = False, progress: bool = True) -> Optional[dict[str, Any]]:
    """Train the run ``run_info`` describes with ``cfg`` (a TrainConfig) into ``out``; returns the
    report (None on a non-main process under torchrun). ``resume``: continue from the folder's last
    checkpoint; ``restart``: a run with no checkpoint starting again in its own folder."""
    from convzoo.registry import model_entrypoint
    from convzoo.train import fit, lock
    from convzoo.train.augment import eval_image_size
    from convzoo.train.distributed import env_info
    out = Path(out)
    model_entrypoint(run_info["model"])            # unknown model -> suggestions, before loading data
    train_set, test_set = build_data(run_info["dataset"], run_info.get("data_root"), run_info.get("data_kwargs"))
    model = build_run_model(run_info["model"], train_set, run_info.get("model_kwargs"), seed=cfg.seed, task=cfg.task)
    if getattr(train_set, "classes", None) is not None:
        run_info["class_names"] = [str(c) for c in train_set.classes]
    run_info["preprocess"] = preprocess_info(train_set, eval_image_size(cfg))
    main = env_info().is_main
    if run_info.get("pretrained") and not resume:   # a resumed run's checkpoint carries the weights
        print(load_pretrained(model, run_info["pretrained"], getattr(train_set, "num_classes", None)),
              file=sys.stderr)
    created = not out.exists()
    if main:
        lock.acquire(out)
    try:
        if main and not resume and not restart:
            refuse_used_folder(out)
        report = fit(model, train_set, test_set, cfg, out_dir=out, progress=progress,
                     resume=resume, run_info=run_info, dataset_name=run_info["dataset"])
    finally:
        if main:
            lock.release(out)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()                          # refused before writing: leave nothing behind
    return report if main else None


__all__ = ["train_run", "pretrained_record", "load_pretrained", "refuse_used_folder", "check_restartable"]
