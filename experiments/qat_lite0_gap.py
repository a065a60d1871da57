"""Where Lite0's QAT int8 loses its last points (docs/edge.md, "The last 3.4 points").

On each of experiments/qat.py's Lite0 runs (``experiments/.cache/qat/lite0-s{seed}``: run that script
first), five passes of quantization-aware training at 1e-4 (``convzoo.export.qat``, as ``convzoo
quantize RUN --qat-epochs 5``), then on the run's 300 test images:

    fp32               the run's weights
    qat_fakequant      the trained fake-quantized graph (what the passes optimised)
    qat_int8           its int8 conversion (convert_pt2e) on PyTorch's reference int8 ops
    qat_weights_no_fq  the trained graph with fake quantization switched off
    control_fp32       the same loop on the fp32 graph, no quantizer (more training alone)

One thread, so that a rerun prints the same digits on the same CPU: the int8 conversion's accuracy moves by
up to 8 points with the order of float sums (docs/edge.md). One JSON line per seed on stdout.

    python experiments/qat_lite0_gap.py --seeds 0 1 2
    python experiments/qat_lite0_gap.py --unfrozen    # the observers observing through the last pass too
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache" / "qat"


def _accuracy(model, batches, labels):
    import torch
    with torch.no_grad():
        pred = torch.cat([model(x).argmax(1) for x, _ in batches])
    return round((pred == labels).float().mean().item(), 4)


def one(seed: int, epochs: int = 5, lr: float = 1e-4, freeze_observers: bool = True) -> dict:
    """The five accuracies of the module docstring for Lite0 run ``seed``."""
    import torch
    from torchao.quantization import pt2e

    from convzoo.export.qat import int8_graph, prepare, train_fake_quantized, training_graph
    from convzoo.runs import load_run
    from convzoo.train.batches import prepared_batches
    run = load_run(CACHE / f"lite0-s{seed}")
    train, test = run.splits("train", "test")
    size = run.data.image_size
    tb, vb = list(prepared_batches(train, size)), list(prepared_batches(test, size))
    labels = torch.cat([y for _, y in vb])
    model = run.model.eval()
    t0 = time.time()
    torch.manual_seed(seed)
    prepared = prepare(model, tb[0][0])
    train_fake_quantized(prepared, tb, epochs=epochs, lr=lr, seed=seed, freeze_observers=freeze_observers)
    pt2e.move_exported_model_to_eval(prepared)
    # convert a copy before any test image passes through the graph: an enabled observer would take the
    # test images' ranges into the scales convert_pt2e bakes in
    int8 = int8_graph(copy.deepcopy(prepared))
    prepared.apply(pt2e.disable_observer)
    off = copy.deepcopy(prepared)
    off.apply(pt2e.disable_fake_quant)
    row = dict(seed=seed, fp32=_accuracy(model, vb, labels), qat_fakequant=_accuracy(prepared, vb, labels),
               qat_weights_no_fq=_accuracy(off, vb, labels), qat_int8=_accuracy(int8, vb, labels))
    # the control: the same loop over the same exported graph, without a quantizer
    graph = training_graph(model, tb[0][0])
    train_fake_quantized(graph, tb, epochs=epochs, lr=lr, seed=seed)
    pt2e.move_exported_model_to_eval(graph)
    return dict(row, freeze_observers=freeze_observers, control_fp32=_accuracy(graph, vb, labels),
                seconds=round(time.time() - t0))


def main(argv=None) -> int:
    import torch
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--unfrozen", action="store_true",
                   help="keep the observers observing through the last pass (the behaviour before 2026-12-08)")
    a = p.parse_args(argv)
    missing = [s for s in a.seeds if not (CACHE / f"lite0-s{s}" / "report.json").is_file()]
    if missing:
        p.error(f"no Lite0 run for seeds {missing} under {CACHE}: run experiments/qat.py --nets lite0 first")
    torch.set_num_threads(1)
    for seed in a.seeds:
        print(json.dumps(one(seed, freeze_observers=not a.unfrozen)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
