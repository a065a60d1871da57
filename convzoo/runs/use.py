"""Any source made runnable: the model or runner, how its inputs are made and what its producer measured.

    open_source(x) --> model name / model folder --> create_model [+ weights]       engine eager, fp32
                   --> run folder               --> load_run                        engine eager, fp32
                   --> deploy folder            --> load_deployed  (deploy's choice, its engine and precision)
                   --> quantize folder          --> load_quantized (OpenVINO int8)
                   --> IR / .onnx / .pte / .tflite --> load_ir / load_onnx / load_pte / load_tflite
                                                    (the precision the file runs)

Flags that do not apply to a source (weights or a head width for an artifact, a head width for a run)
are refused in one line, never ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from torch import nn

from .data import DataSpec
from .manifest import read_report
from .source import Source, open_source


def _reference_engine() -> str:
    """The engine a plain PyTorch model runs on: the registry's reference (eager)."""
    from convzoo.export.engines import DEFAULT
    return DEFAULT


@dataclass
class Loaded:
    """A source ready to run. ``model``: a module (eager) or an engine's runner; ``data``: the
    :class:`DataSpec` its producer recorded (None: a bare model or file); ``record``: what the producer
    measured (``by``, ``accuracy`` as a fraction, ``samples``, ``images_per_s``, ``batch``, ``threads``);
    ``fixed_input``: the (C, *S) an artifact's file fixes, else None."""
    source: Source
    model: nn.Module
    data: Optional[DataSpec] = None
    engine: str = field(default_factory=_reference_engine)
    precision: str = "fp32"
    record: dict[str, Any] = field(default_factory=dict)
    fixed_input: Optional[tuple] = None

    @property
    def input_size(self) -> Optional[tuple]:
        """The (C, *S) to feed: the file's fixed input, else the recorded data's, else the model's default."""
        if self.fixed_input:
            return self.fixed_input
        if self.data is not None and self.data.model_input_size():
            return self.data.model_input_size()
        size = (getattr(self.model, "default_cfg", None) or {}).get("input_size")
        return tuple(size) if size else None


def check_feeds(loaded: Loaded, shape, what: str) -> None:
    """``ValueError`` in one line, before anything runs, when inputs of ``shape`` (C, *S) -- given by
    ``what`` -- do not fit the input an artifact's file fixes."""
    if shape is None or loaded.fixed_input is None:
        return
    want, got = tuple(loaded.fixed_input), tuple(int(s) for s in shape)
    if want != got:
        raise ValueError(f"{loaded.source.name} fixes its input to {'x'.join(map(str, want))}; {what} gives "
                         f"{'x'.join(map(str, got))}")


def _refuse(src: Source, given: dict[str, Any], why: str) -> None:
    flags = [flag for flag, value in given.items() if value not in (None, False)]
    if flags:
        raise ValueError(f"{', '.join(flags)} {'does' if len(flags) == 1 else 'do'} not apply to {src.describe()}: "
                         f"{why}")


def _run_record(report: Optional[dict]) -> dict[str, Any]:
    if not report or report.get("accuracy") is None:
        return {}
    return {"by": "train", "accuracy": report["accuracy"], "samples": report.get("test_samples")}


def _deploy_record(info: dict) -> dict[str, Any]:
    chosen = info.get("chosen") or {}
    row = next((r for r in info.get("candidates") or ()
                if (r.get("engine"), r.get("precision")) == (chosen.get("engine"), chosen.get("precision"))), {})
    rec = {"by": "deploy", "images_per_s": chosen.get("images_per_s"), "batch": info.get("batch"),
           "threads": (info.get("timing") or {}).get("threads")}
    if row.get("accuracy") is not None and info.get("check_samples"):   # labelled check data, in percent
        rec.update(accuracy=row["accuracy"] / 100, samples=info["check_samples"])
    return rec


def _quantize_record(report: Optional[dict]) -> dict[str, Any]:
    int8 = ((report or {}).get("results") or {}).get("int8")
    if not int8:
        return {}
    return {"by": "quantize", "accuracy": int8.get("accuracy"), "samples": report.get("test_samples"),
            "images_per_s": int8.get("images_per_s"), "batch": report.get("bench_batch"),
            "threads": report.get("threads")}


def _model(src: Source, weights, num_classes, in_chans, allow_new_head, model_kwargs) -> nn.Module:
    import convzoo
    kw = {k: v for k, v in (("num_classes", num_classes), ("in_chans", in_chans)) if v is not None}
    model = convzoo.create_model(src.name, **{**(model_kwargs or {}), **kw})
    if weights:
        # our own files and timm/torchvision layouts, strict, one error listing every differing key; a
        # classifier of another width is an error unless allow_new_head (then reset, with a warning)
        convzoo.load_weights(model, weights, allow_new_head=allow_new_head)
    return model.eval()


def load_source(source: Union[str, os.PathLike, Source], *, weights: Optional[str] = None,
                num_classes: Optional[int] = None, in_chans: Optional[int] = None, allow_new_head: bool = False,
                threads: Optional[int] = None, model_kwargs: Optional[dict] = None) -> Loaded:
    """``source`` (a name, a path or a :class:`Source`) as a :class:`Loaded` (see the module docstring)."""
    src = open_source(source)
    width = {"--num-classes": num_classes, "--in-chans": in_chans}
    if src.kind in ("model", "hub"):
        model = _model(src, weights, num_classes, in_chans, allow_new_head, model_kwargs)
        return Loaded(src, model)
    if src.kind == "run":
        _refuse(src, {**width, "--model-arg": model_kwargs}, "its classes, channels and options are its own")
        from .run import load_run
        run = load_run(src.path, weights=weights)
        return Loaded(src, run.model, run.data, record=_run_record(run.report) if not weights else {})
    _refuse(src, {"--weights": weights, **width, "--model-arg": model_kwargs}, "an artifact holds its own weights")
    return _artifact(src, threads)


def _artifact(src: Source, threads: Optional[int]) -> Loaded:
    from convzoo.export.artifact import load_deployed, load_ir, load_onnx, load_pte, load_tflite
    data = src.data
    if src.kind == "deploy":
        runner = load_deployed(src.path, threads=threads)
        chosen = src.manifest["chosen"]
        return Loaded(src, runner, data, chosen["engine"], chosen["precision"], _deploy_record(src.manifest),
                      tuple(runner.default_cfg["input_size"]))
    if src.kind == "quantize":
        from convzoo.export.quantize import load_quantized
        q = load_quantized(src.path, threads=threads)
        return Loaded(src, q, data, q.engine, q.precision, _quantize_record(read_report(src.path)),
                      _fixed(q.runner))
    if src.kind == "pte":
        runner = load_pte(src.path)
    elif src.kind == "tflite":
        runner = load_tflite(src.path, threads=threads)
    else:
        runner = load_onnx(src.path, threads=threads) if src.kind == "onnx" else load_ir(src.path, threads=threads)
    return Loaded(src, runner, data, runner.engine, runner.precision, {}, _fixed(runner))


def _fixed(runner) -> Optional[tuple]:
    size = (getattr(runner, "default_cfg", None) or {}).get("input_size")
    return tuple(size) if size else None


__all__ = ["Loaded", "load_source", "check_feeds"]
