"""``convzoo.evaluate``: any run, artifact or weights file on a test split, checked against what its
producer recorded.

    source --load_source--> model or runner, DataSpec (recorded; flags override) --build--> test split
           --check_feeds--> (refused before running if an artifact's fixed input does not fit)
           --train.evaluate--> accuracy, loss [, mIoU] --vs the producer's record--> agrees_with_report
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

from .data import DataSpec
from .source import Source, open_source
from .use import check_feeds, load_source


def _test_split(data: DataSpec, limit: Optional[int]):
    from convzoo.train import first_n
    (test_set,) = data.build(("test",))
    return first_n(test_set, limit) if limit else test_set


def _agreement(res: dict, record: dict) -> dict[str, Any]:
    """``agrees_with_report``: the same number of samples and the same count right (to the sample)."""
    if record.get("accuracy") is None:
        return {}
    n, want = res["samples"], record["accuracy"]
    out = {"report_by": record["by"], "report_accuracy": want}
    same_n = record.get("samples") in (None, n)
    if not same_n:
        out["report_samples"] = record["samples"]
    out["agrees_with_report"] = bool(same_n and round(n * res["accuracy"]) == round(n * want))
    return out


def evaluate(source: Union[str, os.PathLike, Source], *, dataset: Optional[str] = None,
             data_root: Optional[str] = None, data_kwargs: Optional[dict] = None, image_size: Optional[int] = None,
             weights: Optional[str] = None, model_kwargs: Optional[dict] = None, batch_size: int = 256,
             device: str = "auto") -> dict[str, Any]:
    """Evaluate ``source`` on the test split its producer recorded (``dataset``, ``data_root``,
    ``data_kwargs``, ``image_size`` override it). A model name needs ``weights`` and ``dataset``.

    Returns JSON-ready ``{"source": kind, "model", "engine", "precision", "dataset", "accuracy", "loss",
    "samples"[, "miou", "iou", "class_names"]}``, plus ``report_by``, ``report_accuracy`` and
    ``agrees_with_report`` when the producer recorded an accuracy on the same data (a run's report.json,
    deploy's chosen candidate, quantize's int8 row).
    """
    import torch

    from convzoo.train import check_fits
    from convzoo.train import evaluate as run_eval
    from convzoo.train.batches import sample_input_size
    from convzoo.train.distributed import resolve_device
    src = open_source(source)
    if src.kind in ("model", "hub"):
        return _evaluate_model(src, dataset, data_root, data_kwargs, image_size, weights, model_kwargs,
                               batch_size, device)
    loaded = load_source(src, weights=weights, model_kwargs=model_kwargs)
    if loaded.data is None and dataset is None:
        raise ValueError(f"{src.describe()} records no data (exported from a bare model name): pass --dataset")
    recorded = loaded.data or DataSpec(dataset)          # type: ignore[arg-type]
    data = recorded.replace(dataset=dataset, root=data_root, kwargs=data_kwargs, image_size=image_size)
    same = data == recorded and weights is None
    limit = (src.manifest.get("train") or {}).get("limit_test") if src.kind == "run" and same else None
    test_set = _test_split(data, limit)
    check_feeds(loaded, sample_input_size(test_set, data.image_size), "the data")
    model = loaded.model
    if src.is_artifact:
        dev = torch.device("cpu")
    else:
        check_fits(model, test_set, data.dataset)
        dev = resolve_device(device)
        model.to(dev)
    res = run_eval(model, test_set, batch_size=batch_size, image_size=data.image_size, device=dev)
    out = {"source": src.kind, "model": src.model_name, "engine": loaded.engine, "precision": loaded.precision,
           "dataset": data.dataset, **res}
    if "iou" in res:
        out["class_names"] = [str(c) for c in getattr(test_set, "classes", None) or data.class_names or []] or None
    if weights:
        out["weights"] = str(weights)
    return {**out, **(_agreement(res, loaded.record) if same else {})}


def _evaluate_model(src: Source, dataset, data_root, data_kwargs, image_size, weights, model_kwargs,
                    batch_size, device) -> dict[str, Any]:
    """A model name (or model folder) with a weights file, on ``dataset``'s test split."""
    from convzoo.train import check_fits
    from convzoo.train import evaluate as run_eval
    from convzoo.train.distributed import resolve_device
    from convzoo.weights import load_weights

    from .run import build_run_model
    if not dataset or (src.kind == "model" and not weights):
        raise ValueError(f"{src.describe()}: evaluating a model needs --weights and --dataset (or give a run folder "
                         f"or an artifact)")
    data = DataSpec(dataset, data_root, dict(data_kwargs or {}), image_size)
    (test_set,) = data.build(("test",))
    if src.kind == "hub":
        model = load_source(src, weights=weights, model_kwargs=model_kwargs).model
    else:
        if weights and not os.path.isfile(weights):
            raise FileNotFoundError(f"weights file not found: {weights}")
        model = build_run_model(src.name, test_set, model_kwargs)
        check_fits(model, test_set, dataset)
        load_weights(model, weights, allow_new_head=False)
    check_fits(model, test_set, dataset)
    dev = resolve_device(device)
    res = run_eval(model.to(dev), test_set, batch_size=batch_size, image_size=image_size, device=dev)
    from convzoo.export.engines import DEFAULT
    out = {"source": src.kind, "model": src.model_name, "engine": DEFAULT, "precision": "fp32", "dataset": dataset,
           **res}
    if "iou" in res:
        out["class_names"] = [str(c) for c in getattr(test_set, "classes", None) or []] or None
    return {**out, "weights": str(weights)} if weights else out


__all__ = ["evaluate"]
