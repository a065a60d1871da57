"""A source timed: ``convzoo bench``'s work as a library call.

    source (name, run, deploy / quantize / IR folder, .onnx / .pte / .tflite)
      --load_source--> a model (run on the engine asked, fp32 unless told)
                       or an artifact's runner (its own engine and precision; its recorded batch and,
                       for a deploy folder, the threads deploy timed it with)
      --example input of its size--> convzoo.export.benchmark (one engine) or benchmark_all ("all")
      --> the dictionary ``convzoo bench --json`` prints

An engine option given for an artifact (engine, precision, channels_last, fold_bn, amp) is refused:
the file decides how it runs, and a flag that changed nothing would be a silent lie. Errors name the
options by their ``convzoo bench`` flags, as :func:`~convzoo.runs.load_source`'s do.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence


def bench(source, *, engine: Optional[str] = None, precision: Optional[str] = None, batch: Optional[int] = None,
          input_size: Optional[Sequence[int]] = None, threads: Optional[int] = None, device: str = "cpu",
          warmup: int = 5, runs: int = 20, channels_last: Optional[bool] = None, fold_bn: Optional[bool] = None,
          amp: Optional[bool] = None, weights: Optional[str] = None, num_classes: Optional[int] = None,
          in_chans: Optional[int] = None) -> dict[str, Any]:
    """Latency, throughput and memory of ``source`` (see the module docstring). ``engine="all"``
    measures every engine that applies and names the fastest (``{"engines": [...], "fastest": ...}``).
    ``threads`` sets PyTorch's intra-op threads for the call (and the engine's own pool)."""
    import torch

    from convzoo.export.engines import DEFAULT, get_engine
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device} requested but CUDA is not available")
    chosen = None if engine in (None, "all") else get_engine(engine)
    if device.startswith("cuda") and chosen is not None and "cuda" not in chosen.devices:
        raise ValueError(f"--engine {engine} runs on the CPU ({chosen.summary}); use --device cpu")
    loaded, model, shape, threads, batch = _open(source, engine, precision, batch, input_size, threads, channels_last,
                                                 fold_bn, amp, weights, num_classes, in_chans)
    if loaded.source.is_artifact:
        engine, precision = loaded.engine, loaded.precision
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _measure(source, loaded, model.to(device), shape, engine or DEFAULT, precision or "fp32", batch,
                        device, warmup, runs, bool(channels_last), bool(fold_bn), bool(amp), threads)
    finally:
        torch.set_num_threads(before)


def _open(source, engine, precision, batch, input_size, threads, channels_last, fold_bn, amp, weights,
          num_classes, in_chans):
    """(loaded, model to time, input size, threads, batch): an artifact at its producer's batch and threads."""
    from .source import open_source
    from .use import check_feeds, load_source
    src = open_source(source)
    if src.kind == "deploy" and threads is None:          # timed as deploy timed it
        threads = (src.manifest.get("timing") or {}).get("threads")
    loaded = load_source(src, weights=weights, num_classes=num_classes, in_chans=in_chans, threads=threads)
    size = tuple(input_size) if input_size else None
    if not loaded.source.is_artifact:
        model = loaded.model
        model = model.logits_only() if getattr(model, "task", "") == "segmentation" else model
        return loaded, model, size or loaded.input_size, threads, batch or 1
    given = [flag for flag, value in (("--engine", engine), ("--precision", precision),
                                      ("--channels-last", channels_last), ("--fold-bn", fold_bn), ("--amp", amp))
             if value not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)} do(es) not apply to {loaded.source.describe()}: it runs on its own "
                         f"engine ({loaded.engine} {loaded.precision})")
    check_feeds(loaded, size, "--input-size")
    shape = size or loaded.input_size
    if shape is None:
        raise ValueError(f"{source} does not fix its input size; pass --input-size")
    loaded.model.default_cfg = {"input_size": tuple(shape)}
    return loaded, loaded.model, shape, threads, batch or loaded.record.get("batch") or 1


def _measure(source, loaded, model, shape, engine, precision, batch, device, warmup, runs, channels_last, fold_bn,
             amp, threads) -> dict[str, Any]:
    import torch

    from convzoo.analysis.memory import forward_activation_memory
    from convzoo.analysis.timing import measurement_setup
    from convzoo.export import benchmark, benchmark_all
    from convzoo.export.engines import get_engine
    from convzoo.export.onnx import example_input_for
    x = example_input_for(model, shape, batch).to(device)
    model.check_input(x) if hasattr(model, "check_input") else None
    where = dict(model=str(source), device=device)
    if engine == "all":
        rows = benchmark_all(model, x, device="cuda" if device.startswith("cuda") else "cpu", warmup=warmup,
                             runs=runs, amp=amp, threads=threads, precision=precision)
        done = [r for r in rows if "error" not in r]
        best = max(done, key=lambda r: r["throughput"]) if done else None
        return dict(where, precision=precision, batch=batch, input_size=list(x.shape[1:]), **measurement_setup(),
                    fastest=best and best["engine"], engines=rows)
    res = benchmark(model, x, engine, warmup=warmup, runs=runs, channels_last=channels_last, fold_bn=fold_bn,
                    amp=amp, ort_threads=threads or torch.get_num_threads(), precision=precision)
    # activations are PyTorch's allocations: an engine's own runtime allocates outside them
    act = None if loaded.source.is_artifact else forward_activation_memory(model, x)
    info = dict(where, **measurement_setup(), channels_last=channels_last,
                fold_bn=fold_bn or get_engine(engine).folds_bn, amp=amp, **res.as_dict(),
                activation_peak_bytes=act and act.peak_bytes, activation_total_bytes=act and act.total_bytes,
                load_avg_1min=load_average())
    if loaded.record.get("images_per_s"):
        info["recorded"] = {k: loaded.record.get(k) for k in ("by", "images_per_s", "batch", "threads")}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def load_average() -> Optional[float]:
    """The machine's load average over the last minute (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


__all__ = ["bench", "load_average"]
