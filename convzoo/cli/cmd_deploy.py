"""``convzoo deploy (MODEL | RUN_DIR) --out DIR``: the fastest engine x precision that holds accuracy here."""
from __future__ import annotations

import argparse
import json

HELP = "build every engine x precision available here, check and time each, write the fastest that holds"

EPILOG = """Every engine x precision the registry declares for the CPU is built (eager, compile,
onednn, onnxruntime, openvino in fp32 / bf16 / int8 where the engine has it; --engines narrows the
list: compile's build takes minutes on a small CPU); a missing optional engine, a precision this CPU
lacks or int8 without calibration data is listed with its reason. Each candidate's top-1 on the
check data is compared with fp32 eager: it holds when it loses at most --max-drop points
(default 1.0 for int8, 0.5 for bf16 and fp32).
Check data: a RUN_DIR's test split (top-1 and agreement with fp32); a bare MODEL name: generated
inputs (agreement with fp32 only: no labels), and int8 only with --calibration-data DATASET (calibrated
on its train split). The survivors are timed in interleaved rounds (quartiles; a timing whose spread
stays above 10 % is marked ~) with the thread count and OMP wait policy printed. OUT gets the
winner's file and deploy.json (every candidate: engine, precision, images_per_s with quartiles,
accuracy, agreement, rejected); `convzoo eval OUT` and `convzoo bench OUT` take the folder.

examples:
  convzoo deploy runs/mobilenet_v2-digits-20260101-120000 --out deployed/mnv2
  convzoo deploy efficientnet_b0 --out deployed/b0 --batch 8
  convzoo deploy mobilenet_v2 --out deployed/m --calibration-data digits --input-size 3 32 32"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("deploy", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a run folder written by convzoo train, or a registered model name")
    p.add_argument("--out", required=True, help="new folder for the artifact and deploy.json")
    p.add_argument("--batch", type=t("bench_batch"), default=1, help="batch the artifact is built and timed at")
    p.add_argument("--calibration-data", metavar="DATASET",
                   help="dataset (name, or a folder with --data-root) for int8 calibration; a run's own "
                        "train split by default")
    p.add_argument("--data-root", help="folder of an on-disk dataset")
    p.add_argument("--max-drop", type=t("max_drop"), default=None,
                   help="points of top-1 (agreement, without labels) a candidate may lose (default: "
                        "1.0 int8, 0.5 bf16 and fp32)")
    p.add_argument("--input-size", nargs="+", metavar="N", help="input size C H W (default: the run's / model's)")
    p.add_argument("--engines", nargs="+", help="only these engines")
    p.add_argument("--precisions", nargs="+", choices=("fp32", "bf16", "int8"), help="only these precisions")
    p.add_argument("--check-samples", type=t("check_samples"), default=500, help="test samples checked (default 500)")
    p.add_argument("--calibration", type=t("calibration"), default=300, help="calibration samples (default 300)")
    p.add_argument("--threads", type=t("threads"), default=None, help="inference threads (default: torch's)")
    p.add_argument("--runs", type=t("runs"), default=24, help="timed calls per candidate (default 24)")
    p.add_argument("--weights", help="weights file (default: RUN/model.safetensors)")
    p.add_argument("--json", action="store_true", help="print deploy.json")
    p.set_defaults(func=run)


def _data(args):
    """(model, check data, calibration data, input size, source) for a run folder or a model name."""
    import torch

    from convzoo.cli import CLIError
    from convzoo.cli._common import load_from_args, parse_input_size
    from convzoo.runs import load_run, open_source
    from convzoo.train.batches import prepared_batches
    src = open_source(args.model)
    if src.is_artifact:
        raise CLIError(f"deploy takes a run folder or a model name; {src.describe()} is already an artifact")
    if src.kind != "run":
        size = parse_input_size(args.input_size) if args.input_size else None
        return load_from_args(args).model, None, None, size, {"model": args.model, "weights": args.weights}
    if args.input_size:
        raise CLIError(f"--input-size does not apply to a run folder: {args.model} is deployed at the input it "
                       f"was trained and measured at")
    run = load_run(src.path, weights=args.weights)
    if run.task != "classification":
        raise CLIError(f"deploy checks top-1 of classifiers; {args.model} is a {run.task} run (export it with "
                       f"convzoo export --onnx/--openvino)")
    train, test = run.splits("train", "test")
    size = run.data.image_size
    batches = list(prepared_batches(test, size, args.check_samples))
    check = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    calib = None
    if args.calibration_data is None:
        calib = [x for x, _ in prepared_batches(train, size, args.calibration)]
    desc = {"model": src.model_name, "weights": args.weights or str(src.path / "model.safetensors"),
            "source": str(src.path), "dataset": run.data.dataset, "image_size": size, "data": run.data.to_dict()}
    return run.model, check, calib, tuple(check[0].shape[1:]), desc


def _calibration(args, side):
    """The first --calibration inputs of --calibration-data's train split, resized to ``side``."""
    from convzoo.runs import build_data
    from convzoo.train.batches import prepared_batches
    (train,) = build_data(args.calibration_data, args.data_root, splits=("train",))
    return [x for x, _ in prepared_batches(train, side, args.calibration)]


def run(args) -> int:
    from convzoo.analysis.timing import passive_wait_policy
    passive_wait_policy()
    from convzoo.cli import CLIError
    from convzoo.export import deploy
    from convzoo.export.engines import REGISTRY
    unknown = set(args.engines or ()) - set(REGISTRY)
    if unknown:
        raise CLIError(f"--engines: unknown {', '.join(sorted(unknown))} (known: {', '.join(REGISTRY)})")
    model, check, calib, size, source = _data(args)
    if args.calibration_data is not None:
        cfg = getattr(model, "default_cfg", None) or {}
        calib = _calibration(args, source.get("image_size") or (size or cfg.get("input_size", (None,)))[-1])
    report = deploy(model, args.out, input_size=size, batch=args.batch, data=check, calibration_data=calib,
                    max_drop=args.max_drop, engines=args.engines, precisions=args.precisions,
                    threads=args.threads, runs=args.runs, source=source)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print(report, args.out)
    return 0


def _print(report: dict, out: str) -> None:
    t = report["timing"]
    print(f"{report.get('model')} | batch {report['batch']} x {'x'.join(map(str, report['input_size']))} | "
          f"{t['threads']} threads, OMP_WAIT_POLICY {t['omp_wait_policy']} | checked on {report['checked_on']}")
    print(f"  {'engine':12s} {'precision':9s} {'images/s [quartiles]':>28s} {'top-1':>7s} {'agree':>7s}")
    for r in sorted(report["candidates"], key=lambda r: -(r["images_per_s"] or -1)):
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}"
        agr = "-" if r["agreement"] is None else f"{r['agreement']:.2f}"
        if r["images_per_s"] is None:
            print(f"  {r['engine']:12s} {r['precision']:9s} {'':>28s} {acc:>7s} {agr:>7s}  rejected: {r['rejected']}")
            continue
        mark = "" if r.get("stable", True) else "~"
        speed = f"{r['images_per_s']:.1f}{mark} [{r['images_per_s_q1']:.1f}-{r['images_per_s_q3']:.1f}]"
        print(f"  {r['engine']:12s} {r['precision']:9s} {speed:>28s} {acc:>7s} {agr:>7s}")
    c = report["chosen"]
    print(f"chose {c['engine']} {c['precision']} ({c['images_per_s']:.1f} images/s): wrote {out}/{c['file']} "
          f"and {out}/deploy.json")

