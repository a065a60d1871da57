"""``convzoo eval``: evaluate saved weights on a dataset's test split."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "evaluate a run folder's (or a weights file's) model on a test split"

EPILOG = """examples:
  convzoo eval runs/variant_conv-digits-20260101-120000
  convzoo eval --model variant_conv --weights model.safetensors --dataset digits"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("eval", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", help="a run folder written by convzoo train")
    p.add_argument("--weights", help="safetensors file (default: RUN_DIR/model.safetensors)")
    p.add_argument("--model", help="model name (default: the run's)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="extra create_model option")
    p.add_argument("--dataset", help="dataset (default: the run's)")
    p.add_argument("--data-root", help="folder of an on-disk dataset")
    p.add_argument("--image-size", type=t("image_size"), help="resize images to this side (default: the run's)")
    p.add_argument("--batch-size", type=t("batch_size"), default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from convzoo.cli import CLIError
    from convzoo.train import TrainConfig, evaluate
    from convzoo.weights import load_weights
    from convzoo.train.augment import eval_image_size
    from convzoo.train.distributed import resolve_device
    from convzoo.train.engine import check_fits
    from convzoo.train.runs import build_data, build_run_model, parse_kv, read_run_config
    run_cfg, image_size = {}, args.image_size
    if args.run_dir and (Path(args.run_dir) / "deploy.json").is_file():    # a convzoo deploy folder
        from convzoo.cli.cmd_deploy import eval_deployed
        return eval_deployed(args)
    if args.run_dir and (Path(args.run_dir) / "quantize.json").is_file():
        return _eval_int8(args)
    if args.run_dir:
        run_cfg = read_run_config(args.run_dir)
        if image_size is None:
            image_size = eval_image_size(TrainConfig.from_dict(run_cfg["train"]))
    elif not (args.model and args.weights and args.dataset):
        raise CLIError("give a RUN_DIR, or --model, --weights and --dataset")
    model_name = args.model or run_cfg["model"]
    dataset = args.dataset or run_cfg["dataset"]
    data_root = args.data_root or run_cfg.get("data_root")
    model_kw = {**run_cfg.get("model_kwargs", {}), **parse_kv(args.model_arg, "--model-arg")}
    weights = Path(args.weights) if args.weights else Path(args.run_dir) / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"weights file not found: {weights}")
    from convzoo.registry import model_entrypoint
    model_entrypoint(model_name)
    (test_set,) = build_data(dataset, data_root, run_cfg.get("data_kwargs", {}) if not args.dataset else {},
                             splits=("test",))
    task = run_cfg.get("train", {}).get("task", "classification")
    model = build_run_model(model_name, test_set, model_kw, task=task)
    check_fits(model, test_set, dataset)
    # our own layout when it is a run's file; strict, finite, and the classifier must load
    load_weights(model, weights, layout="convzoo" if not args.weights else None, allow_new_head=False)
    device = resolve_device(args.device)
    model.to(device)
    res = evaluate(model, test_set, batch_size=args.batch_size, image_size=image_size, device=device)
    res = {"model": model_name, "dataset": dataset, "weights": str(weights), **res}
    report_path = Path(args.run_dir) / "report.json" if args.run_dir else None
    if report_path is not None and report_path.is_file() and not args.weights:
        rep = json.loads(report_path.read_text())
        res["report_accuracy"] = rep.get("accuracy")
        res["agrees_with_report"] = (rep.get("accuracy") is not None
                                     and abs(rep["accuracy"] - res["accuracy"]) < 1e-9)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        line = (f"{model_name} on {dataset} (test, {res['samples']} samples): accuracy {res['accuracy']:.4f}  "
                f"loss {res['loss']:.4f}")
        if "miou" in res:   # segmentation: accuracy is per pixel
            iou = "  ".join(f"{c}:{v:.3f}" if v is not None else f"{c}:n/a"
                            for c, v in zip(getattr(test_set, "classes", range(len(res["iou"]))), res["iou"]))
            line += f"  mIoU {res['miou']:.4f}\nper-class IoU  {iou}"
        if "agrees_with_report" in res:
            line += "  (matches report.json)" if res["agrees_with_report"] else \
                f"  (report.json says {res['report_accuracy']:.4f})"
        print(line)
    return 0


def _eval_int8(args) -> int:
    """A folder written by convzoo quantize: the int8 OpenVINO IR on the test split of its dataset."""
    from convzoo.export import load_quantized
    from convzoo.train import evaluate
    from convzoo.train.runs import build_data
    q = load_quantized(args.run_dir)
    name, dataset = q.info.get("model"), args.dataset or q.info.get("dataset")
    same = not args.dataset or args.dataset == q.info.get("dataset")   # the folder's own data: no flags needed
    (test_set,) = build_data(dataset, args.data_root or (q.info.get("data_root") if same else None),
                             q.info.get("data_kwargs") if same else None, splits=("test",))
    import torch
    res = evaluate(q, test_set, batch_size=args.batch_size, image_size=args.image_size or q.info.get("image_size"),
                   device=torch.device("cpu"))
    res = {"model": name, "dataset": dataset, "precision": "int8", "int8_dir": args.run_dir, **res}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{name} int8 on {dataset} (test, {res['samples']} samples): accuracy {res['accuracy']:.4f}  "
              f"loss {res['loss']:.4f}")
    return 0
