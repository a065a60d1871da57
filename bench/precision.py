"""Reduced-precision inference throughput, convzoo against timm + OpenVINO, on this machine, in one run.

For efficientnet_b0, mobilenet_v2 and convnext_tiny at 224x224, batch 1 and 8, CPU, --threads threads:

  timm eager          timm's model, float32, torch.inference_mode
  timm ORT fp32       ONNX Runtime on timm's own export (timm.utils.onnx.onnx_export)
  timm OV default     OpenVINO on timm's model (openvino.convert_model, default CPU config: bf16 on
                      CPUs with AVX-512 BF16 or AMX) -- the reference every ratio is taken against
  convzoo deploy pick  what convzoo.export.deploy chose here (every engine x precision built, checked
                      against fp32 on generated inputs within --max-drop points, timed, fastest that
                      holds saved), reloaded with load_deployed and timed with the rest
  convzoo <engine> <precision>
                      convzoo.export.make_runner for each of --engines x --precisions that applies:
                      eager/compile/onednn in fp32 and bf16 (bf16 weights, channels_last, BN folded;
                      compile = inductor with freezing; onednn = TorchScript + oneDNN Graph fuser),
                      compile int8 (PT2E + X86InductorQuantizer, an AOTInductor package),
                      openvino fp32 / bf16 / int8 (NNCF). int8 is calibrated on random inputs here
                      (speed only; accuracy: docs/deploy.md, convzoo quantize).

Timing: interleaved rounds (convzoo.analysis.timing.interleaved_times), engine order rotating, so a
burst of load from other processes hits every engine alike; images/s = batch / median over all
rounds; next to each ratio its lower-upper quartile over the rounds.

"PyTorch-only path" = the fastest convzoo eager/compile/onednn entry (no OpenVINO, no ORT).

Usage: python bench/precision.py [--models ...] [--batches 1 8] [--threads 2] [--runs 24]
       [--rounds 6] [--engines eager compile onednn openvino] [--precisions fp32 bf16 int8] [--json out.json]
       [--max-drop P] [--no-deploy]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings

if "--passive" in sys.argv:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from deploy import MODELS, export_timm, quartiles  # noqa: E402

warnings.filterwarnings("ignore")
REF = "timm OV default"


def _infer(model, x):
    with torch.inference_mode():
        return model(x)


def _convzoo_runners(cz, x, engines, precisions, threads):
    """{label: runner} for every engine x precision that applies; skipped ones are printed."""
    from convzoo.export import make_runner
    fns = {}
    for engine in engines:
        for p in precisions:
            if engine in ("eager", "onednn") and p == "int8":
                continue                     # int8 eager is not a fast path; the fuser runs fp32/bf16
            t0 = time.perf_counter()
            try:
                fn = make_runner(cz, x, engine, channels_last=engine != "openvino", fold_bn=True,
                                 precision=p, ort_threads=threads)
                fn()
            except (RuntimeError, ValueError) as e:
                print(f"  (convzoo {engine} {p} skipped: {str(e).splitlines()[0][:100]})", flush=True)
                continue
            fns[f"convzoo {engine} {p}"] = fn
            print(f"  built convzoo {engine} {p} in {time.perf_counter() - t0:.0f} s", flush=True)
    return fns


def _deploy_pick(cz, x, args, tmp):
    """{label: runner} of what convzoo.export.deploy picks for this cell (calibrated on random inputs)."""
    from convzoo.export import deploy, load_deployed
    out = os.path.join(tmp, f"deploy_{type(cz).__name__}_{x.shape[0]}")
    t0 = time.perf_counter()
    rep = deploy(cz, out, input_size=tuple(x.shape[1:]), batch=x.shape[0], threads=args.threads,
                 calibration_data=torch.randn(32, *x.shape[1:]), max_drop=args.max_drop, runs=8, rounds=2,
                 progress=False)
    c = rep["chosen"]
    print(f"  deploy picked {c['engine']} {c['precision']} in {time.perf_counter() - t0:.0f} s "
          f"(checked on {rep['checked_on']}; file {c['file']}, {c.get('package') or c['format']})", flush=True)
    t0 = time.perf_counter()
    fn = load_deployed(out, threads=args.threads).bind(x)
    fn()                      # a torch.export program compiles here; an AOTInductor package does not
    print(f"  reloaded the pick and ran it once in {time.perf_counter() - t0:.1f} s", flush=True)
    return {f"convzoo deploy pick ({c['engine']} {c['precision']})": fn}


def _bench_cell(name, b, args, tmp):
    import timm

    import convzoo
    from convzoo.analysis.timing import interleaved_times, pooled_medians, round_ratios
    from convzoo.export import ort_session
    from convzoo.export.openvino import compile_openvino
    import openvino as ov

    cz = convzoo.create_model(name).eval()
    tm = timm.create_model(convzoo.hub.timm_name(name), pretrained=False).eval()
    x = torch.randn(b, 3, args.size, args.size)
    xn = x.numpy()
    fns = {"timm eager": lambda: _infer(tm, x)}
    tpath = os.path.join(tmp, f"timm_{name}_{b}.onnx")
    export_timm(tm, x, tpath)
    ts = ort_session(tpath, threads=args.threads)
    tin = ts.get_inputs()[0].name
    fns["timm ORT fp32"] = lambda: ts.run(None, {tin: xn})
    with torch.no_grad():
        tov = compile_openvino(ov.convert_model(tm, example_input=x), tuple(x.shape), threads=args.threads)
    fns[REF] = lambda: tov(xn)
    if args.deploy:
        fns.update(_deploy_pick(cz, x, args, tmp))
    fns.update(_convzoo_runners(cz, x, args.engines, args.precisions, args.threads))
    times = interleaved_times(fns, warmup=3, runs=args.runs, rounds=args.rounds, settle_s=0.05)
    thr = {k: b / v for k, v in pooled_medians(times).items()}
    ratios = round_ratios(times, REF)
    ours = [k for k in thr if k.startswith("convzoo")]
    torch_only = [k for k in ours if " openvino " not in k + " " and "deploy pick" not in k]
    pick = next((k for k in thr if k.startswith("convzoo deploy")), None)
    best = pick or max(ours, key=thr.get)
    best_pt = max(torch_only, key=thr.get) if torch_only else None
    print(f"\n{name} batch {b} (img/s; ratio to {REF}; its quartiles over the {args.rounds} rounds)")
    for k, v in sorted(thr.items(), key=lambda kv: -kv[1]):
        q = quartiles(ratios[k])
        print(f"  {k:24s} {v:8.1f}  {v / thr[REF]:5.2f}x  [{q[0]:.2f}-{q[2]:.2f}]", flush=True)
    return dict(model=name, batch=b, throughput=thr, best=best, best_ratio=thr[best] / thr[REF],
                best_quartiles=quartiles(ratios[best]), pytorch_best=best_pt,
                pytorch_ratio=thr[best_pt] / thr[REF] if best_pt else float("nan"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=24, help="timed calls per engine, over all rounds")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--engines", nargs="+", default=["eager", "compile", "onednn", "openvino"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE (loaded machine)")
    ap.add_argument("--max-drop", type=float, default=None,
                    help="deploy's accuracy bound in points (default: its own, 0.5 bf16 / 1.0 int8; random "
                         "weights on generated inputs rarely hold reduced precision: pass 100 to rank by speed)")
    ap.add_argument("--no-deploy", dest="deploy", action="store_false", help="leave out deploy's pick")
    args = ap.parse_args(argv)
    import openvino as ov
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from convzoo.export.precision import cpu_model_name, cpu_precision_support
    print(f"torch {torch.__version__}, openvino {ov.__version__}; {args.threads} threads; {os.cpu_count()} "
          f"CPUs ({cpu_model_name()}; {cpu_precision_support()}); load average {os.getloadavg()[0]:.2f} at start",
          flush=True)
    tmp = tempfile.mkdtemp(prefix="convzoo-precision-")
    rows = [_bench_cell(n, b, args, tmp) for n in args.models for b in args.batches]
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n| model | batch | {REF} img/s | deploy's pick (else fastest convzoo) | ratio [quartiles] | "
          f"PyTorch-only | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        q = r["best_quartiles"]
        print(f"| {r['model']} | {r['batch']} | {r['throughput'][REF]:.1f} | {r['best']} | "
              f"{r['best_ratio']:.2f} [{q[0]:.2f}-{q[2]:.2f}] | {r['pytorch_best']} | {r['pytorch_ratio']:.2f} |")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
