"""``convzoo compress``: a trained run made cheaper by a factorisation, fine-tuned briefly, written as a
new run folder that ``convzoo eval`` (and ``quantize``, ``train --resume``) rebuild and load."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "factor a trained run's convolutions (spatial, channel, tucker2, cp, dwsep, separable_dw) and fine-tune"

EPILOG = """examples:
  convzoo compress runs/variant_conv-cluttered_digits --method channel --speedup 2 --out runs/vc-ch2
  convzoo compress runs/c3d-digit_order --method spatial --energy 0.9 --finetune-epochs 2 --distill --out runs/c3d-21d
  convzoo eval runs/vc-ch2

report.json: macs_before/after, params_before/after, latency_ms_before/after (eager, batch 1, interleaved),
accuracy_original (the run as trained), accuracy_before (right after compression, before fine-tuning),
accuracy_after (after fine-tuning; also `accuracy`, which `convzoo eval` checks), layers, spec."""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("compress", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by convzoo train")
    p.add_argument("--method", required=True, help="spatial | channel | tucker2 | cp | dwsep | separable_dw")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--speedup", type=t("speedup"), help="target speed-up > 1 (over MACs, or measured with --engine)")
    g.add_argument("--energy", type=t("energy"), help="kept singular-value energy in (0, 1]")
    g.add_argument("--rank", type=t("rank"), help="one rank for every layer (capped at each layer's full rank)")
    p.add_argument("--engine", help="measure --speedup on this engine: eager | onnxruntime")
    p.add_argument("--finetune-epochs", type=t("finetune_epochs"), default=1,
                   help="epochs of fine-tuning (0: none; default 1)")
    p.add_argument("--distill", action="store_true", help="fine-tune against the original run's logits")
    p.add_argument("--lr", type=t("lr"), help="fine-tuning learning rate (default: the run's / 10)")
    p.add_argument("--batch-size", type=t("batch_size"), help="default: the run's")
    p.add_argument("--limit-train", type=t("limit_train"), help="fine-tune on the first N training samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True, help="the new run folder (must not hold files)")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    """Everything that can be refused before anything is read or written."""
    from convzoo.cli import CLIError
    from convzoo.compress.api import get_method
    from convzoo.compress.latency import check_engine
    from convzoo.compress.ranks import check_target
    get_method(args.method)
    check_target(args.rank, args.energy, args.speedup)
    check_engine(args.engine)
    if args.distill and args.finetune_epochs == 0:
        raise CLIError("--distill needs --finetune-epochs >= 1")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CLIError(f"--out {out} already exists and holds files; choose another folder")


def _load(args):
    """(run config, train set, test set, model with its trained weights) of the run to compress."""
    from convzoo.cli import CLIError
    from convzoo.runs import load_run, open_source
    src = open_source(args.run_dir)
    if src.kind != "run":
        raise CLIError(f"compress takes a run folder (convzoo train); {src.describe()} is not one")
    if "compression" in (src.manifest.get("model_kwargs") or {}):
        raise CLIError(f"{args.run_dir} is already a compressed run; compress its source run instead")
    run = load_run(src.path)
    if run.task != "classification":
        raise CLIError(f"compress fine-tunes and scores classifiers; {args.run_dir} is a {run.task} run")
    train_set, test_set = run.splits("train", "test")
    return run.config, train_set, test_set, run.model


def _finetune_config(args, run_cfg):
    from convzoo.train import TrainConfig
    d = dict(run_cfg["train"])
    d.update(epochs=max(args.finetune_epochs, 1), lr=args.lr or d["lr"] / 10, warmup_epochs=0.0, min_lr=0.0,
             progressive_stages=0, size_range=None, randaug_range=None, mixup_range=None, dropout_range=None,
             ema_decay=None, device=args.device, limit_train=args.limit_train or d.get("limit_train"))
    if args.batch_size:
        d["batch_size"] = args.batch_size
    return TrainConfig.from_dict(d)


def run(args) -> int:
    import torch

    from convzoo.compress import compress
    from convzoo.compress.latency import compare_ms
    from convzoo.train import evaluate
    from convzoo.train.augment import eval_image_size
    from convzoo.train.batches import sample_input_size
    _check_args(args)
    run_cfg, train_set, test_set, model = _load(args)
    src = _finetune_config(args, run_cfg)
    size = eval_image_size(src)
    x = torch.zeros(1, *sample_input_size(test_set, size))
    new, rep = compress(model, args.method, rank=args.rank, energy=args.energy, speedup=args.speedup,
                        example_input=x, engine=args.engine)
    device = torch.device(args.device)
    acc = {"accuracy_original": evaluate(model, test_set, image_size=size, device=device)["accuracy"],
           "accuracy_before": evaluate(new, test_set, image_size=size, device=device)["accuracy"]}
    # everything the source run recorded (data, class names, preprocessing, pretrained source) carries
    # over, so that eval / predict / export read the new folder as they read the old one
    run_info = {**{k: v for k, v in run_cfg.items() if k != "train"}, "data_kwargs": run_cfg.get("data_kwargs") or {},
                "model_kwargs": {**(run_cfg.get("model_kwargs") or {}), "compression": rep["spec"]},
                "compressed_from": str(args.run_dir)}
    fit_report = _finetune(args, new, model, train_set, test_set, src, run_info, size)
    new.eval()
    acc["accuracy_after"] = evaluate(new, test_set, image_size=size, device=device)["accuracy"]
    ms = compare_ms({"before": model.cpu(), "after": new.cpu()}, x, "eager")
    report = {**fit_report, **{k: v for k, v in rep.items() if k not in ("latency_ms_before", "latency_ms_after")},
              "latency_ms_before": ms["before"], "latency_ms_after": ms["after"],
              "latency_engine": "eager, batch 1", "accuracy": acc["accuracy_after"], **acc,
              "finetune_epochs": args.finetune_epochs, "distill": args.distill, "compressed_from": str(args.run_dir)}
    if args.engine:
        report["engine_latency_ms"] = {k: rep[k] for k in ("latency_ms_before", "latency_ms_after")}
    _write(Path(args.out), new, run_info, src, report)
    print(f"{run_cfg['model']} {args.method}: MACs {rep['macs_before']:,} -> {rep['macs_after']:,} "
          f"({rep['macs_before'] / max(rep['macs_after'], 1):.2f}x), latency {ms['before']:.3f} -> "
          f"{ms['after']:.3f} ms, accuracy {acc['accuracy_original']:.4f} -> {acc['accuracy_before']:.4f} "
          f"(compressed) -> {acc['accuracy_after']:.4f} (fine-tuned); wrote {args.out}")
    return 0


def _finetune(args, new, teacher, train_set, test_set, cfg, run_info, size) -> dict:
    """Fine-tune ``new`` in place: the trainer (labels), or the distillation loop (teacher's logits)."""
    if args.finetune_epochs == 0:
        return {}
    if args.distill:
        import torch

        from convzoo.compress.distill import distill
        from convzoo.train.engine import _limit
        data = _limit(train_set, cfg.limit_train) if cfg.limit_train else train_set
        losses = distill(new, teacher, data, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         image_size=size, device=torch.device(args.device), seed=cfg.seed)
        return {"distill_loss": losses}
    from convzoo.train import fit
    return fit(new, train_set, test_set, cfg, out_dir=args.out, progress=not args.no_progress,
               run_info=run_info, dataset_name=run_info["dataset"])


def _write(out: Path, model, run_info: dict, cfg, report: dict) -> None:
    """config.json (with the compression spec), model.safetensors, report.json: a new run folder in one
    step (:func:`convzoo.runs.write_run`), or, after the trainer fine-tuned into ``out`` in this
    invocation, the compressed run's files over the trainer's."""
    from convzoo.io import write_json
    from convzoo.runs import write_run, write_run_config
    from convzoo.weights import save_weights
    meta = {"model": run_info["model"], "compressed": report["method"]}
    if not out.exists() or not any(out.iterdir()):
        write_run(out, model, run_info, cfg.to_dict(), report, metadata=meta)
        return
    write_run_config(out, run_info, cfg.to_dict())
    save_weights(model, out / "model.safetensors", meta)
    write_json(out / "report.json", report)
