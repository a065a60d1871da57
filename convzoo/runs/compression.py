"""A run folder compressed: ``convzoo compress``'s work as a library call.

    run folder (classifier) --load_run--> model, train/test splits, TrainConfig
      --convzoo.compress (factorise to a rank / energy / MAC ratio / measured speed-up)--> smaller model
      --fine-tune (distilled from the dense net by default, or on labels)--> accuracy after
      --write_run--> config.json (the compression spec in model_kwargs), model.safetensors, report.json

The new folder is what ``convzoo eval``, ``quantize`` and ``train --resume`` read as any run: everything
the source run recorded (data, class names, preprocessing, pretrained source) carries over.

The default recipe (30 epochs, 0.3x the run's rate, distilled) is the compress study's:
:mod:`convzoo.compress.recipe`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from convzoo.compress.recipe import FINETUNE_EPOCHS, FINETUNE_LR_SCALE

from .run import load_run
from .source import open_source
from .write import check_new_folder, write_run


def recipe(finetune_epochs: Optional[int], distill: Optional[bool]) -> tuple[int, bool]:
    """(epochs, distill) with the study's defaults filled in: 30 epochs, distilled whenever it fine-tunes."""
    epochs = FINETUNE_EPOCHS if finetune_epochs is None else finetune_epochs
    if distill and epochs == 0:
        raise ValueError("--distill needs --finetune-epochs >= 1")
    return epochs, (epochs > 0 if distill is None else distill)


def compress_run(run_dir: Union[str, Path], method: str, *, out: Union[str, Path], rank: Optional[int] = None,
                 energy: Optional[float] = None, macs_ratio: Optional[float] = None, speedup: Optional[float] = None,
                 engine: Optional[str] = None, threads: int = 1, finetune_epochs: Optional[int] = None,
                 distill: Optional[bool] = None, lr: Optional[float] = None, batch_size: Optional[int] = None,
                 limit_train: Optional[int] = None, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Compress the classifier trained in ``run_dir`` with ``method`` to one target (``rank``, ``energy``,
    ``macs_ratio`` or a measured ``speedup`` on ``engine``), fine-tune it, and write it to ``out`` as a new
    run folder; returns the report written there (MACs, measured latency with its spread, accuracy as
    trained, right after compression and after fine-tuning).

    Refusals (ValueError, or :class:`~convzoo.compress.NothingToCompress` /
    :class:`~convzoo.compress.SpeedupNotReached` with their per-layer detail) come before anything is
    written: ``out`` is created complete or not at all.

        >>> rep = compress_run("runs/r18", "spatial", macs_ratio=4, out="runs/r18-sp4")
        >>> rep["accuracy_original"], rep["accuracy_after"], rep["latency"]["speedup"]
    """
    import torch

    from convzoo.compress import compress
    from convzoo.compress.api import get_method
    from convzoo.compress.latency import check_engine
    from convzoo.compress.ranks import check_target
    from convzoo.train import evaluate
    from convzoo.train.augment import eval_image_size
    from convzoo.train.batches import sample_input_size
    get_method(method)
    check_target(rank, energy, macs_ratio, speedup)
    check_engine(engine)
    epochs, distill = recipe(finetune_epochs, distill)
    out = check_new_folder(out)
    run = _classifier_run(run_dir)
    cfg = _finetune_config(run.config, epochs, lr, batch_size, limit_train, device)
    train_set, test_set = run.splits("train", "test")
    size = eval_image_size(cfg)
    x = torch.zeros(1, *sample_input_size(test_set, size))
    model = run.model
    new, rep = compress(model, method, rank=rank, energy=energy, macs_ratio=macs_ratio, speedup=speedup,
                        example_input=x, engine=engine, threads=threads, progress=progress)
    dev = torch.device(device)
    acc = {"accuracy_original": evaluate(model, test_set, image_size=size, device=dev)["accuracy"],
           "accuracy_before": evaluate(new, test_set, image_size=size, device=dev)["accuracy"]}
    run_info = {**{k: v for k, v in run.config.items() if k != "train"},
                "data_kwargs": run.config.get("data_kwargs") or {},
                "model_kwargs": {**(run.config.get("model_kwargs") or {}), "compression": rep["spec"]},
                "compressed_from": str(run_dir)}
    fit_report = _finetune(new, model, train_set, test_set, cfg, run_info, size, out, distill, epochs, progress)
    new.eval()
    acc["accuracy_after"] = evaluate(new, test_set, image_size=size, device=dev)["accuracy"]
    lat = _measured(rep, model, new, x, engine, threads)
    report = {**fit_report, **{k: v for k, v in rep.items() if k not in lat}, **lat, "model": run.config["model"],
              "latency_engine": f"{lat['engine']}, batch 1, {threads} thread(s)",
              "accuracy": acc["accuracy_after"], **acc, "finetune_epochs": epochs,
              "finetune_lr": cfg.lr, "distill": distill, "compressed_from": str(run_dir)}
    _write(out, new, run_info, cfg, report)
    return report


def _classifier_run(run_dir):
    """The run to compress: a trained classifier's run folder, not yet compressed."""
    src = open_source(run_dir)
    if src.kind != "run":
        raise ValueError(f"compress takes a run folder (convzoo train); {src.describe()} is not one")
    if "compression" in (src.manifest.get("model_kwargs") or {}):
        raise ValueError(f"{run_dir} is already a compressed run; compress its source run instead")
    run = load_run(src.path)
    if run.task != "classification":
        raise ValueError(f"compress fine-tunes and scores classifiers; {run_dir} is a {run.task} run")
    return run


def _finetune_config(run_cfg: dict, epochs: int, lr, batch_size, limit_train, device):
    """The run's own training config, turned into a short constant-shape fine-tune at the study's rate."""
    from convzoo.train import TrainConfig
    d = dict(run_cfg["train"])
    d.update(epochs=max(epochs, 1), lr=lr or d["lr"] * FINETUNE_LR_SCALE, warmup_epochs=0.0, min_lr=0.0,
             progressive_stages=0, size_range=None, randaug_range=None, mixup_range=None, dropout_range=None,
             ema_decay=None, device=device, limit_train=limit_train or d.get("limit_train"))
    if batch_size:
        d["batch_size"] = batch_size
    return TrainConfig.from_dict(d)


def _finetune(new, teacher, train_set, test_set, cfg, run_info, size, out, distill, epochs, progress) -> dict:
    """Fine-tune ``new`` in place: the trainer (labels), or the distillation loop (teacher's logits)."""
    if epochs == 0:
        return {}
    if distill:
        import torch

        from convzoo.compress.distill import distill as distill_loop
        from convzoo.train import first_n
        data = first_n(train_set, cfg.limit_train) if cfg.limit_train else train_set
        losses = distill_loop(new, teacher, data, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                              image_size=size, device=torch.device(cfg.device), seed=cfg.seed)
        return {"distill_loss": losses}
    from convzoo.train import fit
    return fit(new, train_set, test_set, cfg, out_dir=out, progress=progress, run_info=run_info,
               dataset_name=run_info["dataset"])


def _measured(rep: dict, model, new, x, engine: Optional[str], threads: int) -> dict:
    """The report's latency: the speed-up search's own measurement, or one now on the named engine."""
    from convzoo.compress.latency import compare_stats, resolve_engine
    from convzoo.compress.report import latency_summary
    keys = ("engine", "latency_ms_before", "latency_ms_after", "latency")
    if "latency" in rep:
        return {k: rep[k] for k in keys}
    name, note = resolve_engine(engine)
    st = compare_stats({"before": model.cpu(), "after": new.cpu()}, x, name, threads=threads)
    lat = latency_summary(st, name, threads, note, [])
    return {k: lat[k] for k in keys}


def _write(out: Path, model, run_info: dict, cfg, report: dict) -> None:
    """config.json (with the compression spec), model.safetensors, report.json: a new run folder in one
    step (:func:`write_run`), or, after the trainer fine-tuned into ``out`` in this call, the compressed
    run's files over the trainer's."""
    from convzoo.io import write_json
    from convzoo.weights import save_weights

    from .manifest import write_run_config
    meta = {"model": run_info["model"], "compressed": report["method"]}
    if not out.exists() or not any(out.iterdir()):
        write_run(out, model, run_info, cfg.to_dict(), report, metadata=meta)
        return
    write_run_config(out, run_info, cfg.to_dict())
    save_weights(model, out / "model.safetensors", meta)
    write_json(out / "report.json", report)
