"""How close each engine x precision runs to this CPU's practical limit, in one run on the same cores.

1. Practical peak: large GEMMs in each precision on --threads threads (the rate a dense, compute-bound
   kernel reaches here; the nominal peak assumes a clock the VM does not hold):
     fp32  torch.mm, float32                    bf16  torch.mm, bfloat16 (AVX-512 BF16 / AMX)
     int8  torch._int_mm (int8 x int8 -> int32) and a oneDNN quantized linear (uint8 x int8, the VNNI
           path the PT2E convs use); the faster of the two is the int8 peak.
   MAC/s = M * N * K / seconds, median of the interleaved calls, measured at the start and at the end.
2. Each cell (model x batch x engine precision) as achieved MAC/s = model MACs (convzoo.model_cost, at
   224 px) x batch / latency, and its fraction of the peak of its precision (OpenVINO's default runs
   bf16 on this CPU, so it is compared with the bf16 peak). The engines of one cell are timed
   interleaved (convzoo.analysis.timing.interleaved_times).
3. Why the fractions differ: each model's MACs split into depthwise convs, dense convs (1x1 and
   full kxk) and linear layers, with their arithmetic intensity in fp32 (MACs per byte of input +
   output + weights): depthwise layers do ~1 MAC per byte (memory-bound), dense ones 7-22 (compute-bound).

Usage: python bench/roofline.py [--models ...] [--batches 1 8] [--threads 2] [--runs 16] [--rounds 4]
       [--cells "onnxruntime fp32" "openvino bf16" "openvino int8" "compile int8"] [--passive] [--json F]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

if "--passive" in sys.argv:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from deploy import MODELS, quartiles  # noqa: E402

warnings.filterwarnings("ignore")
CELLS = ("onnxruntime fp32", "openvino bf16", "openvino int8", "compile int8")


def _gemms(n: int) -> dict:
    """{label: (no-argument call, MACs per call)} of the peak GEMMs, n x n x n."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    ab, bb = a.bfloat16(), b.bfloat16()
    ai = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    bi = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    fns = {"fp32 torch.mm": lambda: torch.mm(a, b), "bf16 torch.mm": lambda: torch.mm(ab, bb),
           "int8 torch._int_mm": lambda: torch._int_mm(ai, bi)}
    try:
        fns["int8 oneDNN quantized linear"] = _qlinear(n)
    except (RuntimeError, AttributeError) as e:
        print(f"  (oneDNN quantized linear skipped: {str(e).splitlines()[0][:100]})")
    return {k: (f, n ** 3) for k, f in fns.items()}


def _qlinear(n: int):
    """uint8 activations x int8 per-channel weights through oneDNN (quantized::linear, VNNI)."""
    torch.backends.quantized.engine = "onednn"
    lin = torch.ao.nn.quantized.Linear(n, n)
    w = torch.quantize_per_channel(torch.randn(n, n), torch.full((n,), 0.02), torch.zeros(n, dtype=torch.long),
                                   0, torch.qint8)
    lin.set_weight_bias(w, torch.zeros(n))
    x = torch.quantize_per_tensor(torch.rand(n, n), 1 / 255, 0, torch.quint8)
    lin(x)
    return lambda: lin(x)


def measure_peaks(n: int, runs: int, rounds: int) -> dict:
    """{label: {"macs_per_s", "q1", "q3"}} of the GEMMs, timed interleaved."""
    from convzoo.analysis.timing import interleaved_times
    gem = _gemms(n)
    times = interleaved_times({k: f for k, (f, _) in gem.items()}, warmup=2, runs=runs, rounds=rounds)
    out = {}
    for k, per_round in times.items():
        q = quartiles([t for r in per_round for t in r])
        out[k] = dict(macs_per_s=gem[k][1] / q[1], q1=gem[k][1] / q[2], q3=gem[k][1] / q[0])
    return out


def peak_by_precision(peaks: dict) -> dict:
    """{"fp32"|"bf16"|"int8": (best label, MAC/s)}."""
    best = {}
    for k, v in peaks.items():
        p = k.split()[0]
        if p not in best or v["macs_per_s"] > best[p][1]:
            best[p] = (k, v["macs_per_s"])
    return best


def layer_split(model: nn.Module, size: int) -> dict:
    """{kind: (MACs, bytes in fp32)} over depthwise conv / dense conv / linear layers, at batch 1."""
    acc: dict = {}

    def hook(m, inp, out):
        x = inp[0]
        if isinstance(m, nn.Linear):
            kind, macs = "linear", out.numel() * m.in_features
        else:
            k = m.weight.shape[1] * m.weight[0, 0].numel()       # in_channels / groups x kh x kw
            kind = "depthwise conv" if m.groups > 1 and m.groups == m.in_channels else "dense conv"
            macs = out.numel() * k
        nbytes = 4 * (x.numel() + out.numel() + m.weight.numel())
        m_acc, b_acc = acc.get(kind, (0, 0))
        acc[kind] = (m_acc + macs, b_acc + nbytes)

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.randn(1, 3, size, size))
    for h in hs:
        h.remove()
    return acc


def _cell_runners(cz, x, cells):
    from convzoo.export import make_runner
    fns = {}
    for label in cells:
        engine, p = label.split()
        t0 = time.perf_counter()
        try:
            fn = make_runner(cz, x, engine, channels_last=engine != "openvino", fold_bn=True, precision=p,
                             ort_threads=torch.get_num_threads())
            fn()
        except (RuntimeError, ValueError) as e:
            print(f"  ({label} skipped: {str(e).splitlines()[0][:100]})", flush=True)
            continue
        fns[label] = fn
        print(f"  built {label} in {time.perf_counter() - t0:.0f} s", flush=True)
    return fns


def measure_cell(name: str, b: int, args, peak: dict) -> list[dict]:
    import convzoo
    from convzoo.analysis.timing import interleaved_times
    cz = convzoo.create_model(name).eval()
    macs = convzoo.model_cost(name).macs
    x = torch.randn(b, 3, 224, 224)
    fns = _cell_runners(cz, x, args.cells)
    times = interleaved_times(fns, warmup=2, runs=args.runs, rounds=args.rounds)
    rows = []
    for label, per_round in times.items():
        q = quartiles([t for r in per_round for t in r])
        p = label.split()[1]
        rate = macs * b / q[1]
        rows.append(dict(model=name, batch=b, cell=label, precision=p, ms=1e3 * q[1], images_per_s=b / q[1],
                         macs_per_s=rate, peak_label=peak[p][0], fraction=rate / peak[p][1],
                         fraction_q=(macs * b / q[2] / peak[p][1], macs * b / q[0] / peak[p][1])))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=16, help="timed calls per entry, over all rounds")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--gemm", type=int, default=2048, help="GEMM side for the peaks (n x n x n)")
    ap.add_argument("--cells", nargs="+", default=list(CELLS), help='"engine precision" labels')
    ap.add_argument("--passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE (loaded machine)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from convzoo.export.precision import cpu_model_name, cpu_precision_support
    print(f"torch {torch.__version__}; {args.threads} threads; {cpu_model_name()}; {cpu_precision_support()}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}; load average "
          f"{os.getloadavg()[0]:.2f} at start", flush=True)
    peaks = measure_peaks(args.gemm, 24, 4)
    for k, v in peaks.items():
        print(f"  peak {k:30s} {v['macs_per_s'] / 1e9:7.1f} GMAC/s [{v['q1'] / 1e9:.1f}-{v['q3'] / 1e9:.1f}]",
              flush=True)
    peak = peak_by_precision(peaks)
    rows = [r for n in args.models for b in args.batches for r in measure_cell(n, b, args, peak)]
    end = measure_peaks(args.gemm, 24, 4)
    print("\npeaks again at the end: " + ", ".join(f"{k} {v['macs_per_s'] / 1e9:.1f}" for k, v in end.items())
          + " GMAC/s")
    print(f"\n| model | batch | engine precision | img/s | GMAC/s | % of {args.threads}-core peak [quartiles] |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        f = r["fraction_q"]
        print(f"| {r['model']} | {r['batch']} | {r['cell']} | {r['images_per_s']:.1f} | {r['macs_per_s'] / 1e9:.1f} | "
              f"{100 * r['fraction']:.1f} % [{100 * f[0]:.1f}-{100 * f[1]:.1f}] of {r['peak_label']} |")
    import convzoo
    print("\n| model | kind | share of MACs | MACs per byte (fp32) |\n|---|---|---|---|")
    for n in args.models:
        split = layer_split(convzoo.create_model(n).eval(), 224)
        total = sum(m for m, _ in split.values())
        for kind, (m, nb) in sorted(split.items()):
            print(f"| {n} | {kind} | {100 * m / total:.1f} % | {m / nb:.1f} |")
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(peaks=peaks, peaks_end=end, cells=rows), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
