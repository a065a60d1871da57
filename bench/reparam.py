"""Latency of RepVGG-A0 and MobileOne-S0 before and after ``reparameterize_model``, per engine.

For each model and each engine (eager PyTorch, torch.compile/inductor, ONNX Runtime, OpenVINO when
installed): the trained form (parallel branches; BN folded into the branch convs on every engine but
eager, so the ratio shows what fusing the branches adds beyond BN folding) and the fused form (one
conv per block), float32, CPU, NCHW (channels_last for compile), random BN statistics. Outputs of
the two forms are checked equal first. All runners of one model are timed in interleaved rounds
(convzoo.analysis.timing.interleaved_times), so a burst of load from other processes hits both
forms alike. Reported per engine: median ms of each form and the speed-up trained / fused of
per-round medians (> 1: the fused form is faster) with its quartiles over the rounds.

Usage: python bench/reparam.py [--models repvgg_a0 mobileone_s0] [--size 224] [--batch 1]
       [--threads 1] [--runs 40] [--rounds 8] [--engines eager compile onnxruntime openvino]
       [--json out.json]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

ENGINES = ("eager", "compile", "onnxruntime", "openvino")


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _randomize_bn_(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics (a fresh BN folds to nearly nothing); deterministic."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def _runners(trained, fused, x, engines, threads) -> dict:
    from convzoo.export import make_runner
    fns = {}
    for engine in engines:
        for form, model in (("trained", trained), ("fused", fused)):
            t0 = time.perf_counter()
            try:
                fns[(engine, form)] = make_runner(model, x, engine, channels_last=engine == "compile",
                                                  fold_bn=engine != "eager", ort_threads=threads)
            except (ImportError, RuntimeError, ValueError) as e:   # e.g. OpenVINO not installed
                print(f"  ({engine} {form} skipped: {str(e).splitlines()[0][:100]})", flush=True)
                continue
            print(f"  built {engine} {form} in {time.perf_counter() - t0:.0f} s", flush=True)
    return fns


def bench_model(name: str, args) -> list[dict]:
    import convzoo
    from convzoo.analysis.timing import interleaved_times, pooled_medians, round_ratios
    trained = _randomize_bn_(convzoo.create_model(name))
    fused = convzoo.reparameterize_model(trained)
    x = torch.randn(args.batch, 3, args.size, args.size)
    with torch.inference_mode():
        ref = trained(x)
        rel = float((fused(x) - ref).abs().max() / ref.abs().max())
    print(f"{name}: fused vs trained relative difference {rel:.1e}", flush=True)
    fns = _runners(trained, fused, x, args.engines, args.threads)
    with torch.inference_mode():
        times = interleaved_times({f"{e} {f}": fn for (e, f), fn in fns.items()},
                                  runs=args.runs, rounds=args.rounds)
    med = pooled_medians(times)
    rows = []
    for engine in args.engines:
        a, b = f"{engine} trained", f"{engine} fused"
        if a not in times or b not in times:
            continue
        q1, q2, q3 = _quartiles(round_ratios({a: times[a], b: times[b]}, a)[b])
        row = dict(model=name, engine=engine, trained_ms=med[a] * 1e3, fused_ms=med[b] * 1e3,
                   speedup=q2, speedup_q1=q1, speedup_q3=q3, fused_rel_diff=rel)
        rows.append(row)
        print(f"  {engine:12s} trained {row['trained_ms']:8.2f} ms  fused {row['fused_ms']:8.2f} ms  "
              f"trained/fused {q2:.2f} [{q1:.2f}, {q3:.2f}]", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["repvgg_a0", "mobileone_s0"])
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=40, help="timed calls per runner, over all rounds")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [r for name in args.models for r in bench_model(name, args)]
    if args.json:
        from convzoo.io import write_json
        write_json(args.json, dict(size=args.size, batch=args.batch, threads=args.threads, runs=args.runs,
                                   rounds=args.rounds, rows=rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
