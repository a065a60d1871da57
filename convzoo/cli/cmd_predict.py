"""``convzoo predict``: classify image files with a pretrained model or a trained run."""
from __future__ import annotations

import argparse
import json

HELP = "classify images with a pretrained model (local file, folder or cache) or a trained run"

EPILOG = """examples:
  convzoo predict cat.jpg --model efficientnet_lite0 --pretrained efficientnet-lite0.pth
  convzoo predict photos/ --model local-dir:out/b0-pets --topk 3
  convzoo predict photos/ --run runs/lite0-pets --json
  convzoo predict photos/ --artifact deployed/lite0-pets       # the deployed file, its run's classes
  convzoo predict street.jpg --run runs/seg-voc --out masks/      # a segmentation run: palette PNG masks

Label names come from the model folder's config.json or the run's classes, else the ImageNet-1k
names when the model has 1000 classes, else class indices. --json prints one entry per image:
{"image": path, "top": [{"index": i, "label": name, "prob": p}, ...]} (descending probability).
A segmentation run writes one palette PNG mask per image (VOC's palette) under --out, at the image's
size; --json then gives {"image", "mask", "pixels": {class index: fraction}} per image."""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("predict", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders (searched recursively)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="registered model name, local-dir:DIR or hf-hub:ORG/NAME")
    src.add_argument("--run", metavar="RUN_DIR", help="a run folder written by convzoo train")
    src.add_argument("--artifact", metavar="FILE_OR_FOLDER",
                     help="a deploy or quantize folder, an OpenVINO IR or an .onnx file exported from a run "
                          "(fed and labelled as its run was)")
    p.add_argument("--pretrained", metavar="SRC", help="with --model: weights file or model folder (default: the "
                   "local Hugging Face cache or torch hub folder)")
    p.add_argument("--topk", type=t("topk"), default=5, help="classes shown per image (default 5)")
    p.add_argument("--batch-size", type=t("batch_size"), default=16)
    p.add_argument("--json", action="store_true", help="print a JSON list, one entry per image")
    p.add_argument("--out", metavar="DIR", default="masks",
                   help="segmentation runs: folder for the PNG masks (default: masks/; must be new or empty)")
    p.set_defaults(func=run)


def run(args) -> int:
    from convzoo.cli import CLIError
    from convzoo.runs import open_source
    from convzoo.runs.prediction import image_list, predict
    image_list(args.images)                     # a missing image before any model is loaded
    if args.pretrained and not args.model:
        raise CLIError("--pretrained goes with --model (a run folder or an artifact already holds its weights)")
    if args.run or args.artifact:
        src = open_source(args.run or args.artifact)
        if args.run and src.kind != "run":
            raise CLIError(f"--run takes a run folder; {src.describe()} is not one (use --artifact)")
        if args.artifact and not src.is_artifact:
            raise CLIError(f"--artifact takes a deploy or quantize folder, an IR or an .onnx file; {src.describe()} "
                           f"is not one" + (" (use --run)" if src.kind == "run" else ""))
    rows = predict(args.run or args.artifact or args.model, args.images, topk=args.topk, pretrained=args.pretrained,
                   batch_size=args.batch_size, out=args.out)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        if "mask" in r:
            print(f"{r['image']} -> {r['mask']}")
        else:
            print(f"{r['image']}: " + "  ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"]))
    return 0
