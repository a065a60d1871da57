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

Files written to the run folder: config.json, metrics.jsonl, checkpoints/, model.safetensors,
report.json, curves.png."""


def _range(text: str) -> tuple:
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, got {text!r}") from None
    return (lo, hi)


def register(subparsers) -> None:
    from convzoo.train.config import AMP_MODES, OPTIMIZERS, SCHEDULES, TrainConfig
    d = TrainConfig()
    p = subparsers.add_parser("train", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model and data")
    g.add_argument("--model", help="registered model name (default: variant_conv on digits); see convzoo list")
    g.add_argument("--dataset", default="digits", help="registered dataset (default: digits)")
    g.add_argument("--data-root", help="folder of an on-disk dataset (cifar10, imagefolder)")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="extra create_model option")
    g.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="extra dataset option")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch size")
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--momentum", type=float, default=d.momentum)
    g.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="cosine (default), step (EfficientNet: x0.97 every 2.4 epochs), constant")
    g.add_argument("--step-decay", type=float, default=d.step_decay, help="'step' schedule: factor per period")
    g.add_argument("--step-epochs", type=float, default=d.step_epochs, help="'step' schedule: period in epochs")
    g.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    g.add_argument("--min-lr", type=float, default=d.min_lr)
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    g.add_argument("--clip-grad", type=float, help="max gradient norm")
    g.add_argument("--ema-decay", type=float, help="keep an EMA of the weights (e.g. 0.999); eval uses it")
    g.add_argument("--amp", choices=AMP_MODES, default=d.amp, help="autocast: bf16 (CPU/CUDA), fp16 (CUDA)")
    g = p.add_argument_group("augmentation and regularisation")
    g.add_argument("--image-size", type=int, help="resize images to this side")
    g.add_argument("--randaugment", type=int, metavar="M", help="RandAugment magnitude 0..30")
    g.add_argument("--mixup", type=float, default=0.0, help="mixup alpha")
    g.add_argument("--cutmix", type=float, default=0.0, help="CutMix alpha")
    g.add_argument("--drop-rate", type=float, help="classifier dropout")
    g.add_argument("--drop-path-rate", type=float, help="stochastic depth (models that have it)")
    g.add_argument("--progressive", type=int, default=0, metavar="STAGES",
                   help="EfficientNetV2 progressive learning over STAGES stages (paper: 4)")
    g.add_argument("--prog-size", type=_range, metavar="MIN:MAX", help="image size range, e.g. 128:300")
    g.add_argument("--prog-randaug", type=_range, metavar="MIN:MAX", help="RandAugment range, e.g. 5:15")
    g.add_argument("--prog-mixup", type=_range, metavar="MIN:MAX", help="mixup alpha range, e.g. 0:0.2")
    g.add_argument("--prog-dropout", type=_range, metavar="MIN:MAX", help="dropout range, e.g. 0.1:0.3")
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run folder (default: a new folder under runs/)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1 ...")
    g.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    g.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    g.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes (torchrun)")
    g.add_argument("--limit-train", type=int, help="use only the first N training samples")
    g.add_argument("--limit-test", type=int, help="use only the first N test samples")
    g.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    p.set_defaults(func=run)


def _config_from_args(args):
    from convzoo.train import TrainConfig
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        weight_decay=args.weight_decay, momentum=args.momentum, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, step_decay=args.step_decay, step_epochs=args.step_epochs, min_lr=args.min_lr, label_smoothing=args.label_smoothing,
        clip_grad=args.clip_grad, ema_decay=args.ema_decay, amp=args.amp, image_size=args.image_size,
        randaugment=args.randaugment, mixup=args.mixup, cutmix=args.cutmix, drop_rate=args.drop_rate,
        progressive_stages=args.progressive, size_range=args.prog_size, randaug_range=args.prog_randaug,
        mixup_range=args.prog_mixup, dropout_range=args.prog_dropout, seed=args.seed, device=args.device,
        num_workers=args.workers, deterministic=args.deterministic, sync_bn=args.sync_bn,
        limit_train=args.limit_train, limit_test=args.limit_test)


def run(args) -> int:
    from convzoo.cli import CLIError
    from convzoo.train import TrainConfig, fit
    from convzoo.train.distributed import env_info
    from convzoo.train.runs import (DEFAULT_MODEL, build_data, build_model, default_out_dir, parse_kv,
                                    read_run_config)
    if args.resume:
        out = Path(args.resume)
        run_cfg = read_run_config(out)
        cfg = TrainConfig.from_dict(run_cfg["train"])
        model_name, dataset = run_cfg["model"], run_cfg["dataset"]
        data_root, model_kw, data_kw = run_cfg.get("data_root"), run_cfg.get("model_kwargs", {}), \
            run_cfg.get("data_kwargs", {})
    else:
        cfg = _config_from_args(args)
        dataset = args.dataset
        model_name = args.model or DEFAULT_MODEL.get(dataset)
        if model_name is None:
            raise CLIError(f"no default model for dataset {dataset!r}: pass --model (see convzoo list)")
        data_root = args.data_root
        model_kw, data_kw = parse_kv(args.model_arg, "--model-arg"), parse_kv(args.data_arg, "--data-arg")
        if args.drop_path_rate is not None:
            model_kw["drop_path_rate"] = args.drop_path_rate
        if args.drop_rate is not None:
            model_kw["drop_rate"] = args.drop_rate
        out = Path(args.out) if args.out else default_out_dir(model_name, dataset)
        if out.exists() and any(out.iterdir()):
            raise CLIError(f"{out} already holds files; continue it with --resume {out} or choose another --out")
    from convzoo.registry import model_entrypoint
    model_entrypoint(model_name)                       # unknown model -> suggestions, before loading data
    train_set, test_set = build_data(dataset, data_root, data_kw)
    model = build_model(model_name, train_set, model_kw, seed=cfg.seed)
    run_info = {"model": model_name, "model_kwargs": model_kw, "dataset": dataset, "data_root": data_root,
                "data_kwargs": data_kw}
    progress = not args.no_progress
    report = fit(model, train_set, test_set, cfg, out_dir=out, progress=progress, resume=bool(args.resume),
                 run_info=run_info, dataset_name=dataset)
    if env_info().is_main:
        print(format_report(report, out))
    return 0


def format_report(r: dict, out) -> str:
    macs = f"{r['macs'] / 1e6:.2f}M" if r.get("macs") is not None else "n/a"
    lines = [f"{r.get('model', 'model')} on {r.get('dataset', 'data')}: test accuracy {r['accuracy']:.4f}  "
             f"loss {r['loss']:.4f}  ({r['epochs']} epochs, {r['wall_time_s']:.1f} s)",
             f"params {r['params']:,}  MACs {macs}  latency {r['latency_ms']:.2f} ms "
             f"(batch 1, {r.get('latency_device', 'cpu')})",
             f"run folder: {out}"]
    return "\n".join(lines)
