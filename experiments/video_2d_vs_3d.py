"""2D vs 3D convolution on MovingDigits: does the kernel need a time axis?

Four nets of the same widths (``VIDEO_SMALL`` in convzoo/models/video_small.py) are trained on the same
clips (a digit moving in one of 8 directions, 8 frames of 24x24; label = direction):

- ``frame2d_small``: 2D convs on the middle frame only (the frame carries no direction: chance 12.5 %)
- ``stack2d_small``: 2D convs on the 8 frames stacked as channels (time collapsed by the first conv)
- ``c3d_small``: 3x3x3 convs (C3D-style, Tran et al. 2015)
- ``r2plus1d_small``: (2+1)D convs (Tran et al. 2018)

One command (about 10-20 min on 2 CPU cores):

    .venv/bin/python experiments/video_2d_vs_3d.py

prints a table of test accuracy, params and MACs and writes ``experiments/results/video_2d_vs_3d.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

import convzoo
from convzoo.data import get_dataset
from convzoo.train import TrainConfig, fit

MODELS = ("frame2d_small", "stack2d_small", "c3d_small", "r2plus1d_small")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="experiments/results/video_2d_vs_3d.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train = get_dataset("moving_digits", "train", size=args.train_size)
    test = get_dataset("moving_digits", "test", size=args.test_size)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer="adamw",
                      weight_decay=1e-4, warmup_epochs=0.5, seed=0, device=args.device, latency_runs=10)
    rows = []
    for name in args.models:
        model = convzoo.create_model(name, num_classes=8, in_chans=1)
        t0 = time.time()
        rep = fit(model, train, test, cfg, out_dir=None, progress=sys.stderr.isatty(),
                  run_info={"model": name, "dataset": "moving_digits"}, dataset_name="moving_digits")
        rows.append(dict(model=name, accuracy=rep["accuracy"], params=rep["params"], macs=rep["macs"],
                         latency_ms=rep["latency_ms"], epochs=rep["epochs"],
                         wall_time_s=round(time.time() - t0, 1)))
        print(f"{name}: acc {rep['accuracy']:.4f} ({rows[-1]['wall_time_s']} s)", flush=True)
    print()
    print(f"{'model':<16} {'test acc':>9} {'params':>9} {'MACs':>12} {'time (s)':>9}")
    for r in rows:
        macs = f"{r['macs'] / 1e6:.1f}M" if r["macs"] else "-"
        print(f"{r['model']:<16} {100 * r['accuracy']:>8.2f}% {r['params']:>9,} {macs:>12} "
              f"{r['wall_time_s']:>9}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = dict(experiment="video_2d_vs_3d", dataset="moving_digits", train_size=len(train),
                  test_size=len(test), config=cfg.to_dict(), command=" ".join([sys.executable] + sys.argv),
                  torch=torch.__version__, rows=rows)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
