"""Benchmark: convzoo.separable.separable_filter against OpenCV, SciPy and PyTorch's full conv2d.

One float32 image (default 2048 x 2048), a random rank-1 k x k kernel for k = 3, 7, 15, 31, border
BORDER_REFLECT_101 everywhere ("reflect" in convzoo/NumPy/torch, "mirror" in SciPy). All contenders run
in the same process, interleaved round by round so that load from other processes hits them alike;
each gets a warm-up call, and the table shows the median of the repeats (and the best, in brackets).

    python bench/separable_filter.py                 # the table in docs/bench-separable.md
    python bench/separable_filter.py --size 1024 --ks 3 15 --threads 1

Contenders: ours (separable_filter), cv2.sepFilter2D (two 1D passes), cv2.filter2D (full k x k
kernel; OpenCV switches to a DFT for large kernels), scipy.ndimage.correlate1d twice, and torch
F.conv2d with the full k x k kernel on the reflect-padded image. Every output is checked against
cv2.sepFilter2D before timing.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import cv2
import numpy as np
import scipy
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

from convzoo.separable import separable_filter


def contenders(img: np.ndarray, col: np.ndarray, row: np.ndarray):
    k = col.size
    kernel = np.outer(col, row).astype(np.float32)
    timg = torch.from_numpy(img)
    tk = torch.from_numpy(kernel).view(1, 1, k, k)
    reflect = cv2.BORDER_REFLECT_101

    def torch_full():
        padded = F.pad(timg.view(1, 1, *img.shape), (k // 2,) * 4, mode="reflect")
        return F.conv2d(padded, tk)[0, 0]

    return {
        "ours": lambda: separable_filter(timg, (col, row), border="reflect"),
        "cv2.sepFilter2D": lambda: cv2.sepFilter2D(img, -1, row, col, borderType=reflect),
        "cv2.filter2D": lambda: cv2.filter2D(img, -1, kernel, borderType=reflect),
        "scipy correlate1d x2": lambda: ndi.correlate1d(ndi.correlate1d(img, col, axis=0, mode="mirror"),
                                                        row, axis=1, mode="mirror"),
        "torch F.conv2d (full)": torch_full,
    }


def time_all(fns: dict, repeats: int, budget_s: float) -> dict[str, list[float]]:
    """Round-robin timing: every round calls each contender once (slow ones drop out after budget_s)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()                                          # warm-up: allocations, oneDNN kernel JIT
    spent = {name: 0.0 for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if spent[name] > budget_s and len(times[name]) >= 3:
                continue
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            times[name].append(dt)
            spent[name] += dt
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--ks", type=int, nargs="+", default=[3, 7, 15, 31])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2,
                    help="torch and OpenCV threads (SciPy is single-threaded)")
    ap.add_argument("--budget", type=float, default=3.0, help="max seconds per contender and k")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(0)
    img = rng.random((args.size, args.size), dtype=np.float32)

    print(f"# separable_filter benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# {args.size}x{args.size} float32, border reflect-101, {args.threads} threads; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load avg "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"# torch {torch.__version__}, opencv {cv2.__version__}, scipy {scipy.__version__}, "
          f"numpy {np.__version__}")
    print("# median ms of the repeats [best]\n")
    names = list(contenders(img, np.ones(3, np.float32), np.ones(3, np.float32)))
    header = ["k"] + names + ["ours / sepFilter2D", "ours / scipy"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for k in args.ks:
        col = rng.standard_normal(k).astype(np.float32)
        row = rng.standard_normal(k).astype(np.float32)
        fns = contenders(img, col, row)
        ref = fns["cv2.sepFilter2D"]()
        for name, fn in fns.items():                  # everyone computes the same thing
            out = fn()
            out = out.numpy() if isinstance(out, torch.Tensor) else out
            err = np.abs(out - ref).max() / np.abs(ref).max()
            assert err < 1e-4, f"{name} disagrees with cv2.sepFilter2D at k={k}: rel. error {err:.2e}"
        times = time_all(fns, args.repeats, args.budget)
        med = {n: statistics.median(t) * 1e3 for n, t in times.items()}
        best = {n: min(t) * 1e3 for n, t in times.items()}
        cells = [f"{med[n]:.1f} [{best[n]:.1f}]" for n in names]
        cells += [f"{med['ours'] / med['cv2.sepFilter2D']:.2f}",
                  f"{med['ours'] / med['scipy correlate1d x2']:.3f}"]
        print(f"| {k} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
