"""Benchmark: one dense conv against each of its factorised forms (``convzoo.compress``), at the ranks
that cut its MACs 2x and 4x, on eager PyTorch and ONNX Runtime, batch 1, CPU.

Where the measured speed-up falls short of the MAC ratio, the table shows it: a factorised form runs
2-5 small convs instead of one, each a separate kernel launch reading and writing its feature map, and
depthwise / 1D convs reach a small share of the machine's peak (no data reuse across channels). The
dense conv and its factorised form are timed interleaved in one process (``interleaved_medians``), so
load from other processes hits both alike.

    python bench/compress.py                       # the table in docs/compress.md
    python bench/compress.py --threads 2 --shapes conv3x3_64_16
"""
from __future__ import annotations

import argparse
import json
import os
import platform

import torch
from torch import nn

# name -> (conv, input (C, *S), methods)
SHAPES = {
    "conv3x3_64_32": (lambda: nn.Conv2d(64, 64, 3, padding=1), (64, 32, 32),
                      ("spatial", "channel", "tucker2", "cp", "dwsep")),
    "conv3x3_64_16": (lambda: nn.Conv2d(64, 64, 3, padding=1), (64, 16, 16),
                      ("spatial", "channel", "tucker2", "cp", "dwsep")),
    "conv3x3_256_8": (lambda: nn.Conv2d(256, 256, 3, padding=1), (256, 8, 8),
                      ("spatial", "channel", "tucker2", "dwsep")),
    "dw7x7_96_28": (lambda: nn.Conv2d(96, 96, 7, padding=3, groups=96), (96, 28, 28), ("separable_dw",)),
    "conv3d_3x3x3_32": (lambda: nn.Conv3d(32, 32, 3, padding=1), (32, 8, 16, 16),
                        ("spatial", "channel", "tucker2", "dwsep")),
    "conv1d_k9_64": (lambda: nn.Conv1d(64, 64, 9, padding=4), (64, 1000), ("channel", "tucker2", "dwsep")),
}


def run(shapes, targets, engines, only=None) -> list:
    from convzoo.compress import compress
    from convzoo.compress.latency import compare_ms
    rows = []
    for name in shapes:
        make, size, methods = SHAPES[name]
        torch.manual_seed(0)
        dense = nn.Sequential(make()).eval()
        x = torch.randn(1, *size)
        for method in [m for m in methods if only is None or m in only]:
            for target in targets:
                try:
                    new, rep = compress(dense, method, macs_ratio=target, example_input=x)
                except ValueError as e:
                    rows.append({"shape": name, "method": method, "target": target, "skipped": str(e)})
                    continue
                row = {"shape": name, "method": method, "target": target, "rank": rep["layers"][0].get("rank"),
                       "mac_ratio": rep["macs_before"] / rep["macs_after"],
                       "weight_error": rep["layers"][0].get("relative_weight_error")}
                for engine in engines:
                    ms = compare_ms({"dense": dense, "factorized": new}, x, engine, runs=60, rounds=6)
                    row[engine] = {"dense_ms": ms["dense"], "factorized_ms": ms["factorized"],
                                   "speedup": ms["dense"] / ms["factorized"]}
                rows.append(row)
                print(_line(row, engines), flush=True)
    return rows


def _line(r: dict, engines) -> str:
    if "skipped" in r:
        return f"| {r['shape']} | {r['method']} | {r['target']:g}x | skipped: {r['skipped']} |"
    cells = " | ".join(f"{r[e]['speedup']:.2f}x ({r[e]['dense_ms']:.3f} ms dense)" for e in engines)
    return f"| {r['shape']} | {r['method']} | {r['target']:g}x | {r['rank']} | {r['mac_ratio']:.2f}x | {cells} |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--targets", nargs="+", type=float, default=[2.0, 4.0])
    p.add_argument("--engines", nargs="+", default=["eager", "onnxruntime"])
    p.add_argument("--methods", nargs="+", help="only these methods")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {args.threads} thread(s), load "
          f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}")
    print("| shape | method | target | rank | MAC ratio | " + " | ".join(args.engines) + " |")
    rows = run(args.shapes, args.targets, args.engines, args.methods)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
