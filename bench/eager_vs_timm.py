"""Eager latency of convzoo's models against timm's twins, on this machine, in one process.

For efficientnet_b0, mobilenet_v2 and convnext_tiny at 224x224, batch 1 and 8, float32, CPU,
``torch.inference_mode``, NCHW: convzoo's model and timm's with the same weights (loaded through
``convzoo.load_weights`` from timm's state dict, so both compute the same function; outputs are
checked equal). The two are timed in interleaved rounds (convzoo.analysis.timing.interleaved_times),
so load from other processes hits both alike. Reported: median ms of each, and the ratio
timm / convzoo of per-round medians (> 1: convzoo faster) with its quartiles over the rounds.

Usage: python bench/eager_vs_timm.py [--models ...] [--batches 1 8] [--threads 1] [--runs 60]
       [--rounds 12] [--json out.json]
"""
from __future__ import annotations

import argparse
import statistics

import torch

# each against its timm twin (the registered cfg's twins["timm"], convzoo.hub.timm_name)
MODELS = ("efficientnet_b0", "mobilenet_v2", "convnext_tiny")


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import timm

    import convzoo
    from convzoo.analysis.timing import interleaved_times, pooled_medians, round_ratios

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        theirs = timm.create_model(convzoo.hub.timm_name(name), pretrained=False).eval()
        ours = convzoo.create_model(name).eval()
        convzoo.load_weights(ours, theirs.state_dict())
        for batch in args.batches:
            x = torch.randn(batch, 3, args.size, args.size)
            with torch.inference_mode():
                diff = float((ours(x) - theirs(x)).abs().max())

                def run_ours():
                    return ours(x)

                def run_timm():
                    return theirs(x)

                times = interleaved_times({"convzoo": run_ours, "timm": run_timm},
                                          runs=args.runs, rounds=args.rounds)
            med = pooled_medians(times)
            q1, q2, q3 = _quartiles(round_ratios(times, "timm")["convzoo"])
            # round_ratios gives timm_median / ours_median per round: > 1 means convzoo is faster
            row = dict(model=name, batch=batch, convzoo_ms=med["convzoo"] * 1e3, timm_ms=med["timm"] * 1e3,
                       ratio_timm_over_convzoo=q2, ratio_q1=q1, ratio_q3=q3, max_abs_diff=diff)
            rows.append(row)
            print(f"{name:16s} batch {batch}: convzoo {row['convzoo_ms']:8.2f} ms  timm {row['timm_ms']:8.2f} ms"
                  f"  timm/convzoo {q2:.3f} [{q1:.3f}, {q3:.3f}]  max|diff| {diff:.1e}", flush=True)
    if args.json:
        from convzoo.io import write_json
        write_json(args.json, dict(threads=args.threads, runs=args.runs, rounds=args.rounds, rows=rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
