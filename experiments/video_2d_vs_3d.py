"""2D vs 3D convolution on DigitOrder: does time matter beyond the first layer?

Four nets of the same widths (``VIDEO_SMALL`` in convzoo/models/video_small.py) are trained on the same
clips (``digit_order``: a handwritten 0 and a 1 each flashed for one frame of 16, at one random place,
random times and random polarity; label = the digit shown first; see convzoo/data/digit_order.py):

- ``frame2d_small``: 2D convs on the middle frame only (the frame carries no order: chance 50 %)
- ``stack2d_small``: 2D convs on the 16 frames stacked as channels (time collapsed by the first conv,
  a linear mix of frames whose polarities are random)
- ``c3d_small``: 3x3x3 convs (C3D-style, Tran et al. 2015)
- ``r2plus1d_small``: (2+1)D convs (Tran et al. 2018)

Each net is trained with ``--seeds`` seeds (model init and data order; the clips are fixed) on the
whole 2000-clip train split (with 1000 clips, (2+1)D memorised the training set on 2 seeds of 5:
train accuracy 100 %, test 55-68 %), in ``--workers`` processes of one thread each. One command
(about 8 minutes on an idle 2-core machine):

    .venv/bin/python experiments/video_2d_vs_3d.py

appends one line per finished run to ``experiments/results/video_2d_vs_3d_runs.jsonl`` (a rerun skips
the runs already there), then prints the table (mean test accuracy with its 95% t-interval over seeds,
Welch's test of each net against ``stack2d_small``) and writes ``experiments/results/video_2d_vs_3d.json``,
from which figure 9 (``convzoo figures``) draws its accuracy panel.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

MODELS = ("frame2d_small", "stack2d_small", "c3d_small", "r2plus1d_small")
DATASET = "digit_order"
RESULTS = Path(__file__).resolve().parent / "results"


def train_one(name: str, seed: int, args: dict) -> dict:
    """One (net, seed) run in its own process (one thread); returns its row."""
    import torch

    import convzoo
    from convzoo.data import get_dataset
    from convzoo.train import TrainConfig, fit
    torch.set_num_threads(1)
    train = get_dataset(DATASET, "train", size=args["train_size"])
    test = get_dataset(DATASET, "test", size=args["test_size"])
    cfg = TrainConfig(epochs=args["epochs"], batch_size=args["batch_size"], lr=args["lr"], optimizer="adamw",
                      weight_decay=1e-4, warmup_epochs=0.5, seed=seed, device="cpu", latency_runs=10,
                      eval_every=args["epochs"], deterministic=True)
    torch.manual_seed(seed)
    _, frames, side, _ = train.input_size
    model = convzoo.create_model(name, num_classes=train.num_classes, in_chans=1, num_frames=frames,
                                 frame_size=side)
    t0, c0 = time.time(), time.process_time()
    rep = fit(model, train, test, cfg, out_dir=None, progress=False,
              run_info={"model": name, "dataset": DATASET}, dataset_name=DATASET)
    return dict(model=name, seed=seed, accuracy=rep["accuracy"], params=rep["params"], macs=rep["macs"],
                latency_ms=rep["latency_ms"], wall_time_s=round(time.time() - t0, 1),
                cpu_time_s=round(time.process_time() - c0, 1), config=cfg.to_dict(),
                train_size=len(train), test_size=len(test))


def summarize(rows: list[dict], models=MODELS, ref: str = "stack2d_small") -> list[dict]:
    """Per net: mean accuracy and 95% t-interval over seeds, Welch's p against ``ref``."""
    from convzoo.analysis.stats import mean_ci, welch_p
    out = []
    ref_acc = [r["accuracy"] for r in rows if r["model"] == ref]
    for m in models:
        rs = sorted((r for r in rows if r["model"] == m), key=lambda r: r["seed"])
        if not rs:
            continue
        acc = [r["accuracy"] for r in rs]
        s = dict(model=m, seeds=[r["seed"] for r in rs], accuracies=acc, accuracy=mean_ci(acc).as_dict(),
                 params=rs[0]["params"], macs=rs[0]["macs"],
                 latency_ms=sorted(r["latency_ms"] for r in rs)[len(rs) // 2],
                 wall_time_s=sum(r["wall_time_s"] for r in rs) / len(rs))
        if m != ref and len(acc) >= 2 and len(ref_acc) >= 2:
            s["p_vs_" + ref] = welch_p(acc, ref_acc)
        out.append(s)
    return out


def table(summary: list[dict]) -> str:
    lines = ["| Net | Test acc, mean [95% CI] | seeds: acc | vs stack2d (Welch p) | Params | MACs |",
             "|---|---|---|---|---|---|"]
    for s in summary:
        a = s["accuracy"]
        p = s.get("p_vs_stack2d_small")
        lines.append(f"| `{s['model']}` | {a['mean'] * 100:.1f}% [{a['lo'] * 100:.1f}, {a['hi'] * 100:.1f}] | "
                     + ", ".join(f"{v * 100:.1f}" for v in s["accuracies"]) + " | "
                     + (f"p = {p:.2g}" if p is not None else "-") + f" | {s['params']:,} | {s['macs'] / 1e6:.2f}M |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runs", default=str(RESULTS / "video_2d_vs_3d_runs.jsonl"))
    p.add_argument("--out", default=str(RESULTS / "video_2d_vs_3d.json"))
    args = p.parse_args(argv)
    from convzoo.io import append_jsonl, read_jsonl, write_json
    settings = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, train_size=args.train_size,
                    test_size=args.test_size)
    runs_path = Path(args.runs)
    done = [r for r in (read_jsonl(runs_path) if runs_path.is_file() else [])
            if all(r["config"][k] == settings[k] for k in ("epochs", "batch_size", "lr"))
            and r["train_size"] == args.train_size and r["test_size"] == args.test_size]
    done = list({(r["model"], r["seed"]): r for r in reversed(done)}.values())[::-1]   # one row per run
    have = {(r["model"], r["seed"]) for r in done}
    todo = [(m, s) for s in range(args.seeds) for m in args.models if (m, s) not in have]
    # the slow 3D nets first, so the two workers finish together
    todo.sort(key=lambda ms: (ms[0] not in ("r2plus1d_small", "c3d_small"), ms[1]))
    import multiprocessing as mp
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(train_one, m, s, settings) for m, s in todo]
        for f in as_completed(futs):
            row = f.result()
            append_jsonl(runs_path, row)
            done.append(row)
            print(f"{row['model']} seed {row['seed']}: acc {row['accuracy'] * 100:.2f}% "
                  f"({row['wall_time_s']} s wall, {row['cpu_time_s']} s CPU)", flush=True)
    done = list({(r["model"], r["seed"]): r for r in reversed(done)}.values())[::-1]
    summary = summarize(done, args.models)
    print()
    print(table(summary))
    import torch
    write_json(Path(args.out), dict(experiment="video_2d_vs_3d", dataset=DATASET, num_classes=2, settings=settings,
                                    seeds=args.seeds, command=" ".join([sys.executable] + sys.argv),
                                    torch=torch.__version__, summary=summary, rows=done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
