"""``convzoo.compress`` on trained networks of this repo: accuracy against measured CPU latency at MAC
speed-up targets 2x and 4x, right after compression and after a short fine-tuning, per method.

Nets (``--nets``):

- ``variant_conv`` on ``cluttered_digits`` (16 x 16 digits among clutter; compare's task: 1 fragment, noise 0.1)
- ``resnet18``: torchvision's ResNet-18 (first conv fed 1 channel) on ``cluttered_digits``, the 16 x 16
  images upsampled 4x inside the net (bilinear) so that ResNet-18's /32 stride leaves 2 x 2 maps; at the
  native 16 x 16 it is 1 x 1 from ``layer3`` on and reached 21.5 % (the first session's run)
- ``c3d_small`` on ``digit_order`` (the (2+1)D split of a trained C3D)
- ``waveform_m11`` (Dai et al.'s M11) on ``spoken_digits`` (needs the espeak-ng synthesiser; skipped with
  the reason when it is missing)

For each (net, seed): the base net is trained (``--epochs``), then for each method and target:
``compress(..., macs_ratio=target)`` (over MACs), accuracy right away, latency at batch 1 on eager PyTorch
and on ONNX Runtime (dense and compressed interleaved in one process, one thread, median), fine-tuning
with the trainer at a tenth of the learning rate (``--finetune-epochs``), accuracy again. With
``--engine eager`` the target is a measured speed-up instead (rows tagged ``method@eager``). One line per
run goes to ``experiments/results/compress_runs.jsonl`` (a rerun skips the ones there); the summary
(mean and spread over seeds) goes to ``compress.json``, the table of docs/compress.md to ``compress.md``
and the Pareto plot to ``compress_pareto.png``. ``--control --tag T`` adds rows ``method+T`` measured
against the dense net fine-tuned as long; ``--distill`` fine-tunes against the dense net's logits and
``--finetune-lr`` sets the fine-tuning's rate over ``--lr``. Trained dense nets are kept in
``experiments/.cache`` (by net, seed, epochs, learning rate and training-set size).

    python experiments/compress.py --nets variant_conv --seeds 0                 # cheapest setting
    # the 2026-12-06 study, from experiments/ (two at a time, one per core; about 50 minutes):
    python compress.py --nets resnet18 --seeds 0 1 2 --methods channel spatial --epochs 8 \
        --finetune-epochs 3
    python compress.py --nets c3d_small --seeds 0 1 2 --methods spatial channel tucker2 --epochs 6 \
        --finetune-epochs 6
    python compress.py --nets variant_conv --seeds 0 1 2 --methods spatial channel tucker2 dwsep \
        --epochs 8 --finetune-epochs 4
    python compress.py --nets waveform_m11 --seeds 0 1 2 --methods channel tucker2 --epochs 4 \
        --finetune-epochs 2 --train-size 800 --test-size 600
    python compress.py --nets c3d_small --seeds 0 1 2 --methods spatial tucker2 --targets 4 --epochs 6 \
        --finetune-epochs 20 --control --tag ft20
    python compress.py --nets waveform_m11 --seeds 0 1 2 --methods channel tucker2 --targets 4 --epochs 4 \
        --finetune-epochs 10 --control --tag ft10 --train-size 800 --test-size 600
    # the second study (dense nets trained longer, distillation, 0.3x the rate; tags: e<base epochs>,
    # kd = distilled / ft = labels, <fine-tuning epochs>, lr3 = 0.3x); the same with ft for kd is its ablation
    python compress.py --nets c3d_small --seeds 0 1 2 --methods spatial --targets 4 --epochs 12 \
        --finetune-epochs 30 --finetune-lr 0.3 --control --distill --tag e12kd30lr3
    python compress.py --nets waveform_m11 --seeds 0 1 2 --methods tucker2 --targets 4 --epochs 16 \
        --finetune-epochs 20 --finetune-lr 0.3 --control --distill --tag e16kd20lr3 --train-size 800 --test-size 600
    python compress.py --nets resnet18 --seeds 0 1 2 --methods spatial channel tucker2 --targets 4 --epochs 20 \
        --finetune-epochs 10 --finetune-lr 0.3 --control --distill --tag e20kd10lr3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "compress_runs.jsonl"
CACHE = Path(__file__).resolve().parent / ".cache" / "compress_base"
NETS = {   # net -> (dataset, methods that apply to its convs)
    "variant_conv": ("cluttered_digits", ("spatial", "channel", "tucker2", "cp", "dwsep")),
    "resnet18": ("cluttered_digits", ("spatial", "channel", "tucker2", "dwsep")),
    "c3d_small": ("digit_order", ("spatial", "channel", "tucker2", "dwsep")),
    "waveform_m11": ("spoken_digits", ("channel", "tucker2", "dwsep")),
}


def make_net(name: str, train):
    import torch
    import torchvision

    import convzoo
    if name == "resnet18":
        net = torchvision.models.resnet18(num_classes=train.num_classes)
        net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)   # grey digits: one input channel
        # 16 -> 64 px in the net (the upsampling has no weights; compress leaves it alone)
        return torch.nn.Sequential(torch.nn.Upsample(scale_factor=4, mode="bilinear"), net)
    if name == "c3d_small":
        _, frames, side, _ = train.input_size
        return convzoo.create_model(name, num_classes=train.num_classes, in_chans=1, num_frames=frames,
                                    frame_size=side)
    return convzoo.create_model(name, num_classes=train.num_classes, in_chans=train.input_size[0])


def data(name: str, args):
    from convzoo.data import get_dataset
    ds = NETS[name][0]
    if ds == "spoken_digits" and shutil.which("espeak-ng") is None:
        raise RuntimeError("spoken_digits needs the espeak-ng synthesiser (apt-get install espeak-ng), not installed")
    kw = {}
    if ds == "cluttered_digits":             # the task `convzoo compare` trains on (1 fragment, noise 0.1)
        from convzoo.compare import CLUTTER, NOISE
        kw = dict(clutter=CLUTTER, noise=NOISE)
    return (get_dataset(ds, "train", size=args.train_size, **kw),
            get_dataset(ds, "test", size=args.test_size, **kw))


def latencies(before, after, x) -> dict:
    """Median ms at batch 1, dense and compressed interleaved, on eager PyTorch and ONNX Runtime."""
    from convzoo.compress.latency import compare_ms
    out = {}
    for engine in ("eager", "onnxruntime"):
        ms = compare_ms({"before": before, "after": after}, x, engine, runs=60, rounds=6)
        out[engine] = {"before_ms": ms["before"], "after_ms": ms["after"], "speedup": ms["before"] / ms["after"]}
    return out


def base_model(name: str, seed: int, train, test, args):
    """The trained dense net; kept in ``experiments/.cache`` (by net, seed, epochs, sizes) so that a second
    study on the same base does not train it again."""
    import torch

    from convzoo.train import TrainConfig, evaluate, fit
    torch.manual_seed(seed)
    net = make_net(name, train)
    cfg = TrainConfig(epochs=args.epochs, batch_size=64, lr=args.lr, seed=seed, device="cpu", latency_runs=5,
                      eval_every=args.epochs, warmup_epochs=0.5)
    cache = CACHE / f"{name}-s{seed}-e{args.epochs}-lr{args.lr:g}-n{args.train_size}.pt"
    if cache.exists():
        net.load_state_dict(torch.load(cache, weights_only=True))
        return net.eval(), evaluate(net, test)["accuracy"], cfg
    rep = fit(net, train, test, cfg, progress=False, run_info={"model": name})
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), cache.with_suffix(".tmp"))
    cache.with_suffix(".tmp").replace(cache)
    return net.eval(), rep["accuracy"], cfg


def finetune(new, teacher, train, test, ftc, args) -> float:
    """Fine-tune ``new`` in place on labels (the trainer) or, with ``--distill``, against the dense net's
    logits (Hinton et al.; convzoo.compress.distill, the loop ``convzoo compress`` runs by default);
    returns the test accuracy."""
    from convzoo.train import evaluate, fit
    if not args.distill:
        return fit(new, train, test, ftc, progress=False)["accuracy"]
    from convzoo.compress.distill import distill
    distill(new, teacher, train, epochs=ftc.epochs, lr=ftc.lr, batch_size=ftc.batch_size, seed=ftc.seed)
    return evaluate(new, test)["accuracy"]


def one_net(name: str, seed: int, args, done: set) -> None:
    import copy

    import torch

    from convzoo.compress import compress
    from convzoo.train import TrainConfig, evaluate, fit
    torch.set_num_threads(1)
    train, test = data(name, args)
    t0 = time.time()
    net, acc0, cfg = base_model(name, seed, train, test, args)
    print(f"{name} seed {seed}: base accuracy {acc0:.4f} ({time.time() - t0:.0f} s)", flush=True)
    x = torch.zeros(1, *train.input_size)
    ftc = TrainConfig(**{**cfg.to_dict(), "epochs": args.finetune_epochs, "lr": args.lr * args.finetune_lr,
                         "warmup_epochs": 0.0})
    control = None
    if args.control:     # the dense net given the same extra epochs: what the fine-tuning alone buys
        control = fit(copy.deepcopy(net), train, test, ftc, progress=False)["accuracy"]
        print(f"  dense + {args.finetune_epochs} fine-tuning epochs: {control:.4f}", flush=True)
    for method in [m for m in NETS[name][1] if m in args.methods]:
        for target in args.targets:
            tag = (f"{method}@{args.engine}" if args.engine else method) + (f"+{args.tag}" if args.tag else "")
            key = (name, seed, tag, target)
            if key in done:
                continue
            t1 = time.time()
            try:
                goal = {"speedup": target} if args.engine else {"macs_ratio": target}   # measured / MACs
                new, rep = compress(net, method, example_input=x, engine=args.engine, **goal)
            except ValueError as e:
                row = dict(net=name, seed=seed, method=tag, target=target, skipped=str(e))
                _append(row)
                continue
            acc1 = evaluate(new, test)["accuracy"]
            lat = latencies(net, new, x)
            acc2 = finetune(copy.deepcopy(new), net, train, test, ftc, args)
            row = dict(net=name, seed=seed, method=tag, target=target, accuracy_original=acc0,
                       accuracy_dense_finetuned=control, finetune_epochs=args.finetune_epochs,
                       base_epochs=args.epochs, finetune_lr=ftc.lr, distill=args.distill,
                       accuracy_compressed=acc1, accuracy_finetuned=acc2,
                       mac_speedup=rep["macs_before"] / rep["macs_after"], params_before=rep["params_before"],
                       params_after=rep["params_after"], latency=lat, energy=rep["target"].get("energy"),
                       factorized=sum(r["status"] == "factorized" for r in rep["layers"]),
                       dense=[(r["name"], r["reason"]) for r in rep["layers"] if r["status"] == "dense"],
                       seconds=round(time.time() - t1, 1))
            _append(row)
            print(f"  {method:8s} {target}x: MACs {row['mac_speedup']:.2f}x, eager {lat['eager']['speedup']:.2f}x, "
                  f"ORT {lat['onnxruntime']['speedup']:.2f}x, acc {acc0:.3f} -> {acc1:.3f} -> {acc2:.3f}", flush=True)


def _append(row: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    with RUNS.open("a") as f:
        f.write(json.dumps(row) + "\n")


def _reference(row: dict) -> float:
    """What a compressed net is judged against: the dense net, or the dense net fine-tuned as long
    (``--control``), whichever is better."""
    return max(row["accuracy_original"], row.get("accuracy_dense_finetuned") or 0.0)


def summarize() -> dict:
    rows = [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()] if RUNS.exists() else []
    groups: dict = {}
    for r in rows:
        if "skipped" not in r:
            groups.setdefault((r["net"], r["method"], r["target"]), []).append(r)
    table = []
    for (net, method, target), rs in sorted(groups.items()):
        def stat(f):
            v = [f(r) for r in rs]
            return {"mean": statistics.fmean(v), "min": min(v), "max": max(v)}
        table.append(dict(net=net, method=method, target=target, seeds=len(rs),
                          mac_speedup=stat(lambda r: r["mac_speedup"]),
                          eager_speedup=stat(lambda r: r["latency"]["eager"]["speedup"]),
                          ort_speedup=stat(lambda r: r["latency"]["onnxruntime"]["speedup"]),
                          accuracy_original=stat(lambda r: r["accuracy_original"]),
                          accuracy_compressed=stat(lambda r: r["accuracy_compressed"]),
                          accuracy_finetuned=stat(lambda r: r["accuracy_finetuned"]),
                          accuracy_reference=stat(_reference),
                          loss=stat(lambda r: r["accuracy_finetuned"] - _reference(r)),
                          controlled=all(r.get("accuracy_dense_finetuned") is not None for r in rs),
                          distill=all(r.get("distill") for r in rs),
                          finetune_epochs=rs[0].get("finetune_epochs"), base_epochs=rs[0].get("base_epochs")))
    out = {"rows": table, "skipped": [r for r in rows if "skipped" in r]}
    (RESULTS / "compress.json").write_text(json.dumps(out, indent=1))
    return out


def _dense(r: dict) -> str:
    """``83.7``, or ``83.7 (dense + same fine-tuning 85.0)`` when the control run did better."""
    a, ref = r["accuracy_original"]["mean"] * 100, r["accuracy_reference"]["mean"] * 100
    return f"{a:.1f}" if ref <= a + 1e-9 else f"{a:.1f} (dense + same fine-tuning {ref:.1f})"


def _cell(st, fmt="{:.2f}", scale=1.0) -> str:
    """``mean [min, max]`` over the seeds (just the mean when they agree)."""
    if st["min"] == st["max"]:
        return fmt.format(st["mean"] * scale)
    return f"{fmt.format(st['mean'] * scale)} [{fmt.format(st['min'] * scale)}, {fmt.format(st['max'] * scale)}]"


def markdown(summary: dict) -> str:
    """The tables of docs/compress.md: means over seeds with [min, max], and the change in points after
    fine-tuning against the dense net (or the dense net fine-tuned as long, with ``--control``, whichever
    is better, per seed). A row >= 2x measured on one engine in every seed, at <= 1 point lost on
    average, is marked **goal**. Rows with a control come first, in their own table."""
    head = ["| net | method | MAC target | seeds | MACs | eager speed-up | ORT speed-up | accuracy: dense -> "
            "compressed -> fine-tuned (%) | change (points) |", "|---|---|---|---|---|---|---|---|---|"]
    tables = {True: list(head), False: list(head)}
    for r in summary["rows"]:
        loss = r["loss"]["mean"] * 100
        fast = max(r["eager_speedup"]["min"], r["ort_speedup"]["min"]) >= 2.0
        goal = " **goal**" if fast and loss >= -1.0 else ""
        spread = f" [{r['loss']['min'] * 100:+.1f}, {r['loss']['max'] * 100:+.1f}]" if r["seeds"] > 1 else ""
        tables[bool(r.get("controlled"))].append(
            f"| {r['net']} | {r['method']} | {r['target']:g}x | {r['seeds']} | {r['mac_speedup']['mean']:.2f}x "
            f"| {_cell(r['eager_speedup'])}x | {_cell(r['ort_speedup'])}x "
            f"| {_dense(r)} -> {r['accuracy_compressed']['mean'] * 100:.1f} -> "
            f"{_cell(r['accuracy_finetuned'], '{:.1f}', 100)} | {loss:+.1f}{spread}{goal} |")
    return ("With the dense control (the dense net fine-tuned as long):\n\n" + "\n".join(tables[True])
            + "\n\nShort fine-tuning at a tenth of the learning rate, no control:\n\n" + "\n".join(tables[False]))


def pareto_plot(summary: dict, out_dir: Path = RESULTS) -> Path | None:
    """One panel per net, one above the other: the change in points (fine-tuned against the dense
    reference) against the measured ONNX Runtime speed-up, mean over seeds with the seeds' range as bars;
    the goal region (>= 2x, >= -1 point) shaded. Rows with the dense control are filled, the short runs
    hollow. Drawn for the docs page and saved as every convzoo picture (convzoo.plotting): the PNG's path.
    docs/img/compress_pareto.png is a copy of results/compress_pareto.png."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from convzoo.plotting import PAGE_WIDTH_IN, new_figure, page_style, place_labels, save_figure
    nets = sorted({r["net"] for r in summary["rows"]})
    if not nets:
        return None
    with page_style():
        fig = new_figure(PAGE_WIDTH_IN, 4.6 * len(nets) + 1.2)
        for ax, net in zip(fig.subplots(len(nets), 1, squeeze=False)[:, 0], nets):
            ax.fill_between([2.0, 4.5], -1.0, 1.5, color="C2", alpha=0.12)
            ax.axhline(0, color="k", lw=0.6)
            for r in (r for r in summary["rows"] if r["net"] == net):
                x, y = r["ort_speedup"], r["loss"]
                c = "C3" if r.get("controlled") else "C0"
                ax.errorbar([x["mean"]], [y["mean"] * 100],
                            yerr=[[(y["mean"] - y["min"]) * 100], [(y["max"] - y["mean"]) * 100]],
                            xerr=[[x["mean"] - x["min"]], [x["max"] - x["mean"]]], fmt="o", color=c,
                            mfc=None if r.get("controlled") else "none", ms=6, lw=0.8, capsize=2)
                ax.annotate(f"{r['method']} {r['target']:g}x", (x["mean"], y["mean"] * 100), color=c,
                            xytext=(6, 5), textcoords="offset points",
                            arrowprops=dict(arrowstyle="-", color=c, lw=0.5, shrinkA=1, shrinkB=4))
            ax.set(xlabel="measured ONNX Runtime speed-up (batch 1, 1 thread)", ylabel="change (points)",
                   title=net, xlim=(0.4, 4.5), ylim=(max(-30, ax.get_ylim()[0]), 1.5))
        handles = [Patch(color="C2", alpha=0.12, label="goal: >= 2x at >= -1 point"),
                   Line2D([], [], marker="o", ls="", color="C3", label="with the dense control (longer fine-tuning)"),
                   Line2D([], [], marker="o", ls="", color="C0", mfc="none", label="short fine-tuning, no control")]
        fig.legend(handles=handles, loc="outside upper center", ncol=1, frameon=False)
        place_labels(fig)
        return save_figure(fig, out_dir, "compress_pareto", formats=("png",))[0]


def method_times(methods) -> list:
    """Seconds each method's ``compress(resnet18, m, macs_ratio=2)`` takes on torchvision's ResNet-18 (random
    weights, 224 px, 1000 classes), with the per-layer progress lines; one JSON line per method to
    ``results/compress_method_times.jsonl``."""
    import torch
    import torchvision

    from convzoo.compress import NothingToCompress, compress
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    x = torch.zeros(1, 3, 224, 224)
    rows = []
    for m in methods:
        t0, c0 = time.time(), time.process_time()
        try:
            _, rep = compress(net, m, macs_ratio=2.0, example_input=x, progress=True)
            row = dict(method=m, macs_ratio=rep["macs_before"] / rep["macs_after"],
                       factorized=sum(r["status"] == "factorized" for r in rep["layers"]))
        except NothingToCompress as e:
            row = dict(method=m, refused=str(e))
        # wall-clock and this process's CPU seconds (all threads): on a shared machine the first grows
        # with the other processes' load, the second much less
        row.update(seconds=round(time.time() - t0, 1), cpu_seconds=round(time.process_time() - c0, 1),
                   load_average=os.getloadavg()[0], openblas_threads=os.environ.get("OPENBLAS_NUM_THREADS"))
        rows.append(row)
        print(json.dumps(row), flush=True)
        RESULTS.mkdir(exist_ok=True)
        with (RESULTS / "compress_method_times.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=["variant_conv"], choices=list(NETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--methods", nargs="+", default=["spatial", "channel", "tucker2", "cp", "dwsep"])
    p.add_argument("--targets", nargs="+", type=float, default=[2.0, 4.0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--finetune-epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--finetune-lr", type=float, default=0.1, help="the fine-tuning's learning rate over --lr")
    p.add_argument("--distill", action="store_true",
                   help="fine-tune against the dense net's logits (the control still trains on labels)")
    p.add_argument("--train-size", type=int, default=1500)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--engine", choices=["eager", "onnxruntime"],
                   help="measure the target on this engine (slower layers stay dense) instead of over MACs")
    p.add_argument("--summary-only", action="store_true")
    p.add_argument("--tag", default="", help="appended to the method names of these rows (e.g. ft10)")
    p.add_argument("--control", action="store_true",
                   help="also fine-tune the dense net as long, and measure losses against the better of the two")
    p.add_argument("--method-times", action="store_true",
                   help="only time compress(resnet18, m, macs_ratio=2) at 224 px for each of --methods")
    args = p.parse_args()
    if args.method_times:
        method_times(args.methods)
        return
    done = set()
    if RUNS.exists():
        done = {(r["net"], r["seed"], r["method"], r["target"]) for r in map(json.loads, RUNS.read_text().splitlines())}
    if not args.summary_only:
        for net in args.nets:
            for seed in args.seeds:
                try:
                    one_net(net, seed, args, done)
                except RuntimeError as e:
                    print(f"{net}: skipped: {e}", flush=True)
                    _append(dict(net=net, seed=seed, method=None, target=None, skipped=str(e)))
    s = summarize()
    pareto_plot(s)
    (RESULTS / "compress.md").write_text(markdown(s) + "\n")
    for r in s["rows"]:
        print(f"{r['net']:13s} {r['method']:8s} {r['target']:g}x  MACs {r['mac_speedup']['mean']:.2f}x  "
              f"eager {r['eager_speedup']['mean']:.2f}x  ORT {r['ort_speedup']['mean']:.2f}x  acc "
              f"{r['accuracy_original']['mean']:.3f} -> {r['accuracy_compressed']['mean']:.3f} -> "
              f"{r['accuracy_finetuned']['mean']:.3f}  ({r['seeds']} seed(s))")


if __name__ == "__main__":
    main()
