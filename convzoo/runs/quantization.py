"""A trained classifier quantized to int8 with its report: ``convzoo quantize``'s work as a library call.

    run folder (or a model name + weights + dataset)
      --the train split's first ``calibration`` samples--> convzoo.export.quantize (NNCF or PT2E) --> int8
      --the test split, on fp32 (PyTorch), bf16 (PyTorch), the int8 engine at its default precision, int8-->
         top-1, agreement with fp32, images/s at ``bench_batch``
      --new_folder--> OUT/model.xml + model.bin (NNCF's int8 IR) or OUT/model.pt2 (PT2E's AOTInductor
                      package), quantize.json, OUT/report.json

With ``qat_epochs``, the int8 column is quantization-aware trained (:func:`convzoo.export.qat.qat`, PT2E)
on the train split from the fp32 weights, and the post-training int8 graph is kept beside it as ``int8 ptq``
(run on PyTorch's reference int8 ops: accuracy and agreement, no images/s): the report then says what
training bought (``ptq_accuracy_drop_points`` vs ``accuracy_drop_points``).

The IR's quantize.json records the data spec, so ``convzoo eval OUT`` and ``bench OUT`` need no flags.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

from .data import DataSpec
from .manifest import QUANTIZE_JSON, read_json
from .run import build_run_model, load_run
from .source import open_source
from .write import check_new_folder, new_folder


def quantize_run(source: Union[str, Path], out: Union[str, Path], *, weights: Optional[str] = None,
                 dataset: Optional[str] = None, data_root: Optional[str] = None, image_size: Optional[int] = None,
                 backend: Optional[str] = None, model_type: str = "auto", preset: str = "performance",
                 ignore: Optional[Sequence[str]] = None, overflow_fix: bool = False, calibration: int = 300,
                 bench_batch: int = 8, runs: int = 20, threads: Optional[int] = None, qat_epochs: int = 0,
                 qat_lr: float = 1e-4, seed: int = 0) -> dict[str, Any]:
    """Quantize the classifier in ``source`` (a run folder, or a model name with ``weights`` and
    ``dataset``) to int8 calibrated on its train split, measure it against fp32, bf16 and the int8
    engine's default precision on the test split, and write ``out``; returns the report written there
    (``results`` per column: accuracy, agreement with fp32, images/s; ``accuracy_drop_points``).

        >>> rep = quantize_run("runs/probe", "int8/probe")
        >>> rep["results"]["int8"]["accuracy"], rep["accuracy_drop_points"]
    """
    import torch

    from convzoo.export import quantize
    from convzoo.export.quantize import NNCF_BACKEND
    from convzoo.io import write_json
    from convzoo.train.batches import prepared_batches
    if threads is not None:
        torch.set_num_threads(threads)
    check_new_folder(out)                        # refused before anything is computed
    if qat_epochs and backend not in (None, "pt2e"):
        raise ValueError(f"quantization-aware training (--qat-epochs) trains PT2E's fake-quantized graph; "
                         f"--backend {backend} is post-training only (use --backend pt2e or leave it out)")
    backend = backend or ("pt2e" if qat_epochs else NNCF_BACKEND)
    model, train, test, size, desc = _classifier(source, weights, dataset, data_root, image_size)
    calib = [x for x, _ in prepared_batches(train, size, calibration)]
    ptq = None
    if qat_epochs:
        import sys

        from convzoo.export.qat import qat
        from convzoo.export.quantize import pt2e_graph
        # the post-training column is PT2E's int8 graph on PyTorch's reference int8 ops, accuracy only: its
        # AOTInductor package would be compiled and checked only to be dropped (on a fine-tuned Lite0 that
        # check refused it, 8e-2 of the output scale, and stopped the QAT run); its speed is the plain run's
        ptq = pt2e_graph(model, calib)
        torch.manual_seed(seed)
        q = qat(model, list(prepared_batches(train, size)), epochs=qat_epochs, lr=qat_lr, seed=seed,
                batch=bench_batch,
                progress=lambda e, loss: print(f"qat: epoch {e}/{qat_epochs}  train_loss {loss:.4f}", file=sys.stderr))
    else:
        # PT2E's package compiled for the batch its speed is reported at (any other batch is padded or split)
        q = quantize(model, calib, backend=backend, model_type=model_type, preset=preset, ignored_scope=ignore,
                     subset_size=calibration, threads=threads, overflow_fix=overflow_fix,
                     batch=bench_batch if backend == "pt2e" else None)
    test_batches = list(prepared_batches(test, size))
    rows = _columns(model, q, test_batches, bench_batch, runs, threads, ptq)
    labels = torch.cat([y for _, y in test_batches])
    report = dict(**desc, backend=backend, int8_ir=q.saveable, test_samples=len(labels), image_size=size,
                  bench_batch=min(bench_batch, len(labels)), threads=threads or torch.get_num_threads(),
                  int8=q.info, results=rows,
                  accuracy_drop_points=100 * (rows["fp32"]["accuracy"] - rows["int8"]["accuracy"]))
    if qat_epochs:
        report.update(qat=dict(epochs=qat_epochs, lr=qat_lr, seed=seed),
                      ptq_accuracy_drop_points=100 * (rows["fp32"]["accuracy"] - rows["int8 ptq"]["accuracy"]))
    with new_folder(out) as tmp:
        if q.saveable:
            report["int8_file"] = q.save(tmp)["file"]       # model.xml (NNCF's IR) or model.pt2 (PT2E's package)
            write_json(tmp / QUANTIZE_JSON, {**read_json(tmp / QUANTIZE_JSON), **desc, "image_size": size})
        write_json(tmp / "report.json", report)
    return report


def _classifier(source, weights, dataset, data_root, image_size):
    """(model, train split, test split, image size, description) for a run folder or a model name with
    ``weights`` and ``dataset``; the description records the data spec."""
    from convzoo.train import check_fits, load_weights
    src = open_source(source)
    if src.kind == "run":
        run = load_run(src.path, weights=weights)
        if run.task != "classification":
            raise ValueError(f"quantize reports top-1 of classifiers; {source} is a {run.task} run "
                             f"(export it with convzoo export --onnx/--openvino)")
        data = run.data.replace(dataset=dataset, root=data_root, image_size=image_size)
        model, name, weights = run.model, src.model_name, weights or str(src.path / "model.safetensors")
        train, test = data.build(("train", "test"))
    elif src.kind == "model":
        if not (weights and dataset):
            raise ValueError("give a RUN folder, or a model name with --weights and --dataset")
        data = DataSpec(dataset, data_root, {}, image_size)
        train, test = data.build(("train", "test"))
        name = str(source)
        model = build_run_model(name, test, {})
        load_weights(model, weights)
    else:
        raise ValueError(f"quantize takes a run folder or a model name; {src.describe()} is already an artifact")
    check_fits(model, test, data.dataset)
    return model.eval(), train, test, data.image_size, dict(model=name, dataset=data.dataset, weights=str(weights),
                                                            data=data.to_dict())


def _columns(model, q, test_batches, bench_batch: int, runs: int, threads, ptq=None) -> dict[str, dict]:
    """Each column's top-1, agreement with fp32 and images/s. The columns are registry look-ups: the
    reference engine (eager) in bf16, and the engine that runs NNCF's int8 (OpenVINO) at its default
    precision on this CPU."""
    import torch

    from convzoo.analysis.timing import median_ms
    from convzoo.export.engines import by_role
    from convzoo.export.openvino import default_precision
    labels = torch.cat([y for _, y in test_batches])
    x1 = test_batches[0][0][:1]
    ref, ov = by_role("reference"), by_role("quantize")
    engines = {"fp32": model, "bf16": ref.build(model, x1, "bf16"),
               ov.name: ov.build(model, x1, default_precision(), threads=threads),
               **({"int8 ptq": ptq} if ptq is not None else {}), "int8": q}
    with torch.inference_mode():
        preds = {k: torch.cat([fn(x).float().argmax(1) for x, _ in test_batches]) for k, fn in engines.items()}
    xb = torch.cat([x for x, _ in test_batches])[:bench_batch]
    rows = {}
    for k, fn in engines.items():
        speed = None
        if k != "int8 ptq":             # reference int8 ops: their time says nothing of an int8 engine
            with torch.inference_mode():
                speed = len(xb) / median_ms(lambda: fn(xb), warmup=3, runs=runs) * 1e3
        rows[k] = dict(accuracy=(preds[k] == labels).float().mean().item(),
                       agreement=(preds[k] == preds["fp32"]).float().mean().item(), images_per_s=speed)
    return rows
