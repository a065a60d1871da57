"""``convzoo train``: train a registered model on a registered dataset; writes a run folder."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train a model on a dataset (resumable, distributed under torchrun)"

EPILOG = """examples:
  convzoo train                                   # the default small net on digits
  convzoo train --model variant_mbconv --epochs 20 --ema-decay 0.999
  convzoo train --model efficientnet_b0 --dataset cifar10 --data-root ~/data/cifar-10-batches-py
  convzoo train --resume runs/variant_conv-digits-20260101-120000
  torchrun --nproc_per_node 2 -m convzoo train --model variant_conv --epochs 5
  convzoo train --pretrained local-dir:lite0 --dataset imagefolder --data-root pets/ --freeze backbone
  convzoo train --model efficientnet_lite0 --pretrained lite0.pth --dataset imagefolder --data-root pets/ \
      --layer-decay 0.8 --lr 3e-4

Files written to the run folder: config.json, metrics.jsonl, checkpoints/, model.safetensors,
report.json, curves.png."""


def _range(text: str) -> tuple:
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, got {text!r}") from None
    return (lo, hi)


# flag dest -> TrainConfig field (where the names differ)
_FIELD = {"progressive": "progressive_stages", "prog_size": "size_range", "prog_randaug": "randaug_range",
          "prog_mixup": "mixup_range", "prog_dropout": "dropout_range", "workers": "num_workers"}
# what a resumed run may change: more epochs, how often it evaluates, how it loads data
_MAY_CHANGE = {"epochs", "num_workers", "eval_every", "device"}
_NOT_CONFIG = {"out", "resume", "no_progress", "debug", "model", "dataset", "data_root", "model_arg",
               "data_arg", "drop_path_rate", "drop_rate", "pretrained"}


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type, record_explicit
    from convzoo.train.config import AMP_MODES, FREEZE_MODES, MAX_WORKERS, OPTIMIZERS, SCHEDULES, TASKS, TrainConfig
    d = TrainConfig()
    t = flag_type
    p = subparsers.add_parser("train", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model and data")
    g.add_argument("--model", help="registered model name (default: variant_conv on digits); see convzoo list")
    g.add_argument("--dataset", default="digits", help="registered dataset (default: digits)")
    g.add_argument("--data-root", help="folder of an on-disk dataset (cifar10, imagefolder)")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="extra create_model option")
    g.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="extra dataset option")
    g.add_argument("--task", choices=TASKS, default=d.task,
                   help="segmentation: per-pixel loss (255 ignored), mIoU; a backbone --model becomes "
                        "create_segmenter(MODEL, head=..., ...) via --model-arg head=deeplabv3|lraspp|unet")
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--pretrained", metavar="SRC",
                   help="start from these weights: a file (timm, torchvision, efficientnet_pytorch or convzoo "
                        "layout), a model folder, local-dir:DIR or hf-hub:ORG/NAME (local cache only); the head "
                        "gets the dataset's classes, the stem its channels; the run keeps the file's sha256 "
                        "and never reads it again")
    g.add_argument("--freeze", choices=FREEZE_MODES, help="backbone: train the classifier only (linear probe)")
    g.add_argument("--layer-decay", type=t("layer_decay"), metavar="F",
                   help="layer-wise lr decay (timm's): layer i of L learns at lr * F**(L - i)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=t("epochs"), default=d.epochs)
    g.add_argument("--batch-size", type=t("batch_size"), default=d.batch_size, help="global batch size")
    g.add_argument("--lr", type=t("lr"), default=d.lr)
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    g.add_argument("--weight-decay", type=t("weight_decay"), default=d.weight_decay)
    g.add_argument("--momentum", type=t("momentum"), default=d.momentum)
    g.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="cosine (default), step (EfficientNet: x0.97 every 2.4 epochs), constant")
    g.add_argument("--step-decay", type=t("step_decay"), default=d.step_decay,
                   help="'step' schedule: factor per period")
    g.add_argument("--step-epochs", type=t("step_epochs"), default=d.step_epochs,
                   help="'step' schedule: period in epochs")
    g.add_argument("--warmup-epochs", type=t("warmup_epochs"), default=d.warmup_epochs)
    g.add_argument("--min-lr", type=t("min_lr"), default=d.min_lr)
    g.add_argument("--label-smoothing", type=t("label_smoothing"), default=d.label_smoothing)
    g.add_argument("--clip-grad", type=t("clip_grad"), help="max gradient norm")
    g.add_argument("--ema-decay", type=t("ema_decay"), help="keep an EMA of the weights (e.g. 0.999); eval uses it")
    g.add_argument("--amp", choices=AMP_MODES, default=d.amp, help="autocast: bf16 (CPU/CUDA), fp16 (CUDA)")
    g = p.add_argument_group("augmentation and regularisation")
    g.add_argument("--image-size", type=t("image_size"), help="resize images to this side")
    g.add_argument("--randaugment", type=t("randaugment"), metavar="M", help="RandAugment magnitude 0..30")
    g.add_argument("--mixup", type=t("mixup"), default=0.0, help="mixup alpha")
    g.add_argument("--cutmix", type=t("cutmix"), default=0.0, help="CutMix alpha")
    g.add_argument("--drop-rate", type=t("drop_rate"), help="classifier dropout")
    g.add_argument("--drop-path-rate", type=t("drop_path_rate"), help="stochastic depth (models that have it)")
    g.add_argument("--progressive", type=t("progressive_stages"), default=0, metavar="STAGES",
                   help="EfficientNetV2 progressive learning over STAGES stages (paper: 4)")
    g.add_argument("--prog-size", type=_range, metavar="MIN:MAX", help="image size range, e.g. 128:300")
    g.add_argument("--prog-randaug", type=_range, metavar="MIN:MAX", help="RandAugment range, e.g. 5:15")
    g.add_argument("--prog-mixup", type=_range, metavar="MIN:MAX", help="mixup alpha range, e.g. 0:0.2")
    g.add_argument("--prog-dropout", type=_range, metavar="MIN:MAX", help="dropout range, e.g. 0.1:0.3")
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run folder (default: a new folder under runs/)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint "
                   "(only --epochs, --workers, --device may differ from the run's own settings)")
    g.add_argument("--seed", type=t("seed"), default=d.seed)
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1 ...")
    g.add_argument("--workers", type=t("num_workers"), default=0,
                   help=f"data loader worker processes (at most {MAX_WORKERS}: twice the CPU count, at least 4)")
    g.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    g.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes (torchrun)")
    g.add_argument("--limit-train", type=t("limit_train"), help="use only the first N training samples")
    g.add_argument("--limit-test", type=t("limit_test"), help="use only the first N test samples")
    g.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    record_explicit(p)
    p.set_defaults(func=run)


def _config_from_args(args):
    from convzoo.train import TrainConfig
    return TrainConfig(
        task=args.task, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        weight_decay=args.weight_decay, momentum=args.momentum, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, step_decay=args.step_decay, step_epochs=args.step_epochs,
        min_lr=args.min_lr, label_smoothing=args.label_smoothing, freeze=args.freeze, layer_decay=args.layer_decay,
        clip_grad=args.clip_grad, ema_decay=args.ema_decay, amp=args.amp, image_size=args.image_size,
        randaugment=args.randaugment, mixup=args.mixup, cutmix=args.cutmix, drop_rate=args.drop_rate,
        progressive_stages=args.progressive, size_range=args.prog_size, randaug_range=args.prog_randaug,
        mixup_range=args.prog_mixup, dropout_range=args.prog_dropout, seed=args.seed, device=args.device,
        num_workers=args.workers, deterministic=args.deterministic, sync_bn=args.sync_bn,
        limit_train=args.limit_train, limit_test=args.limit_test)


def _run_info(args) -> dict:
    """What the flags say the run is: model, its keyword arguments, dataset, data root and arguments."""
    from convzoo.cli import CLIError
    from convzoo.train.runs import DEFAULT_MODEL, parse_kv
    dataset = args.dataset
    pretrained = _pretrained_info(args) if getattr(args, "pretrained", None) else None
    model_name = args.model or (pretrained or {}).get("architecture") or DEFAULT_MODEL.get(dataset)
    if model_name is None:
        raise CLIError(f"no default model for dataset {dataset!r}: pass --model (see convzoo list)")
    model_kw, data_kw = parse_kv(args.model_arg, "--model-arg"), parse_kv(args.data_arg, "--data-arg")
    if args.drop_path_rate is not None:
        model_kw["drop_path_rate"] = args.drop_path_rate
    if args.drop_rate is not None:
        model_kw["drop_rate"] = args.drop_rate
    info = {"model": model_name, "model_kwargs": model_kw, "dataset": dataset, "data_root": args.data_root,
            "data_kwargs": data_kw}
    if pretrained is not None:
        arch = pretrained.get("architecture")
        if arch and arch != model_name.split(".", 1)[0]:
            raise CLIError(f"--pretrained {args.pretrained} holds {arch!r} (its config.json), not --model {model_name}")
        info["pretrained"] = pretrained
    return info


def _pretrained_info(args) -> dict:
    """What the run records of its starting weights: where they came from and their sha256."""
    from convzoo.hub import resolve_source, sha256
    path, folder = resolve_source(args.pretrained)
    return {"source": str(args.pretrained), "file": str(path.resolve()), "sha256": sha256(path),
            "architecture": folder.architecture if folder is not None else None}


def _load_pretrained(model, info: dict, train_set) -> None:
    """Load the run's starting weights (checked against the recorded sha256) and say what changed."""
    import logging
    import sys
    import warnings
    from convzoo.cli import CLIError
    from convzoo.hub import sha256
    from convzoo.weights import load_weights
    if sha256(info["file"]) != info["sha256"]:
        raise CLIError(f"--pretrained {info['source']}: {info['file']} changed while the run was being set up")
    quiet = logging.getLogger("convzoo.weights")
    level = quiet.level
    try:   # a new head is the point of fine-tuning: said below, once, not as a warning
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
        notes.append(f"new classifier for {getattr(train_set, 'num_classes', '?')} classes")
    print(f"pretrained: {info['source']} (sha256 {info['sha256'][:12]}; {', '.join(notes)})", file=sys.stderr)


def run(args) -> int:
    from convzoo.cli import CLIError
    from convzoo.train.runs import default_out_dir
    if args.resume is not None:
        if args.pretrained is not None:
            raise CLIError(f"--pretrained cannot be given with --resume (the run's checkpoints already hold its "
                           f"weights; it started from {args.pretrained!r} or not as its config.json says)")
        return _resume(args)
    cfg = _config_from_args(args)
    run_info = _run_info(args)
    out = Path(args.out) if args.out else default_out_dir(run_info["model"], run_info["dataset"])
    _refuse_used_folder(out)
    return _train(args, cfg, run_info, out, resume=False)


def _holds_files(out: Path) -> bool:
    from convzoo.train.lock import is_lock_file
    return out.is_dir() and any(not is_lock_file(p) for p in out.iterdir())


def _refuse_used_folder(out: Path) -> None:
    from convzoo.cli import CLIError
    from convzoo.train import lock
    if _holds_files(out):
        if (out / lock.LOCK_NAME).exists():
            with lock.run_lock(out):   # a live writer is named (RunLockedError) rather than "holds files"
                pass
        raise CLIError(f"{out} already holds files; continue it with --resume {out} or choose another --out")


def _train(args, cfg, run_info: dict, out: Path, resume: bool) -> int:
    """Build data and model, then train under the folder's lock (checked again once held)."""
    from convzoo.registry import model_entrypoint
    from convzoo.train import fit, lock
    from convzoo.train.distributed import env_info
    from convzoo.train.runs import build_data, build_run_model
    model_entrypoint(run_info["model"])            # unknown model -> suggestions, before loading data
    train_set, test_set = build_data(run_info["dataset"], run_info.get("data_root"), run_info.get("data_kwargs"))
    model = build_run_model(run_info["model"], train_set, run_info.get("model_kwargs"), seed=cfg.seed, task=cfg.task)
    if getattr(train_set, "classes", None) is not None:
        run_info["class_names"] = [str(c) for c in train_set.classes]
    from convzoo.train.augment import eval_image_size
    from convzoo.train.runs import preprocess_info
    run_info["preprocess"] = preprocess_info(train_set, eval_image_size(cfg))
    if run_info.get("pretrained") and not resume:   # a resumed run's checkpoint carries the weights
        _load_pretrained(model, run_info["pretrained"], train_set)
    main = env_info().is_main
    created = not out.exists()
    if main:
        lock.acquire(out)
    try:
        if main and not resume:
            _refuse_used_folder(out)
        report = fit(model, train_set, test_set, cfg, out_dir=out, progress=not args.no_progress,
                     resume=resume, run_info=run_info, dataset_name=run_info["dataset"])
    finally:
        if main:
            lock.release(out)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()                          # refused before writing: leave nothing behind
    if main:
        print(format_report(report, out))
    return 0


def _resume(args) -> int:
    """``--resume RUN``: refuse flags that contradict the run, apply the ones that may change."""
    import sys
    from convzoo.cli import CLIError
    from convzoo.cli._common import explicit
    from convzoo.train import TrainConfig, lock
    from convzoo.train.checkpoint import last_checkpoint
    from convzoo.train.runs import read_run_config
    if not str(args.resume).strip():
        raise CLIError("--resume expects a run folder, got ''")
    out = Path(args.resume)
    if args.out is not None and Path(args.out).resolve() != out.resolve():
        raise CLIError(f"--out {args.out} contradicts --resume {out} (a resumed run stays in its folder)")
    run_cfg = read_run_config(out)
    saved = TrainConfig.from_dict(run_cfg["train"])
    given = _config_from_args(args).to_dict()
    changes = {}
    for dest in sorted(explicit(args) - _NOT_CONFIG - {"out", "resume"}):
        name = _FIELD.get(dest, dest)
        old, new = getattr(saved, name), given[name]
        if _same(old, new):
            continue
        if name not in _MAY_CHANGE:
            flag = "--" + dest.replace("_", "-")
            raise CLIError(f"{flag} {_show(new)} contradicts the run's {name} = {_show(old)} in {out}/config.json "
                           f"(on --resume only --epochs, --workers, --device may change)")
        changes[name] = (old, new)
    run_flags = explicit(args) & {"model", "dataset", "data_root", "model_arg", "data_arg", "drop_rate",
                                  "drop_path_rate"}
    given_info = _run_info(args) if run_flags else {}
    for dest in sorted(run_flags):
        key = {"model_arg": "model_kwargs", "data_arg": "data_kwargs", "drop_rate": "model_kwargs",
               "drop_path_rate": "model_kwargs"}.get(dest, dest)
        if _same(given_info.get(key) or None, run_cfg.get(key) or None):
            continue   # the run's own value, given again
        raise CLIError(f"--{dest.replace('_', '-')} cannot change on --resume (the run's {key} is "
                       f"{_show(run_cfg.get(key))})")
    with lock.run_lock(out):
        info = last_checkpoint(out)
        done = int(info["epoch"]) if info else 0
        epochs = changes.get("epochs", (None, saved.epochs))[1]
        if epochs < done:
            raise CLIError(f"--epochs {epochs} is below the {done} epochs {out} has already trained")
        if info is not None and done >= epochs and (out / "report.json").is_file():
            print(f"{out} already finished ({done} of {saved.epochs} epochs); nothing to do, report.json kept "
                  f"(pass --epochs N > {done} to train on)", file=sys.stderr)
            return 0
        cfg = TrainConfig.from_dict({**saved.to_dict(), **{k: v[1] for k, v in changes.items()}})
        for k, (old, new) in changes.items():
            print(f"resume: {k} {_show(old)} -> {_show(new)}", file=sys.stderr)
        run_info = {k: run_cfg.get(k) for k in ("model", "model_kwargs", "dataset", "data_root", "data_kwargs",
                                                "pretrained", "class_names", "preprocess") if k in run_cfg or k in
                    ("model", "model_kwargs", "dataset", "data_root", "data_kwargs")}
        run_info["model_kwargs"] = run_info["model_kwargs"] or {}
        run_info["data_kwargs"] = run_info["data_kwargs"] or {}
        if info is None:
            print(f"{out} has no checkpoint yet (stopped before its first epoch ended): starting it again",
                  file=sys.stderr)
            return _train(args, cfg, run_info, out, resume=False) if _clear_unfinished(out) else 1
        if changes:
            from convzoo.io import write_json
            write_json(out / "config.json", {**run_cfg, "train": cfg.to_dict()})
        return _train(args, cfg, run_info, out, resume=True)


def _clear_unfinished(out: Path) -> bool:
    """A run with no checkpoint holds config.json, metrics.jsonl and at most temp files of a first
    checkpoint: clear them so that it starts again (anything else in the folder stays, and refuses)."""
    from convzoo.io import remove_stale_tmp
    for name in ("config.json", "metrics.jsonl"):
        (out / name).unlink(missing_ok=True)
    ckpt = out / "checkpoints"
    if ckpt.is_dir():
        remove_stale_tmp(ckpt)
        if not any(ckpt.iterdir()):
            ckpt.rmdir()
    remove_stale_tmp(out)
    return True


def _same(a, b) -> bool:
    """Equal as config.json stores them (tuples read back as lists)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _show(v) -> str:
    return "none" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def format_report(r: dict, out) -> str:
    macs = f"{r['macs'] / 1e6:.2f}M" if r.get("macs") is not None else "n/a"
    lines = [f"{r.get('model', 'model')} on {r.get('dataset', 'data')}: test accuracy {r['accuracy']:.4f}  "
             f"loss {r['loss']:.4f}" + (f"  mIoU {r['miou']:.4f}" if r.get("miou") is not None else "")
             + f"  ({r['epochs']} epochs, {r['wall_time_s']:.1f} s)",
             f"params {r['params']:,}  MACs {macs}  latency {r['latency_ms']:.2f} ms "
             f"(batch 1, {r.get('latency_device', 'cpu')})",
             f"run folder: {out}"]
    return "\n".join(lines)
