"""A source exported: ``convzoo export``'s work as a library call.

    source (a model name, a model folder or a run folder)
      --load_source--> the model (a segmenter's logits), a run's record (model, data spec) and test images
      --each format asked for--> ONNX (convzoo.export.to_onnx), an OpenVINO IR, an ExecuTorch .pte or a
                                 LiteRT .tflite (fp32, or int8 calibrated on a run's or a dataset's
                                 train split), the record stored inside the file
      --checked in its own runtime against eager--> a run's test images (bound from fp32's own error,
                                 same top-1; int8: top-1 agreement), else the int8 calibration
                                 inputs, else random inputs (within 1e-4)
      --> one dictionary per file: what was written and how it was checked

A file that fails its check is renamed ``PATH.failed-check`` and :class:`ExportCheckError` says so, so
nothing unchecked is left under the name asked for; a path that exists is never written over.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

# the files export writes, by their kind (as open_source names them): an .onnx file, an OpenVINO IR
# folder, an ExecuTorch program, a LiteRT model; convzoo export's flag for each
FORMATS = ("onnx", "ir", "pte", "tflite")
FLAG = {"onnx": "--onnx", "ir": "--openvino", "pte": "--executorch", "tflite": "--litert"}
_EDGE = ("pte", "tflite")
_HINT = "verify=False (convzoo export --no-verify) skips this check"


class ExportCheckError(ValueError):
    """A written file failed its check in its runtime (set aside as ``PATH.failed-check``): exit code 1."""
    exit_code = 1


def export_source(source, files: dict[str, Any], *, precision: str = "fp32",
                  input_size: Optional[Sequence[int]] = None, static_batch: Optional[int] = None, opset: int = 17,
                  fold_bn: bool = True, verify: bool = True, calibration_data: Optional[str] = None,
                  data_root: Optional[str] = None, weights: Optional[str] = None, num_classes: Optional[int] = None,
                  in_chans: Optional[int] = None, allow_new_head: bool = False,
                  on_file: Optional[Callable[[dict], None]] = None) -> list[dict[str, Any]]:
    """Write ``files`` (``{"onnx": path, "ir": dir, "pte": path, "tflite": path}``, any of them: an
    ``.onnx`` file, an OpenVINO IR folder, an ExecuTorch program, a LiteRT model) from ``source`` (see the module docstring); ``precision`` (fp32 / int8) applies to the edge
    formats. ``on_file(row)`` is called as each file is done (long int8 exports: progress). Returns
    the rows: ``format``, ``path``, ``input``, ``precision``, and how it was checked (``checked_on``,
    ``max_abs_diff`` and ``bound``, or ``top1_agreement``)."""
    files = {k: v for k, v in files.items() if v}
    _check_request(files, precision, calibration_data)
    size = tuple(input_size) if input_size else None
    loaded = _load(source, weights, num_classes, in_chans, allow_new_head)
    if loaded.source.is_artifact:
        raise ValueError(f"export takes a model name, a model folder or a run folder; {loaded.source.describe()} "
                         f"is already an artifact")
    model = loaded.model
    if getattr(model, "task", "") == "segmentation":   # the graph returns the logits, not {"out": ...}
        model = model.logits_only()
    images, record = _run_images(loaded, size), _record(loaded, size)
    # the int8 calibration inputs, built once for both edge formats
    calib = _calibration(precision, calibration_data, data_root, loaded, size) if set(_EDGE) & files.keys() else None
    rows = []
    for fmt in (*_EDGE, "ir", "onnx"):
        if fmt not in files:
            continue
        if fmt in _EDGE:
            row = _edge(fmt, model, files[fmt], size, precision, calib, static_batch or 1, images, record, verify)
        elif fmt == "ir":
            row = _openvino(model, files[fmt], size, fold_bn, images, record, verify)
        else:
            row = _onnx(model, files[fmt], size, static_batch, opset, fold_bn, images, record, verify)
        rows.append(row)
        if on_file is not None:
            on_file(row)
    return rows


def _load(source, weights, num_classes, in_chans, allow_new_head):
    """:func:`load_source`; a checkpoint whose classifier has another width is one line naming the two
    ways out (the head's width, or a fresh head)."""
    from convzoo.weights import WeightsMismatchError
    from .use import load_source
    try:
        return load_source(source, weights=weights, num_classes=num_classes, in_chans=in_chans,
                           allow_new_head=allow_new_head)
    except WeightsMismatchError as e:
        first = str(e).splitlines()[0]
        if "classifier" not in first:
            raise
        raise WeightsMismatchError(f"{first.split(' (build')[0]}; pass --num-classes to match it, or "
                                   f"--allow-new-head to export an untrained classifier") from None


def _check_request(files: dict, precision: str, calibration_data) -> None:
    from .write import check_new_folder
    unknown = sorted(set(files) - set(FORMATS))
    if unknown or not files:
        raise ValueError(f"export writes {', '.join(FORMATS)}; got {', '.join(unknown) or 'none'}"
                         " (convzoo export: give --onnx PATH, --openvino DIR, --executorch PATH and/or --litert PATH)")
    if precision not in ("fp32", "int8"):
        raise ValueError(f"--precision is fp32 or int8, got {precision!r}")
    if precision != "fp32" and not (set(_EDGE) & files.keys()):
        raise ValueError(f"--precision {precision} applies to --executorch and --litert; --onnx and --openvino "
                         f"write fp32")
    if calibration_data and precision != "int8":
        raise ValueError("--calibration-data applies to --precision int8")
    for fmt in ("onnx", *_EDGE):
        if fmt in files and Path(files[fmt]).exists():    # a file this call did not write is never replaced
            raise ValueError(f"{FLAG[fmt]} {files[fmt]} already exists; convzoo does not write over it (remove it or "
                             f"choose another path)")
    if "ir" in files:
        check_new_folder(files["ir"], FLAG["ir"])


def _record(loaded, size) -> dict:
    """What the artifact remembers of its source: the model and, for a run at its own input size, the
    data spec (so eval/predict/bench of the file need no data flags)."""
    rec: dict = {"model": loaded.source.model_name or loaded.source.name, "source": loaded.source.name}
    if loaded.data is not None and (size is None or tuple(size) == tuple(loaded.data.model_input_size() or ())):
        rec["data"] = loaded.data.to_dict()
    return rec


def _run_images(loaded, size):
    """A run folder's first test images at the export's input size, or None (no run, no data, other size)."""
    from .run import run_test_inputs
    if loaded.source.kind != "run" or loaded.data is None:
        return None
    if size is not None and tuple(size) != tuple(loaded.data.model_input_size() or ()):
        return None
    return run_test_inputs(loaded.data)


def _calibration(precision, calibration_data, data_root, loaded, size):
    """int8 calibration inputs: ``calibration_data``'s train split, else a run's own; None for fp32."""
    from convzoo.train.batches import prepared_batches
    if precision != "int8":
        return None
    if calibration_data:
        from .data import build_data
        (train,) = build_data(calibration_data, data_root, splits=("train",))
        side = (size or (getattr(loaded.model, "default_cfg", None) or {}).get("input_size", (None,)))[-1]
    elif loaded.source.kind == "run" and loaded.data is not None:
        (train,) = loaded.data.build(("train",))
        side = loaded.data.image_size
    else:
        raise ValueError(f"--precision int8 calibrates on images: give a run folder (its train split) or "
                         f"--calibration-data DATASET; {loaded.source.describe()} has none")
    return [x for x, _ in prepared_batches(train, side, 300)]


def _checked_on(kind: str, n: int) -> str:
    return {"inputs": f"{n} of the run's test images", "calibration": f"{n} calibration inputs",
            "random": "random inputs"}[kind]


def _edge(fmt, model, path, size, precision, calib, batch, images, record, verify) -> dict:
    """An ExecuTorch / LiteRT file written unchecked, reloaded in its runtime and checked there."""
    from convzoo.export import load_pte, load_tflite, to_executorch, to_litert, verify_pte, verify_tflite
    from convzoo.export._common import set_aside
    from convzoo.export.edge_file import check_inputs
    to_file, load, check = {"pte": (to_executorch, load_pte, verify_pte),
                            "tflite": (to_litert, load_tflite, verify_tflite)}[fmt]
    path = to_file(model, path, input_size=size, precision=precision, calibration_data=calib, batch=batch,
                   verify=False, record=record)
    runner = load(path)
    row = dict(format=fmt, path=str(path), precision=precision, input=list(runner.input_shape),
               size_mb=os.path.getsize(path) / 1e6)
    if not verify:
        return row
    x, rtol, kind = check_inputs(model, size, calib, images)
    try:
        got = check(model, runner, x, rtol=rtol)
    except (RuntimeError, ValueError) as e:     # nothing left under the name asked for
        raise ExportCheckError(str(set_aside(path, e, _HINT))) from None
    row["checked_on"] = _checked_on(kind, len(x))
    row["top1_agreement" if precision == "int8" else "max_abs_diff"] = got
    return row


def _onnx(model, path, size, static_batch, opset, fold_bn, images, record, verify) -> dict:
    """The .onnx file (dynamic batch unless ``static_batch``), checked with ONNX Runtime."""
    from convzoo.export import to_onnx, verify_onnx
    from convzoo.export._common import set_aside
    from convzoo.export.onnx import example_input_for
    path = to_onnx(model, path, input_size=size, dynamic_batch=static_batch is None, batch=static_batch or 1,
                   opset=opset, fold_bn=fold_bn, metadata={"convzoo": json.dumps(record)} if record else None)
    x = example_input_for(model, size, static_batch or 2)
    row = dict(format="onnx", path=str(path), precision="fp32", input=list(x.shape[1:]), opset=opset,
               static_batch=static_batch)
    if not verify:
        return row
    try:
        # a run's own test images, with the bound derived from fp32's error on this net; random
        # inputs and the fixed 1e-4 otherwise
        row["max_abs_diff"] = verify_onnx(model, path, x, inputs=images, rtol=None if images is not None else 1e-4)
    except (RuntimeError, ValueError) as e:
        raise ExportCheckError(str(set_aside(path, e, _HINT))) from None
    row["checked_on"] = _checked_on("inputs" if images is not None else "random", len(images if images is not None else x))
    return row


def _openvino(model, out_dir, size, fold_bn, images, record, verify) -> dict:
    """IR files via openvino.convert_model, then OpenVINO (f32 execution) against eager PyTorch as the
    edge files are checked (:func:`convzoo.export.edge_file.check_against_eager`): on a run's test images
    with the bound from fp32's own error and the same top-1, else on random inputs within 1e-4."""
    from convzoo.export.edge_file import check_against_eager
    from convzoo.export.onnx import example_input_for, fp32_error_bound
    from convzoo.export.openvino import OpenVINOModule, load_openvino, to_openvino
    from convzoo.io import write_json
    from .manifest import EXPORT_JSON
    path = to_openvino(model, out_dir, input_size=size, fold_bn=fold_bn)
    if record:
        write_json(path.parent / EXPORT_JSON, record)
    x = images if images is not None else example_input_for(model, size, 2)
    row = dict(format="ir", path=str(path), precision="fp32", input=list(x.shape[1:]))
    if not verify:
        return row
    bound = fp32_error_bound(model, x) if images is not None else 1e-4
    try:
        program = OpenVINOModule(load_openvino(path), precision="fp32")
        err = check_against_eager(model, program, x, "OpenVINO IR", rtol=bound)
    except RuntimeError as e:
        for name in ("model.xml", "model.bin"):          # nothing left under the names asked for
            (path.parent / name).replace(path.parent / f"{name}.failed-check")
        raise ExportCheckError(f"{e}; the IR is kept as {path.parent}/model.xml.failed-check; {_HINT}") from None
    row.update(checked_on=_checked_on("inputs" if images is not None else "random", len(x)), max_abs_diff=err,
               bound=bound)
    return row


__all__ = ["export_source", "ExportCheckError", "FORMATS", "FLAG"]
