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


# Every flag of `train`, by --help group and in --help order, with its help. A bare name is a
# TrainConfig field: its flag is --name (or _FLAG_OF's), its default the dataclass's, its type the
# range in config.RANGES (or a MIN:MAX pair of PAIR_RANGES), its choices config.CHOICES'; a flag of
# the run itself ("--...") gives its own argparse keywords ("range": its CLI_RANGES type).
_GROUPS: dict[str, list[tuple[str, dict]]] = {
    "model and data": [
        ("--model", dict(help="registered model name (default: variant_conv on digits); see convzoo list")),
        ("--dataset", dict(default="digits", help="registered dataset (default: digits)")),
        ("--data-root", dict(help="folder of an on-disk dataset (cifar10, imagefolder)")),
        ("--model-arg", dict(action="append", metavar="KEY=VALUE", help="extra create_model option")),
        ("--data-arg", dict(action="append", metavar="KEY=VALUE", help="extra dataset option")),
        ("task", dict(help="segmentation: per-pixel loss (255 ignored), mIoU; a backbone --model becomes "
                           "create_segmenter(MODEL, head=..., ...) via --model-arg head=deeplabv3|lraspp|unet")),
    ],
    "fine-tuning": [
        ("--pretrained", dict(metavar="SRC", help="start from these weights: a file (timm, torchvision, "
                              "efficientnet_pytorch or convzoo layout), a model folder, local-dir:DIR or "
                              "hf-hub:ORG/NAME (local cache only); the head gets the dataset's classes, the stem "
                              "its channels; the run keeps the file's sha256 and never reads it again")),
        ("freeze", dict(help="backbone: train the classifier only (linear probe)")),
        ("layer_decay", dict(metavar="F", help="layer-wise lr decay (timm's): layer i of L learns at lr * F**(L - i)")),
    ],
    "optimisation": [
        ("epochs", {}), ("batch_size", dict(help="global batch size")), ("lr", {}), ("optimizer", {}),
        ("weight_decay", {}), ("momentum", {}),
        ("schedule", dict(help="cosine (default), step (EfficientNet: x0.97 every 2.4 epochs), constant")),
        ("step_decay", dict(help="'step' schedule: factor per period")),
        ("step_epochs", dict(help="'step' schedule: period in epochs")),
        ("warmup_epochs", {}), ("min_lr", {}), ("label_smoothing", {}),
        ("clip_grad", dict(help="max gradient norm")),
        ("ema_decay", dict(help="keep an EMA of the weights (e.g. 0.999); eval uses it")),
        ("amp", dict(help="autocast: bf16 (CPU/CUDA), fp16 (CUDA)")),
    ],
    "augmentation and regularisation": [
        ("image_size", dict(help="resize images to this side")),
        ("randaugment", dict(metavar="M", help="RandAugment magnitude 0..30")),
        ("mixup", dict(help="mixup alpha")),
        ("cutmix", dict(help="CutMix alpha")),
        ("drop_rate", dict(help="classifier dropout")),
        ("--drop-path-rate", dict(range="drop_path_rate", help="stochastic depth (models that have it)")),
        ("progressive_stages", dict(metavar="STAGES",
                                    help="EfficientNetV2 progressive learning over STAGES stages (paper: 4)")),
        ("size_range", dict(help="image size range, e.g. 128:300")),
        ("randaug_range", dict(help="RandAugment range, e.g. 5:15")),
        ("mixup_range", dict(help="mixup alpha range, e.g. 0:0.2")),
        ("dropout_range", dict(help="dropout range, e.g. 0.1:0.3")),
    ],
    "run": [
        ("--out", dict(help="run folder (default: a new folder under runs/)")),
        ("--resume", dict(metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint "
                          "(only --epochs, --workers, --device may differ from the run's own settings)")),
        ("seed", {}),
        ("device", dict(help="auto, cpu, cuda, cuda:1 ...")),
        ("num_workers", dict(help="data loader worker processes (at most {MAX_WORKERS}: twice the CPU count, "
                                  "at least 4)")),
        ("deterministic", dict(help="torch.use_deterministic_algorithms(True)")),
        ("sync_bn", dict(help="SyncBatchNorm across processes (torchrun)")),
        ("limit_train", dict(help="use only the first N training samples")),
        ("limit_test", dict(help="use only the first N test samples")),
        ("--no-progress", dict(action="store_true", help="no progress bars (one line per epoch is still printed)")),
    ],
}
# TrainConfig field -> flag, where the flag is not --field-with-dashes
_FLAG_OF = {"progressive_stages": "--progressive", "size_range": "--prog-size", "randaug_range": "--prog-randaug",
            "mixup_range": "--prog-mixup", "dropout_range": "--prog-dropout", "num_workers": "--workers"}


def _flag(field: str) -> str:
    return _FLAG_OF.get(field) or "--" + field.replace("_", "-")


# flag dest -> TrainConfig field, for every flag that is one
_FIELD = {_flag(n)[2:].replace("-", "_"): n for rows in _GROUPS.values() for n, _ in rows if not n.startswith("--")}
# flags that say what the run is (model, data): on --resume they must agree with its config.json
_RUN_FLAGS = {"model", "dataset", "data_root", "model_arg", "data_arg", "drop_rate", "drop_path_rate"}


def _field_kwargs(name: str, default, help_: dict) -> dict:
    """argparse keywords of the flag of TrainConfig field ``name`` (default ``default``)."""
    from convzoo.cli._common import flag_type
    from convzoo.train.config import CHOICES, MAX_WORKERS, PAIR_RANGES, RANGES
    kw = {k: (v.replace("{MAX_WORKERS}", str(MAX_WORKERS)) if k == "help" else v) for k, v in help_.items()}
    if name in RANGES:
        return dict(type=flag_type(name), default=default, **kw)
    if name in PAIR_RANGES:
        return dict(type=_range, metavar="MIN:MAX", default=default, **kw)
    if name in CHOICES:
        return dict(choices=CHOICES[name], default=default, **kw)
    if isinstance(default, bool):
        return dict(action="store_true", **kw)
    return dict(default=default, **kw)


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type, record_explicit
    from convzoo.train.config import TrainConfig
    d = TrainConfig()
    p = subparsers.add_parser("train", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    for title, rows in _GROUPS.items():
        g = p.add_argument_group(title)
        for name, kw in rows:
            if name.startswith("--"):
                kw = dict(kw)
                if "range" in kw:
                    kw["type"] = flag_type(kw.pop("range"))
                g.add_argument(name, **kw)
            else:
                g.add_argument(_flag(name), **_field_kwargs(name, getattr(d, name), kw))
    record_explicit(p)
    p.set_defaults(func=run)


def _config_from_args(args):
    from convzoo.train import TrainConfig
    return TrainConfig(**{field: getattr(args, dest) for dest, field in _FIELD.items()})


def _run_info(args) -> dict:
    """What the flags say the run is: model, its keyword arguments, dataset, data root and arguments."""
    from convzoo.cli import CLIError
    from convzoo.runs import DEFAULT_MODEL, parse_kv
    dataset = args.dataset
    from convzoo.runs.training import pretrained_record
    pretrained = pretrained_record(args.pretrained) if getattr(args, "pretrained", None) else None
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


def run(args) -> int:
    from convzoo.cli import CLIError
    from convzoo.runs import default_out_dir
    if args.pretrained is not None and not str(args.pretrained).strip():
        raise CLIError("--pretrained expects a weights file, a model folder or a local-dir:/hf-hub: name, got ''")
    if args.resume is not None:
        if args.pretrained is not None:
            raise CLIError(f"--pretrained cannot be given with --resume (the run's checkpoints already hold its "
                           f"weights; it started from {args.pretrained!r} or not as its config.json says)")
        return _resume(args)
    cfg = _config_from_args(args)
    run_info = _run_info(args)
    out = Path(args.out) if args.out else default_out_dir(run_info["model"], run_info["dataset"])
    from convzoo.runs.training import refuse_used_folder
    refuse_used_folder(out)
    return _train(args, cfg, run_info, out, resume=False)


def _train(args, cfg, run_info: dict, out: Path, resume: bool, restart: bool = False) -> int:
    """:func:`convzoo.runs.training.train_run`, then the report (on the main process)."""
    from convzoo.runs.training import train_run
    report = train_run(run_info, cfg, out, resume=resume, restart=restart, progress=not args.no_progress)
    if report is not None:
        print(format_report(report, out))
    return 0


def _resume(args) -> int:
    """``--resume RUN``: :func:`convzoo.runs.resume.resume_run` with the flags given, its refusals in
    the flags' names."""
    from convzoo.cli import CLIError
    from convzoo.cli._common import explicit
    from convzoo.runs.resume import ResumeConflict, resume_run, show
    if not str(args.resume).strip():
        raise CLIError("--resume expects a run folder, got ''")
    out = Path(args.resume)
    if args.out is not None and Path(args.out).resolve() != out.resolve():
        raise CLIError(f"--out {args.out} contradicts --resume {out} (a resumed run stays in its folder)")
    given = _config_from_args(args).to_dict()
    changes = {_FIELD[dest]: given[_FIELD[dest]] for dest in (explicit(args) & _FIELD.keys()) - _RUN_FLAGS}
    run_flags = explicit(args) & _RUN_FLAGS
    info = _run_info(args) if run_flags else {}
    run = {key: info.get(key) for key in {_RUN_KEY.get(dest, dest) for dest in run_flags}}
    try:
        report = resume_run(out, changes, run=run, progress=not args.no_progress)
    except ResumeConflict as e:
        if e.run_key:
            flags = " / ".join(f"--{d.replace('_', '-')}" for d in sorted(run_flags) if _RUN_KEY.get(d, d) == e.key)
            raise CLIError(f"{flags} cannot change on --resume (the run's {e.key} is {show(e.recorded)})") from None
        raise CLIError(f"{_flag(e.key)} {show(e.given)} contradicts the run's {e.key} = {show(e.recorded)} in "
                       f"{out}/config.json (on --resume only --epochs, --workers, --device may change)") from None
    if report is not None:
        print(format_report(report, out))
    return 0


# a flag that says what the run is -> the config.json key it is checked against
_RUN_KEY = {"model_arg": "model_kwargs", "data_arg": "data_kwargs", "drop_rate": "model_kwargs",
            "drop_path_rate": "model_kwargs"}


def format_report(r: dict, out) -> str:
    macs = f"{r['macs'] / 1e6:.2f}M" if r.get("macs") is not None else "n/a"
    lines = [f"{r.get('model', 'model')} on {r.get('dataset', 'data')}: test accuracy {r['accuracy']:.4f}  "
             f"loss {r['loss']:.4f}" + (f"  mIoU {r['miou']:.4f}" if r.get("miou") is not None else "")
             + f"  ({r['epochs']} epochs, {r['wall_time_s']:.1f} s)",
             f"params {r['params']:,}  MACs {macs}  latency {r['latency_ms']:.2f} ms "
             f"(batch 1, {r.get('latency_device', 'cpu')})",
             f"run folder: {out}"]
    return "\n".join(lines)
