"""``convzoo predict``: classify image files with a pretrained model or a trained run."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    files = _image_list(args.images)
    if args.pretrained and not args.model:
        raise CLIError("--pretrained goes with --model (a run folder or an artifact already holds its weights)")
    model, preprocess, data = _load(args)
    if (data.task if data is not None else getattr(model, "task", "classification")) == "segmentation":
        return _segment(model, preprocess, files, args)
    labels = _labels(model, data)
    k = min(args.topk, len(labels))
    results = []
    for i in range(0, len(files), args.batch_size):
        chunk = files[i:i + args.batch_size]
        results += _classify(model, preprocess, chunk, k, labels)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            top = "  ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"])
            print(f"{r['image']}: {top}")
    return 0


def _image_list(items) -> list[Path]:
    from convzoo.cli import CLIError
    from convzoo.data.imagefolder import image_files
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = image_files(p)
            if not found:
                raise CLIError(f"{p} holds no image files (looked for .jpg, .png, ... recursively)")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise CLIError(f"image not found: {p}")
    return files


def _load(args):
    """(model or runner in eval mode, a function path -> input tensor, the data spec or None)."""
    import torch
    from convzoo.cli import CLIError
    from convzoo.data.imagefolder import open_image
    if args.run or args.artifact:
        from convzoo.runs import check_feeds, load_source, open_source
        src = open_source(args.run or args.artifact)
        if args.run and src.kind != "run":
            raise CLIError(f"--run takes a run folder; {src.describe()} is not one (use --artifact)")
        if args.artifact and not src.is_artifact:
            raise CLIError(f"--artifact takes a deploy or quantize folder, an IR or an .onnx file; {src.describe()} "
                           f"is not one" + (" (use --run)" if src.kind == "run" else ""))
        loaded = load_source(src)
        if loaded.data is None:
            raise CLIError(f"{src.describe()} records no preprocessing (exported from a bare model name): predict "
                           f"from the run it came from, or export it from a run")
        preprocess = loaded.data.image_preprocess()
        check_feeds(loaded, loaded.data.model_input_size(), "its recorded preprocessing")
        if loaded.fixed_input and loaded.data.task == "segmentation":   # images come at their own size
            return loaded.model, _fixed(preprocess, loaded), loaded.data
        return loaded.model, preprocess, loaded.data
    import convzoo
    from convzoo.data.transforms import create_transform, resolve_data_config
    if args.model.startswith(("local-dir:", "hf-hub:")):
        model = convzoo.create_model(args.model)
    elif args.pretrained:
        model = convzoo.create_model(args.model, pretrained=True, pretrained_cfg_overlay=dict(file=args.pretrained))
    else:
        model = convzoo.create_model(args.model, pretrained=True)   # the local caches, or one line why not
    model.eval()
    cfg = resolve_data_config(model)
    tf = create_transform(cfg)
    mode = "L" if cfg["input_size"][0] == 1 else "RGB"
    return model, (lambda p: tf(open_image(p, mode)).to(torch.float32)), None


def _fixed(preprocess, loaded):
    """``preprocess`` that refuses an image whose size the artifact's fixed input does not take."""
    from convzoo.runs import check_feeds

    def go(path):
        x = preprocess(path)
        check_feeds(loaded, tuple(x.shape), f"image {path}")
        return x
    return go


def _segment(model, preprocess, files, args) -> int:
    """One palette PNG mask per image, at the image's own size (segmenters take any size)."""
    import torch
    from convzoo.cli import CLIError
    from convzoo.data.segmentation import masks_from_logits, save_mask_png
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CLIError(f"--out {out} exists and is not an empty folder (masks are never written over)")
    xs = []
    for f in files:   # read them all first: a bad image stops the command before any mask is written
        try:
            xs.append(preprocess(f))
        except ValueError as e:
            raise CLIError(str(e)) from None
    rows, used = [], set()
    for i, (f, x) in enumerate(zip(files, xs)):
        with torch.no_grad():
            mask = masks_from_logits(model(x[None]))[0]
        name = f"{f.stem}.png" if f.stem not in used else f"{f.stem}-{i}.png"
        used.add(f.stem)
        path = save_mask_png(mask, out / name)
        counts = torch.bincount(mask.flatten().long(), minlength=1).double() / mask.numel()
        rows.append({"image": str(f), "mask": str(path),
                     "pixels": {int(c): round(float(v), 6) for c, v in enumerate(counts) if v > 0}})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['image']} -> {r['mask']}")
    return 0


def _labels(model, data=None) -> list[str]:
    n = int(getattr(model, "num_classes", 0) or (data.num_classes if data is not None else 0) or 0)
    names = (getattr(model, "default_cfg", None) or {}).get("label_names") or (data and data.class_names)
    if names and len(names) == n:
        return [str(x) for x in names]
    if n == 1000:
        from convzoo.data.labels import imagenet_labels
        return imagenet_labels()
    return [str(i) for i in range(n)]


def _classify(model, preprocess, files, k: int, labels: list[str]) -> list[dict]:
    import torch
    from convzoo.cli import CLIError
    xs = []
    for f in files:
        try:
            xs.append(preprocess(f))
        except ValueError as e:
            raise CLIError(str(e)) from None
    with torch.no_grad():
        probs = model(torch.stack(xs)).float().softmax(-1)
    if not bool(torch.isfinite(probs).all()):
        raise CLIError(f"the model gave non-finite outputs on {[str(f) for f in files][:3]} (broken weights?)", code=1)
    vals, idx = probs.topk(k, dim=-1)
    return [{"image": str(f), "top": [{"index": int(i), "label": labels[int(i)], "prob": float(v)}
                                      for v, i in zip(vs, ix)]}
            for f, vs, ix in zip(files, vals, idx)]
