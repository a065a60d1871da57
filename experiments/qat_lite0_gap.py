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
    python experiments/qat_lite0_gap.py --seeds 2 --layers   # where the int8 graph leaves the simulation

``--layers``: one test batch through both graphs, compared at every activation quantization point (the
k-th fake-quantize of the simulation against the k-th activation quantize of the int8 graph): the
fraction of values a whole quantization step or more apart, and the largest gap in steps.
"""
from __future__ import annotations

import argparse
import copy
import json
import time

from qat import CACHE, fp32_control     # experiments/qat.py: its cached runs and its control


def _accuracy(model, batches, labels):
    import torch
    with torch.no_grad():
        pred = torch.cat([model(x).argmax(1) for x, _ in batches])
    return round((pred == labels).float().mean().item(), 4)


def _qat_graphs(seed: int, epochs: int, lr: float, freeze_observers: bool = True):
    """Lite0 run ``seed``, its train and test batches, its fake-quantized graph after ``epochs`` QAT passes
    (eval mode, observers off) and that graph's int8 conversion."""
    import torch
    from torchao.quantization import pt2e

    from convzoo.export.qat import int8_graph, prepare, train_fake_quantized
    from convzoo.runs import load_run
    from convzoo.train.batches import prepared_batches
    run = load_run(CACHE / f"lite0-s{seed}")
    train, test = run.splits("train", "test")
    size = run.data.image_size
    tb, vb = list(prepared_batches(train, size)), list(prepared_batches(test, size))
    torch.manual_seed(seed)
    prepared = prepare(run.model.eval(), tb[0][0])
    train_fake_quantized(prepared, tb, epochs=epochs, lr=lr, seed=seed, freeze_observers=freeze_observers)
    pt2e.move_exported_model_to_eval(prepared)
    # convert a copy before any test image passes through the graph: an enabled observer would take the
    # test images' ranges into the scales convert_pt2e bakes in
    int8 = int8_graph(copy.deepcopy(prepared))
    prepared.apply(pt2e.disable_observer)
    return run, tb, vb, prepared, int8


def one(seed: int, epochs: int = 5, lr: float = 1e-4, freeze_observers: bool = True) -> dict:
    """The five accuracies of the module docstring for Lite0 run ``seed``."""
    import torch
    from torchao.quantization import pt2e
    t0 = time.time()
    run, tb, vb, prepared, int8 = _qat_graphs(seed, epochs, lr, freeze_observers)
    labels = torch.cat([y for _, y in vb])
    off = copy.deepcopy(prepared)
    off.apply(pt2e.disable_fake_quant)
    row = dict(seed=seed, fp32=_accuracy(run.model, vb, labels), qat_fakequant=_accuracy(prepared, vb, labels),
               qat_weights_no_fq=_accuracy(off, vb, labels), qat_int8=_accuracy(int8, vb, labels))
    control = fp32_control(run.model, tb, epochs=epochs, lr=lr, seed=seed)
    return dict(row, freeze_observers=freeze_observers, control_fp32=_accuracy(control, vb, labels),
                seconds=round(time.time() - t0))


def _activation_points(gm, x, kind: str) -> list:
    """The dequantized activations of ``gm`` (an fx graph) on ``x`` at each quantization point, in graph
    order, with their scale: ``kind="fq"`` the outputs of its fake-quantize modules, ``"q"`` those of
    its per-tensor quantize nodes, dequantized (one per point: a point read twice has two dequantize
    nodes; the weights' are per-channel and folded in)."""
    import torch
    from torch.fx import Interpreter
    out = []

    class Rec(Interpreter):
        def run_node(self, n):
            r = super().run_node(n)
            if kind == "fq" and n.op == "call_module":
                mod = self.module.get_submodule(n.target)
                if hasattr(mod, "scale") and isinstance(r, torch.Tensor) and mod.scale.numel() == 1:
                    out.append((n.name, r.detach(), float(mod.scale)))
            elif kind == "q" and n.op == "call_function" and str(n.target).endswith("quantize_per_tensor.default") \
                    and "dequantize" not in str(n.target):
                scale, zero = float(n.args[1]), int(n.args[2])
                out.append((n.name, (r.detach().float() - zero) * scale, scale))
            return r
    with torch.no_grad():
        Rec(gm).run(x)
    return out


def layers(seed: int, epochs: int = 5, lr: float = 1e-4) -> list[dict]:
    """Per activation quantization point: how far the int8 graph is from the simulation it converts."""
    _, _, vb, prepared, int8 = _qat_graphs(seed, epochs, lr)
    x = vb[0][0]
    sim, q = _activation_points(prepared, x, "fq"), _activation_points(int8, x, "q")
    rows = []
    for k, ((sn, sv, ss), (qn, qv, qs)) in enumerate(zip(sim, q)):
        steps = ((sv - qv).abs() / ss) if sv.shape == qv.shape else None
        rows.append(dict(k=k, sim=sn, int8=qn, shape=list(sv.shape), scale_sim=ss, scale_int8=qs,
                         apart=None if steps is None else round((steps >= 0.5).float().mean().item(), 5),
                         most_steps=None if steps is None else round(steps.max().item(), 2)))
    rows.append(dict(points_sim=len(sim), points_int8=len(q)))
    return rows


def main(argv=None) -> int:
    import torch
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--layers", action="store_true",
                   help="compare the simulation and the int8 graph at every activation quantization point")
    p.add_argument("--unfrozen", action="store_true",
                   help="keep the observers observing through the last pass (the behaviour before 2026-12-08)")
    a = p.parse_args(argv)
    missing = [s for s in a.seeds if not (CACHE / f"lite0-s{s}" / "report.json").is_file()]
    if missing:
        p.error(f"no Lite0 run for seeds {missing} under {CACHE}: run experiments/qat.py --nets lite0 first")
    torch.set_num_threads(1)
    for seed in a.seeds:
        if a.layers:
            for row in layers(seed):
                print(json.dumps(row), flush=True)
            continue
        print(json.dumps(one(seed, freeze_observers=not a.unfrozen)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
