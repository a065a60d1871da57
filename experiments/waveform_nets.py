"""Dai et al.'s raw-waveform nets (M3 ... M34-res) and their depthwise-separable variants on the
built-in 1D data: SpokenDigits (speaker-independent test: voices never heard in training) and
MNIST-1D (the paper's 4000 / 1000 split).

One command per dataset (each a few minutes to tens of minutes on 2 CPU cores):

    .venv/bin/python experiments/waveform_nets.py --dataset spoken_digits
    .venv/bin/python experiments/waveform_nets.py --dataset mnist1d

prints a table of test accuracy, params and MACs and writes
``experiments/results/waveform_<dataset>.json``.

SpokenDigits clips are 1 s at 8 kHz (8000 samples), so the nets are the paper's, unchanged (conv1
[80/4], max-pool 4). MNIST-1D sequences have 40 samples: conv1 [80/4] + pool 4 would reduce them to
3 positions, so there the stem is a 5-tap stride-1 conv and every max-pool is 2 (``stem_kernel=5,
stem_stride=1, pool=2``); the groups, widths and depths stay Table 1's.
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

MODELS = ("waveform_m3", "waveform_m5", "waveform_m11", "waveform_m18", "waveform_m34_res",
          "waveform_m11_dws", "waveform_m18_dws")
SHORT_SIGNAL = dict(stem_kernel=5, stem_stride=1, pool=2)      # MNIST-1D's 40 samples
DEFAULTS = {"spoken_digits": dict(epochs=4, batch_size=32, lr=3e-3),
            "mnist1d": dict(epochs=20, batch_size=128, lr=3e-3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=sorted(DEFAULTS), default="spoken_digits")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--train-size", type=int, help="default: the dataset's (2000 / 4000)")
    p.add_argument("--test-size", type=int, help="default: the dataset's (600 / 1000)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    hp = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in DEFAULTS[args.dataset].items()}
    kw_train = {"size": args.train_size} if args.train_size else {}
    kw_test = {"size": args.test_size} if args.test_size else {}
    train = get_dataset(args.dataset, "train", **kw_train)
    test = get_dataset(args.dataset, "test", **kw_test)
    model_kw = SHORT_SIGNAL if args.dataset == "mnist1d" else {}
    cfg = TrainConfig(epochs=hp["epochs"], batch_size=hp["batch_size"], lr=hp["lr"], optimizer="adamw",
                      weight_decay=1e-4, warmup_epochs=0.5, seed=0, device=args.device, latency_runs=10)
    out = Path(args.out or f"experiments/results/waveform_{args.dataset}.json")
    result = dict(experiment="waveform_nets", dataset=args.dataset, train_size=len(train), test_size=len(test),
                  model_kwargs=model_kw, config=cfg.to_dict(), command=" ".join(["python"] + sys.argv),
                  torch=torch.__version__, threads=args.threads)
    rows = []
    for name in args.models:
        model = convzoo.create_model(name, num_classes=10, **model_kw)
        t0 = time.time()
        rep = fit(model, train, test, cfg, out_dir=None, progress=sys.stderr.isatty(),
                  run_info={"model": name, "dataset": args.dataset}, dataset_name=args.dataset)
        rows.append(dict(model=name, accuracy=rep["accuracy"], params=rep["params"], macs=rep["macs"],
                         latency_ms=rep["latency_ms"], epochs=rep["epochs"],
                         wall_time_s=round(time.time() - t0, 1)))
        print(f"{name}: acc {rep['accuracy']:.4f} ({rows[-1]['wall_time_s']} s)", flush=True)
        _write(out, dict(result, rows=rows))               # after every model: partial runs keep results
    print()
    print(f"{'model':<18} {'test acc':>9} {'params':>10} {'MACs':>10} {'time (s)':>9}")
    for r in rows:
        macs = f"{r['macs'] / 1e6:.1f}M" if r["macs"] else "-"
        print(f"{r['model']:<18} {100 * r['accuracy']:>8.2f}% {r['params']:>10,} {macs:>10} {r['wall_time_s']:>9}")
    return 0


def _write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)


if __name__ == "__main__":
    sys.exit(main())
