"""Dense prediction on the built-in ``seg_digits`` task: how a segmenter gets back to full resolution.

The task is figure-ground (``labels="binary"``): digit strokes against background and fragments of
other digits that look like strokes, on a 48 x 48 canvas (3 digits of 16 x 16).

Three ways, one backbone (MobileNetV2 x0.35, 1 input channel), same training recipe:

    os32_bilinear   DeepLabV3 head on the stride-32 map, logits resized bilinearly (FCN-32s style)
    os8_dilated     the same head, the backbone's last two strides replaced by dilation
                    (output_stride=8, arXiv:1706.05587): the map stays 4x4 times larger, same RF
    os32_unet       stride-32 backbone + U-Net decoder upsampling with 2x2/s2 transposed convs

Reported per configuration: test mIoU and pixel accuracy (mean and 95 % t-interval over seeds), MACs
and parameters at the training size, CPU latency at batch 1 (median over interleaved rounds, as a
ratio to os32_bilinear), and the receptive field of the backbone's last layer (convzoo's profiler,
following the data flow; undefined past a transposed conv, so the decoder's own is not given).

    .venv/bin/python experiments/dense.py                 # 3 seeds (~3 CPU-minutes a seed on 1 core)
    .venv/bin/python experiments/dense.py --seeds 0      # one seed

writes ``experiments/results/dense.json`` and prints a Markdown table (docs/dense.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from convzoo.analysis import profile
from convzoo.analysis.stats import mean_ci
from convzoo.analysis.timing import interleaved_times, pooled_medians, round_ratios
from convzoo.data import get_dataset
from convzoo.models.segmentation import create_segmenter
from convzoo.train import TrainConfig, fit

BACKBONE, BACKBONE_KW = "mobilenet_v2", dict(width_mult=0.35)
CONFIGS = {
    "os32_bilinear": dict(head="deeplabv3", output_stride=32),
    "os8_dilated": dict(head="deeplabv3", output_stride=8),
    "os32_unet": dict(head="unet", output_stride=32, upsample="transposed"),
}
DATA = dict(canvas=48, digits=3, clutter=6, labels="binary")


def build(name: str, num_classes: int):
    return create_segmenter(BACKBONE, num_classes=num_classes, in_chans=1, **CONFIGS[name], **BACKBONE_KW)


def backbone_rf(seg, size: int):
    """Receptive field (pixels) of the backbone's deepest tapped map."""
    class Deepest(torch.nn.Module):
        def __init__(self, trunk):
            super().__init__()
            self.trunk = trunk

        def forward(self, x):
            return self.trunk(x)[-1]
    rows = profile(Deepest(seg.backbone), (1, size, size)).layers
    rfs = [r.receptive_field for r in rows if r.receptive_field is not None]
    return rfs[-1] if rfs else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--train-size", type=int, default=128)
    ap.add_argument("--test-size", type=int, default=64)
    ap.add_argument("--out", default="experiments/results/dense.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    train = get_dataset("seg_digits", "train", size=args.train_size, **DATA)
    test = get_dataset("seg_digits", "test", size=args.test_size, **DATA)
    size = DATA["canvas"]
    # finished (seed, configuration) runs are kept in a side file, so a later call with more seeds
    # trains only the new ones
    done_path = Path(args.out).with_suffix(".runs.json")
    done = json.loads(done_path.read_text()) if done_path.is_file() else {}
    results: dict = {k: {"miou": [], "pixel_accuracy": [], "train_s": []} for k in CONFIGS}
    for seed in args.seeds:
        for name in CONFIGS:
            key = f"{name}/{seed}/{args.epochs}/{args.train_size}/{args.test_size}"
            if key in done:
                for k, v in done[key].items():
                    results[name][k].append(v)
                continue
            torch.manual_seed(seed)
            model = build(name, train.num_classes)
            cfg = TrainConfig(task="segmentation", epochs=args.epochs, batch_size=16, lr=3e-3,
                              weight_decay=1e-4, warmup_epochs=0.5, seed=seed, device="cpu", latency_runs=1)
            t = time.perf_counter()
            rep = fit(model, train, test, cfg, progress=False)
            results[name]["miou"].append(rep["miou"])
            results[name]["pixel_accuracy"].append(rep["accuracy"])
            results[name]["train_s"].append(round(time.perf_counter() - t, 1))
            done[key] = {k: results[name][k][-1] for k in ("miou", "pixel_accuracy", "train_s")}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            done_path.write_text(json.dumps(done, indent=1))
            print(f"seed {seed} {name}: mIoU {rep['miou']:.4f}  pixel acc {rep['accuracy']:.4f}  "
                  f"({results[name]['train_s'][-1]} s)", file=sys.stderr)
    models = {k: build(k, train.num_classes).eval() for k in CONFIGS}
    x = torch.randn(1, 1, size, size)
    with torch.no_grad():
        times = interleaved_times({k: (lambda m=m: m(x)) for k, m in models.items()}, runs=40, rounds=8)
    med, ratios = pooled_medians(times), round_ratios(times, "os32_bilinear")
    for k, m in models.items():
        p = profile(m.logits_only(), (1, size, size))
        r = results[k]
        r.update(params=p.params, macs=p.macs, latency_ms=round(med[k] * 1e3, 3),
                 speed_vs_os32_bilinear=[round(v, 3) for v in ratios[k]],
                 backbone_rf=backbone_rf(m, size),
                 deepest_map=list(m.backbone(x)[-1].shape[-2:]),
                 miou_ci=mean_ci(r["miou"]).as_dict(), pixel_accuracy_ci=mean_ci(r["pixel_accuracy"]).as_dict())
    meta = dict(backbone=BACKBONE, backbone_kwargs=BACKBONE_KW, data=DATA, train_size=args.train_size,
                test_size=args.test_size, epochs=args.epochs, seeds=args.seeds, torch_threads=1,
                torch=torch.__version__)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(table(results))
    return 0


def table(results: dict) -> str:
    lines = ["| configuration | mIoU (95 % CI) | pixel acc. | params | MACs | latency (x os32_bilinear speed) "
             "| deepest map | backbone RF |", "|---|---|---|---|---|---|---|---|"]
    for k, r in results.items():
        ci = r["miou_ci"]
        iv = f"{ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]" if ci["n"] > 1 else f"{ci['mean']:.3f} (1 seed)"
        speed = statistics.median(r["speed_vs_os32_bilinear"])
        lines.append(f"| {k} | {iv} | {statistics.fmean(r['pixel_accuracy']):.3f} | {r['params']:,} | "
                     f"{r['macs'] / 1e6:.1f} M | {r['latency_ms']:.2f} ms ({speed:.2f}x) | "
                     f"{'x'.join(map(str, r['deepest_map']))} | {r['backbone_rf']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
