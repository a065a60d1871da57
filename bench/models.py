"""CPU eager throughput of convzoo's image models against timm's, measured in the same run.

    python bench/models.py [--threads 1] [--rounds 7] [--models efficientnet_b0 mobilenet_v2 convnext_tiny]

For each model: inference (eval, no_grad) at batch 1 and batch 8, and one training step (forward,
cross-entropy, backward, SGD step) at batch 8, all at 224 px. Both models hold the same weights
(ours loaded from timm's state dict). The two sides alternate round by round (ABAB...) so that load
from other processes hits both alike; each cell is the median over rounds. The ratio is
ours/timm throughput (= timm time / our time): >= 1.0 means no overhead over the reference.

Times are CPU time of the process (``--clock cpu``, the default; with one intra-op thread that is the
work done for this model), which is far less sensitive to other processes on a shared machine than
wall time; ``--clock wall`` measures wall time.
"""
from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch
from torch import nn

import convzoo

PAIRS = {"efficientnet_b0": "efficientnet_b0", "mobilenet_v2": "mobilenetv2_100",
         "convnext_tiny": "convnext_tiny"}


def _infer(model: nn.Module, x: torch.Tensor):
    def step():
        with torch.no_grad():
            model(x)
    return step


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return step


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def _time(step, reps: int, clock) -> float:
    t = clock()
    for _ in range(reps):
        step()
    return (clock() - t) / reps


def compare(ours_step, ref_step, rounds: int, reps: int, clock=time.process_time) -> tuple[float, float]:
    for s in (ours_step, ref_step):     # warm-up: allocator, oneDNN primitive caches
        s()
        s()
    ours, ref = [], []
    for _ in range(rounds):
        ours.append(_time(ours_step, reps, clock))
        ref.append(_time(ref_step, reps, clock))
    return statistics.median(ours), statistics.median(ref)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--models", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--clock", choices=list(CLOCKS), default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {args.threads} thread(s), "
          f"{args.clock} time, median of {args.rounds} alternating rounds\n")
    print("| model | mode | batch | ours (ms) | timm (ms) | ours/timm throughput |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        ref = timm.create_model(PAIRS[name])
        ours = convzoo.create_model(name)
        convzoo.load_weights(ours, ref.state_dict())
        for mode, batch, reps in (("infer", 1, 5), ("infer", 8, 2), ("train", 8, 1)):
            x = torch.randn(batch, 3, 224, 224)
            if mode == "infer":
                ours.eval(), ref.eval()
                a, b = _infer(ours, x), _infer(ref, x)
            else:
                ours.train(), ref.train()
                y = torch.randint(0, 1000, (batch,))
                a, b = _train(ours, x, y), _train(ref, x, y)
            t_ours, t_ref = compare(a, b, args.rounds, reps, CLOCKS[args.clock])
            print(f"| {name} | {mode} | {batch} | {t_ours * 1e3:.1f} | {t_ref * 1e3:.1f} | "
                  f"{t_ref / t_ours:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
