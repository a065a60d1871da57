"""``convzoo compress``: a trained run made cheaper by a factorisation, fine-tuned briefly, written as a
new run folder that ``convzoo eval`` (and ``quantize``, ``train --resume``) rebuild and load."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "factor a trained run's convolutions (spatial, channel, tucker2, cp, dwsep, separable_dw) and fine-tune"

# The default recipe is the compress study's (docs/compress.md, experiments/compress.py, 2026-12-06, three
# seeds): at 4x MACs, fine-tuned at 0.3x the training's rate, distilled from the dense net, ResNet-18
# needed 10 epochs, M11 20 and C3D-small 30 to land within a point of the dense net; 0.1x the rate left
# C3D -2.6 points after 20 epochs (one seed). The longest of the three is the default.
FINETUNE_EPOCHS = 30
FINETUNE_LR_SCALE = 0.3

EPILOG = """examples:
  convzoo compress runs/r18 --method spatial --speedup 2 --out runs/r18-sp     # 2x measured on ONNX Runtime
  convzoo compress runs/r18 --method spatial --macs-ratio 4 --out runs/r18-sp4  # 4x fewer MACs
  convzoo compress runs/c3d --method spatial --energy 0.9 --finetune-epochs 2 --no-distill --out runs/c3d-21d
  convzoo eval runs/r18-sp

--speedup is measured: dense and compressed timed interleaved on --engine (default onnxruntime, batch 1,
1 thread), MAC ratios searched with the measurement in the loop (up to 4 rounds; slower layers put back
dense). When the net measures short (small nets are per-op-overhead bound: 0.6-1.6x whatever the MACs in
the study), it refuses in one line saying what it measured and why, and writes nothing.

The default recipe is the study's (docs/compress.md): distilled from the dense net (Hinton's loss,
T = 4, alpha = 0.5), 0.3x the run's learning rate, 30 epochs; at 4x MACs that landed within a point of the
dense net fine-tuned as long on ResNet-18 (10 epochs), M11 (20) and C3D-small (30), three seeds each.

report.json: macs_before/after, params_before/after, latency_ms_before/after (medians on the engine) and
latency (quartiles, engine, batch, threads, the search's rounds), accuracy_original (the run as trained),
accuracy_before (right after compression, before fine-tuning), accuracy_after (after fine-tuning; also
`accuracy`, which `convzoo eval` checks), layers, spec."""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("compress", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by convzoo train")
    p.add_argument("--method", required=True, help="spatial | channel | tucker2 | cp | dwsep | separable_dw")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--speedup", type=t("speedup"),
                   help="target measured speed-up > 1 on --engine (batch 1); refused when not reached")
    g.add_argument("--macs-ratio", type=t("speedup"), help="target ratio of MACs, dense over compressed, > 1")
    g.add_argument("--energy", type=t("energy"), help="kept singular-value energy in (0, 1]")
    g.add_argument("--rank", type=t("rank"), help="one rank for every layer (capped at each layer's full rank)")
    p.add_argument("--engine", type=_engine,
                   help="where --speedup and the report's latency are measured: onnxruntime or eager (default "
                        "onnxruntime; eager when onnxruntime is not installed)")
    p.add_argument("--threads", type=t("threads"), default=1, help="intra-op threads while timing (default 1)")
    p.add_argument("--finetune-epochs", type=t("finetune_epochs"),
                   help=f"epochs of fine-tuning (0: none; default {FINETUNE_EPOCHS}, the study's: ResNet-18 needed 10, "
                        "M11 20, C3D-small 30)")
    p.add_argument("--distill", action=argparse.BooleanOptionalAction,
                   help="fine-tune against the original run's logits (default on, the study's recipe: at 4x MACs "
                        "ResNet-18 spatial lost 0.2 points distilled, 1.2 on labels)")
    p.add_argument("--lr", type=t("lr"), help=f"fine-tuning learning rate (default: the run's x {FINETUNE_LR_SCALE}, "
                                              "the study's; at 0.1x C3D-small lost 2.6 points, at 0.3x 1.3)")
    p.add_argument("--batch-size", type=t("batch_size"), help="default: the run's")
    p.add_argument("--limit-train", type=t("limit_train"), help="fine-tune on the first N training samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--verbose", action="store_true", help="on a refusal, list why per layer")
    p.add_argument("--out", required=True, help="the new run folder (must not hold files)")
    p.set_defaults(func=run)


def _engine(value: str) -> str:
    """An engine compress can time on (:func:`convzoo.compress.latency.engines`, read when the flag is
    parsed, not when the parser is built: ``--help`` loads no torch); a bad one in argparse's words."""
    from convzoo.cli._common import choice
    from convzoo.compress.latency import engines
    return choice(value, engines())


def _check_args(args) -> None:
    """Everything that can be refused before anything is read or written."""
    from convzoo.cli import CLIError
    from convzoo.compress.api import get_method
    from convzoo.compress.latency import check_engine
    from convzoo.compress.ranks import check_target
    get_method(args.method)
    check_target(args.rank, args.energy, args.macs_ratio, args.speedup)
    check_engine(args.engine)
    if args.finetune_epochs is None:
        args.finetune_epochs = FINETUNE_EPOCHS
    if args.distill and args.finetune_epochs == 0:
        raise CLIError("--distill needs --finetune-epochs >= 1")
    args.distill = args.finetune_epochs > 0 if args.distill is None else args.distill
    from convzoo.runs import check_new_folder
    check_new_folder(args.out)


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
    d.update(epochs=max(args.finetune_epochs, 1), lr=args.lr or d["lr"] * FINETUNE_LR_SCALE, warmup_epochs=0.0,
             min_lr=0.0, progressive_stages=0, size_range=None, randaug_range=None, mixup_range=None,
             dropout_range=None, ema_decay=None,
             device=args.device, limit_train=args.limit_train or d.get("limit_train"))
    if args.batch_size:
        d["batch_size"] = args.batch_size
    return TrainConfig.from_dict(d)


def _compress(args, model, x):
    """The library call; a refusal is one line (with --verbose, one more per layer first)."""
    import sys

    from convzoo.cli import CLIError
    from convzoo.compress import NothingToCompress, SpeedupNotReached, compress
    try:
        return compress(model, args.method, rank=args.rank, energy=args.energy, macs_ratio=args.macs_ratio,
                        speedup=args.speedup, example_input=x, engine=args.engine, threads=args.threads,
                        progress=not args.no_progress)
    except NothingToCompress as e:
        if args.verbose:
            for r in e.layers:
                print(f"  {r['name']}: {r['reason']}", file=sys.stderr)
        raise CLIError(f"{e}{'' if args.verbose else ' (--verbose lists each conv)'}") from None
    except SpeedupNotReached as e:
        if args.verbose:
            for r in e.report["latency"]["search"]:
                print(f"  round: {r['macs_ratio']:.2f}x fewer MACs -> measured {r['measured']:.2f}x, "
                      f"{r['put_back']} of {r['tried']} factorised convs put back", file=sys.stderr)
            for r in e.report.get("timing", []):
                print(f"  {r['name']}: dense {r['dense_ms']:.3f} ms, factorised {r['factorized_ms']:.3f} ms "
                      f"({r['speedup']:.2f}x)", file=sys.stderr)
        raise CLIError(str(e).replace("macs_ratio= targets", "--macs-ratio targets")) from None


def _measured(args, rep, model, new, x) -> dict:
    """The report's latency: the speed-up search's own measurement, or one now on the named engine."""
    from convzoo.compress.latency import compare_stats, resolve_engine
    from convzoo.compress.report import latency_summary
    if "latency" in rep:
        return {k: rep[k] for k in ("engine", "latency_ms_before", "latency_ms_after", "latency")}
    engine, note = resolve_engine(args.engine)
    st = compare_stats({"before": model.cpu(), "after": new.cpu()}, x, engine, threads=args.threads)
    lat = latency_summary(st, engine, args.threads, note, [])
    return {k: lat[k] for k in ("engine", "latency_ms_before", "latency_ms_after", "latency")}


def _line(run_cfg, args, rep, lat, acc) -> str:
    """The one summary line: MACs, measured latency with its spread, what that says against the target."""
    L = lat["latency"]
    b, a, s = L["before"], L["after"], L["speedup"]
    if args.speedup:
        verdict = f"target {args.speedup:g}x measured: reached"
    elif args.macs_ratio and s < args.macs_ratio:
        verdict = (f"MAC target {args.macs_ratio:g}x, measured {s:.2f}x" + (": slower than the dense net" if s < 1
                                                                          else ": less than the MACs say"))
    else:
        verdict = f"measured {s:.2f}x"
    return (f"{run_cfg['model']} {args.method}: MACs {rep['macs_before']:,} -> {rep['macs_after']:,} "
            f"({rep['macs_before'] / max(rep['macs_after'], 1):.2f}x), latency on {L['engine']} (batch 1, "
            f"{L['threads']} thread(s), interleaved) {b['median_ms']:.3f} ms [IQR {b['q1_ms']:.3f}-{b['q3_ms']:.3f}]"
            f" -> "
            f"{a['median_ms']:.3f} ms [IQR {a['q1_ms']:.3f}-{a['q3_ms']:.3f}] ({verdict}), accuracy "
            f"{acc['accuracy_original']:.4f} -> {acc['accuracy_before']:.4f} (compressed) -> "
            f"{acc['accuracy_after']:.4f} (fine-tuned{', distilled' if args.distill else ''}, "
            f"{args.finetune_epochs} epochs); wrote {args.out}")


def run(args) -> int:
    import torch

    from convzoo.train import evaluate
    from convzoo.train.augment import eval_image_size
    from convzoo.train.batches import sample_input_size
    _check_args(args)
    run_cfg, train_set, test_set, model = _load(args)
    src = _finetune_config(args, run_cfg)
    size = eval_image_size(src)
    x = torch.zeros(1, *sample_input_size(test_set, size))
    new, rep = _compress(args, model, x)
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
    lat = _measured(args, rep, model, new, x)
    report = {**fit_report, **{k: v for k, v in rep.items() if k not in lat}, **lat,
              "latency_engine": f"{lat['engine']}, batch 1, {args.threads} thread(s)",
              "accuracy": acc["accuracy_after"], **acc, "finetune_epochs": args.finetune_epochs,
              "finetune_lr": src.lr, "distill": args.distill, "compressed_from": str(args.run_dir)}
    _write(Path(args.out), new, run_info, src, report)
    print(_line(run_cfg, args, rep, lat, acc))
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
