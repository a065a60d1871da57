"""``convzoo eval``: a run, an artifact or saved weights on a test split (:func:`convzoo.runs.evaluate`)."""
from __future__ import annotations

import argparse
import json

HELP = "evaluate a run folder, a deploy or quantize folder, an IR or .onnx file (or a weights file) on a test split"

EPILOG = """examples:
  convzoo eval runs/variant_conv-digits-20260101-120000
  convzoo eval deployed/mnv2           # an artifact, fed as its source run was: no data flags
  convzoo eval --model variant_conv --weights model.safetensors --dataset digits

A folder or file is evaluated on the test split its producer recorded (dataset, root, options,
image size, normalisation); the data flags override it, and one that contradicts an artifact's
fixed input shape is refused. The result is checked against the accuracy the producer recorded
(train's report.json, deploy's chosen candidate, quantize's int8 row) when it measured the same data."""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("eval", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", help="a run, deploy or quantize folder, an OpenVINO IR or an .onnx file")
    p.add_argument("--weights", help="safetensors file (default: RUN_DIR/model.safetensors)")
    p.add_argument("--model", help="model name, with --weights and --dataset (instead of RUN_DIR)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="extra create_model option (with --model)")
    p.add_argument("--dataset", help="dataset (default: the recorded one)")
    p.add_argument("--data-root", help="folder of an on-disk dataset (default: the recorded one)")
    p.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="dataset option (default: the recorded ones)")
    p.add_argument("--image-size", type=t("image_size"), help="resize images to this side (default: the recorded one)")
    p.add_argument("--batch-size", type=t("batch_size"), default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from convzoo.cli import CLIError
    from convzoo.runs import evaluate, parse_kv
    if args.run_dir and args.model:
        raise CLIError(f"give RUN_DIR or --model, not both (--model {args.model} does not apply to {args.run_dir})")
    if not args.run_dir and not (args.model and args.weights and args.dataset):
        raise CLIError("give a RUN_DIR (or deploy folder, IR, .onnx), or --model, --weights and --dataset")
    res = evaluate(args.run_dir or args.model, dataset=args.dataset, data_root=args.data_root,
                   data_kwargs=parse_kv(args.data_arg, "--data-arg") or None, image_size=args.image_size,
                   weights=args.weights, model_kwargs=parse_kv(args.model_arg, "--model-arg") or None,
                   batch_size=args.batch_size, device=args.device)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    how = "" if res["source"] in ("run", "model") else f" ({res['engine']} {res['precision']})"
    line = (f"{res['model'] or args.run_dir}{how} on {res['dataset']} (test, {res['samples']} samples): accuracy "
            f"{res['accuracy']:.4f}  loss {res['loss']:.4f}")
    if "miou" in res:   # segmentation: accuracy is per pixel
        names = res.get("class_names") or range(len(res["iou"]))
        iou = "  ".join(f"{c}:{v:.3f}" if v is not None else f"{c}:n/a" for c, v in zip(names, res["iou"]))
        line += f"  mIoU {res['miou']:.4f}\nper-class IoU  {iou}"
    if "agrees_with_report" in res:
        by = {"train": "report.json", "deploy": "deploy.json", "quantize": "report.json"}[res["report_by"]]
        line += f"  (matches {by})" if res["agrees_with_report"] else \
            f"  ({by} says {res['report_accuracy']:.4f}" + (f" on {res['report_samples']} samples)"
                                                             if "report_samples" in res else ")")
    print(line)
    return 0
