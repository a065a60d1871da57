"""``deploy``: the fastest engine × precision that holds accuracy on this machine, chosen by
measurement, written as a self-contained artifact with a ``deploy.json`` report.

model -> every (engine, precision) the registry declares for the CPU (:func:`~convzoo.export.candidates`)
-> build each (a missing optional engine, a precision this CPU lacks, int8 without calibration data:
rejected with the reason) -> predictions on the check data vs fp32 eager (top-1, agreement; within
``max_drop`` points) -> interleaved timing of the survivors (:func:`convzoo.analysis.timing.stable_times`,
quartiles, unstable ones marked) -> the fastest that holds -> ``OUT/<artifact>`` + ``OUT/deploy.json``.

Check data: labelled ``data`` (x, y) measures top-1 and its drop from fp32; inputs alone, or none
(then ``checked_on`` says "generated inputs": random normal batches), measure agreement with fp32 only,
and the drop is 100 - agreement.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from ..analysis.timing import measurement_setup, stable_times
from ..io import write_json
from ..runs.manifest import DEPLOY_JSON
from ..runs.write import check_new_folder, new_folder
from .engines import REGISTRY, candidates
from .precision import check_precision, cpu_model_name

# points of top-1 (or of agreement with fp32, without labels) a precision may lose
MAX_DROP = {"fp32": 0.5, "bf16": 0.5, "int8": 1.0}
GENERATED_SAMPLES = 64


def _as_pairs(data, input_size, batch: int) -> tuple[torch.Tensor, Optional[torch.Tensor], str]:
    """(inputs, labels or None, what they are) from ``data``: None (generated), a tensor of inputs,
    an (x, y) pair of tensors, or an iterable of (x, y) batches."""
    if data is None:
        g = torch.Generator().manual_seed(0)
        n = max(GENERATED_SAMPLES, batch)
        return torch.randn(n, *input_size, generator=g), None, f"{n} generated inputs (no labels)"
    if isinstance(data, torch.Tensor):
        return data.float(), None, f"{len(data)} given inputs (no labels)"
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        xs, ys = data
    else:
        pairs = list(data)
        xs, ys = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
    if len(xs) != len(ys) or len(xs) == 0:
        raise ValueError(f"deploy's check data needs as many labels as inputs (>0), got {len(xs)} and {len(ys)}")
    return xs.float(), ys, f"{len(xs)} labelled samples"


def _predict(fn, xs: torch.Tensor, batch: int) -> torch.Tensor:
    """Top-1 of ``fn`` over ``xs`` in chunks of exactly ``batch`` (engines built for a static
    shape); the last chunk is padded with its first sample and the padding dropped."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(xs), batch):
            x = xs[i:i + batch]
            n = len(x)
            if n < batch:
                x = torch.cat([x, x[:1].expand(batch - n, *x.shape[1:])])
            out.append(torch.as_tensor(fn(x)).float().argmax(1)[:n])
    return torch.cat(out)


def _check(pred, ref_pred, labels, ref_acc, precision, max_drop) -> dict:
    # counts over the total in double precision: the same number eval's correct / total gives
    agreement = 100.0 * int((pred == ref_pred).sum()) / len(pred)
    acc = None if labels is None else 100.0 * int((pred == labels).sum()) / len(labels)
    drop = (ref_acc - acc) if acc is not None else 100.0 - agreement
    bound = max_drop if max_drop is not None else MAX_DROP[precision]
    reason = None if drop <= bound else (f"{'top-1' if acc is not None else 'agreement with fp32'} "
                                         f"drops {drop:.2f} points (allowed {bound})")
    return dict(accuracy=acc, agreement=agreement, drop_points=drop, max_drop=bound, rejected=reason)


def _why_not(name: str, precision: str, calibration_data) -> Optional[str]:
    eng = REGISTRY[name]
    if eng.missing():
        return eng.missing()
    if not eng.saves:
        return "this engine has no file format: no self-contained artifact to write"
    try:
        if eng.native_precision:
            check_precision(precision, "cpu")
    except ValueError as e:
        return str(e)
    if precision == "int8" and calibration_data is None:
        return "int8 needs calibration data (--calibration-data)"
    return None


class _Progress:
    """One line per candidate on stderr: ``deploy [k/N] engine precision: what happened``."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.k, self.enabled = total, 0, enabled

    def step(self, label: str, what: str) -> None:
        self.k += 1
        if self.enabled:
            bar = "#" * self.k + "." * (self.total - self.k)
            print(f"deploy [{bar}] {self.k}/{self.total} {label}: {what}", file=sys.stderr, flush=True)


def _build_all(model, x, pairs, cands, calibration_data, threads, max_drop, progress):
    """Build and check every candidate; returns (rows, {label: runner} of those that hold)."""
    xs, labels, _ = pairs
    ref_pred = _predict(lambda b: model(b), xs, len(x))
    ref_acc = None if labels is None else 100.0 * int((ref_pred == labels).sum()) / len(labels)
    rows, runners = [], {}
    bar = _Progress(len(cands), progress)
    for name, precision in cands:
        row = dict(engine=name, precision=precision, images_per_s=None, accuracy=None, agreement=None)
        label = f"{name} {precision}"
        row["rejected"] = _why_not(name, precision, calibration_data)
        if row["rejected"] is None:
            t0 = time.perf_counter()
            try:
                opts = {"threads": threads} if REGISTRY[name].takes_threads else {}
                if precision == "int8":
                    opts["calibration_data"] = calibration_data
                runner = REGISTRY[name].build(model, x, precision, **opts)
                row.update(_check(_predict(runner, xs, len(x)), ref_pred, labels, ref_acc, precision, max_drop))
                if row["rejected"] is None:
                    runners[label] = runner
            except (RuntimeError, ValueError, TypeError) as e:
                row["rejected"] = "cannot build: " + (str(e).strip().splitlines() or [type(e).__name__])[0]
            row["build_s"] = round(time.perf_counter() - t0, 1)
        bar.step(label, "holds" if row["rejected"] is None else "rejected: " + row["rejected"])
        rows.append(row)
    return rows, runners, ref_acc


def deploy(model: nn.Module, out_dir: str | os.PathLike, *, input_size: Optional[Sequence[int]] = None,
           batch: int = 1, data=None, calibration_data=None, max_drop: Optional[float] = None,
           engines: Optional[Sequence[str]] = None, precisions: Optional[Sequence[str]] = None,
           threads: Optional[int] = None, runs: int = 24, rounds: int = 6, progress: bool = True,
           source: Optional[dict] = None) -> dict:
    """Build, check and time every engine × precision here; write the fastest that holds accuracy
    into ``out_dir`` (see the module docstring); return the report written as ``deploy.json``.

    ``data``: check data (see :func:`_as_pairs`); ``calibration_data``: int8 calibration inputs (no
    int8 candidate without it); ``max_drop``: points allowed for every precision (default
    :data:`MAX_DROP`); ``engines``/``precisions`` restrict the candidates. ``ValueError`` when
    ``out_dir`` exists and is not empty, or when no candidate holds."""
    from .onnx import example_input_for
    out = check_new_folder(out_dir, "out_dir")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    model = model.eval().cpu()
    setup = measurement_setup(threads)
    x = example_input_for(model, input_size, batch)
    pairs = _as_pairs(data, tuple(x.shape[1:]), batch)
    x = pairs[0][:batch] if len(pairs[0]) >= batch else x
    cands = [c for c in candidates("cpu", tuple(precisions) if precisions else None)
             if engines is None or c[0] in engines]
    rows, runners, ref_acc = _build_all(model, x, pairs, cands, calibration_data, threads, max_drop, progress)
    if not runners:
        raise ValueError("no engine x precision holds accuracy here: " +
                         "; ".join(f"{r['engine']} {r['precision']}: {r['rejected']}" for r in rows))
    stats = stable_times({k: r.bind(x) for k, r in runners.items()}, runs=runs, rounds=rounds)
    for row in rows:
        s = stats.get(f"{row['engine']} {row['precision']}")
        if s is not None:
            row.update(images_per_s=batch / s["median_s"], images_per_s_q1=batch / s["q3_s"],
                       images_per_s_q3=batch / s["q1_s"], stable=s["stable"], outliers=s["outliers"])
    report = dict(**(source or {}), input_size=list(x.shape[1:]), batch=batch, checked_on=pairs[2],
                  check_samples=len(pairs[0]) if pairs[1] is not None else None,
                  fp32_accuracy=ref_acc, cpu=cpu_model_name(), timing=setup, candidates=rows)
    _write(out, runners, report, x)
    return report


def _reloads_equal(runner, files: dict, best: dict, tmp: Path, x: torch.Tensor) -> None:
    """Reload what was written and compare it with the runner that was checked (same engine, same
    arithmetic: within 1e-3 of the output scale); ``RuntimeError`` when the file computes otherwise."""
    from ._common import relative_error
    from .artifact import load_deployed
    write_json(tmp / DEPLOY_JSON, {"chosen": dict(engine=best["engine"], precision=best["precision"], **files),
                                   "input_size": list(x.shape[1:])})
    with torch.inference_mode():
        ref, out = torch.as_tensor(runner(x)).float(), torch.as_tensor(load_deployed(tmp)(x)).float()
    err = relative_error(out, ref)
    if not err <= 1e-3:
        raise RuntimeError(f"the saved artifact reloads with outputs {err:.1e} of the scale away from the "
                           f"checked runner")


def _save_fastest(runners: dict, rows: list, tmp: Path, x: torch.Tensor) -> dict:
    """Save the fastest candidate that holds, reload it and compare (:func:`_reloads_equal`); one
    that cannot be written or reloads otherwise is marked rejected with the reason and the next one
    is tried. Returns the ``chosen`` entry."""
    for best in sorted((r for r in rows if r["rejected"] is None), key=lambda r: -r["images_per_s"]):
        runner = runners[f"{best['engine']} {best['precision']}"]
        try:
            files = runner.save(tmp)
            _reloads_equal(runner, files, best, tmp, x)
        except Exception as e:           # an exporter's own error: this candidate has no artifact
            best["rejected"] = "cannot save: " + (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            for f in tmp.iterdir():
                shutil.rmtree(f) if f.is_dir() else f.unlink()
            continue
        return dict(engine=best["engine"], precision=best["precision"], images_per_s=best["images_per_s"], **files)
    raise ValueError("no candidate that holds accuracy could be saved: " +
                     "; ".join(f"{r['engine']} {r['precision']}: {r['rejected']}" for r in rows))


def _write(out: Path, runners: dict, report: dict, x: torch.Tensor) -> None:
    """Artifact + deploy.json into a new folder (:func:`convzoo.runs.new_folder`: complete, or none)."""
    with new_folder(out, "out_dir") as tmp:
        report["chosen"] = _save_fastest(runners, report["candidates"], tmp, x)
        write_json(tmp / DEPLOY_JSON, report)


__all__ = ["deploy", "MAX_DROP"]
