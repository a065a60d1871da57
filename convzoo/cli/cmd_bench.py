"""``convzoo bench MODEL``: inference latency, throughput and peak memory under an engine."""
from __future__ import annotations

import argparse
import json

HELP = ("measure inference latency, throughput and peak memory under any engine of the registry (PyTorch "
        "eager, compile, onednn; onnxruntime, openvino, executorch, litert)")

EPILOG = """Latency is the median of --runs timed calls after --warmup untimed ones, with the quartiles
of those calls as its spread; throughput = batch / median latency. A warning is printed when the
machine's load average exceeds the threads the benchmark uses: other processes then compete for the
cores and times can be several times too high. Activation memory: the bytes of the tensors one
eager forward of this batch allocates, at their peak (under no_grad; weights and input excluded; the
same model whatever --engine). Process memory: on CUDA, torch.cuda.max_memory_allocated during the
runs; on CPU, the rise of the process's resident-set high-water mark (Linux VmHWM) over the runs,
which counts everything the engine touched (PyTorch or ONNX Runtime buffers, allocator slack) and is
often near 0 once the warm-up has sized the allocator.
Engines (convzoo.export.list_engines(); a wrong name lists them): eager (PyTorch), compile
(torch.compile, inductor with freezing; the first call compiles and is part of the warm-up), onednn
(TorchScript + PyTorch's oneDNN Graph fuser, CPU fp32 or bf16: the fastest PyTorch path for the mobile
nets, with --precision bf16; not for ConvNeXt), onnxruntime (the model exported with BN folded, CPU
execution provider), openvino (OpenVINO's CPU plugin, fp32/bf16 or NNCF int8), executorch (a .pte
lowered to XNNPACK, fp32 or int8), litert (a .tflite in the LiteRT interpreter, fp32 or int8); the
last three need the deploy, edge and litert extras.
The command restarts itself once with OMP_WAIT_POLICY=PASSIVE unless the environment names a policy
(OMP_WAIT_POLICY=ACTIVE keeps spinning workers): on a machine shared with other jobs, spinning OpenMP
threads that lose their core made PyTorch with 2 threads tens of times slower. The thread count and
policy are printed with every result.

examples:
  convzoo bench efficientnet_b0
  convzoo bench mobilenet_v2 --engine onnxruntime --batch 8
  convzoo bench mobilenet_v2 --engine onednn --channels-last --fold-bn
  convzoo bench efficientnet_b0 --engine onednn --precision bf16 --channels-last
  convzoo bench convnext_tiny --engine compile --channels-last --fold-bn --batch 8
  convzoo bench waveform_m5 --input-size 1 16000 --json
  convzoo bench efficientnet_b0 --engine all --batch 8      # which engine is fastest here?
  convzoo bench deployed/b0                                 # a convzoo deploy folder
  convzoo bench b0.onnx --batch 8                           # an .onnx file (or an OpenVINO IR folder)"""


def register(subparsers) -> None:
    # the engine names are read when --engine is parsed (LazyChoice): building the parser, and
    # --help, load no torch
    from convzoo.cli._common import LazyChoice, flag_type as t
    p = subparsers.add_parser("bench", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered model name (see convzoo list), a run folder (convzoo train "
                   "or compress), a folder written by convzoo deploy or convzoo quantize, an OpenVINO IR "
                   "folder or an .onnx file (each run with its own engine and labelled with its real precision)")
    p.add_argument("--engine", type=LazyChoice("convzoo.export.engines:list_engines", extra=("all",)),
                   metavar="ENGINE", help='an engine of the registry (see below; default: the reference '
                   'engine, eager); "all" measures every engine that applies, one after the other, each '
                   'with its fast settings, and names the fastest')
    p.add_argument("--batch", type=t("bench_batch"), default=None,
                   help="batch size (default 1; a deploy folder's: the batch it was built and timed at)")
    p.add_argument("--input-size", nargs="+", metavar="N",
                   help="input size C H W (or C L, C T H W); default: the model's default_cfg")
    p.add_argument("--channels-last", action="store_true",
                   help="channels_last (channels_last_3d for video) weights and inputs")
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the convs first")
    p.add_argument("--amp", action="store_true",
                   help="autocast: bfloat16 on CPU, float16 on CUDA (PyTorch engines)")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8", "fp16"), default="fp32",
                   help="fp32 (default); bf16: bf16 weights (eager/compile/onednn; CPUs with AMX or "
                        "AVX-512 BF16) or OpenVINO's "
                        "bf16 execution; int8: calibrated on random inputs (speed only: convzoo "
                        "quantize calibrates on data); on CUDA bf16/fp16 are autocast")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu)")
    p.add_argument("--threads", type=t("threads"), default=None,
                   help="intra-op threads for PyTorch and ONNX Runtime (default: PyTorch's current; a deploy "
                        "folder's: the threads deploy timed it with)")
    p.add_argument("--runs", type=t("runs"), default=20, help="timed runs (default 20)")
    p.add_argument("--warmup", type=t("warmup"), default=5, help="untimed warm-up runs (default 5)")
    p.add_argument("--weights", metavar="FILE", help="weights to load first (as for convzoo export)")
    p.add_argument("--num-classes", type=t("num_classes"), help="classifier width (default: the model's)")
    p.add_argument("--in-chans", type=t("in_chans"), help="input channels (default: the model's)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    from convzoo.cli._common import record_explicit
    record_explicit(p)               # an engine flag given for an artifact is refused, even at its default
    p.set_defaults(func=run)


def run(args) -> int:
    """:func:`convzoo.runs.bench` with the flags, then its result as lines (or JSON)."""
    from convzoo.analysis.timing import passive_wait_policy
    passive_wait_policy()        # restarts once with OMP_WAIT_POLICY=PASSIVE unless one is set
    from convzoo.cli._common import explicit, parse_input_size
    from convzoo.runs.benching import bench
    given = explicit(args)       # an engine flag given for an artifact is refused, even at its default
    info = bench(args.model, engine=args.engine, batch=args.batch,
                 input_size=parse_input_size(args.input_size) if args.input_size else None, threads=args.threads,
                 device=args.device, warmup=args.warmup, runs=args.runs, weights=args.weights,
                 num_classes=args.num_classes, in_chans=args.in_chans,
                 **{dest: getattr(args, dest) if dest in given or getattr(args, dest) != default else None
                    for dest, default in (("precision", "fp32"), ("channels_last", False), ("fold_bn", False),
                                          ("amp", False))})
    _warn_if_busy(info["threads"])
    if args.json:
        print(json.dumps(info, indent=2))
    elif "engines" in info:
        _print_all(info, args.runs)
    else:
        _print_one(info, args.warmup)
    return 0


def _print_one(info: dict, warmup: int) -> None:
    from convzoo.analysis.memory import human_bytes
    shape = "x".join(map(str, info["input_size"]))
    opts = ", ".join(o for o, on in (("channels_last", info["channels_last"]), ("BN folded", info["fold_bn"]),
                                     ("AMP", info["amp"])) if on) or "plain"
    where = info.get("gpu", f"{info['threads']} CPU threads, OMP_WAIT_POLICY {info['omp_wait_policy']}")
    print(f"{info['model']} | engine {info['engine']}, {info['precision']} ({opts}) | batch {info['batch']} x "
          f"{shape} | {info['device']}, {where}")
    print(f"  latency     {info['latency_ms']:9.2f} ms{'~' if info['stable'] is False else ''} (median of "
          f"{info['runs']} runs after {warmup} warm-up; quartiles {info['latency_q1_ms']:.2f}-"
          f"{info['latency_q3_ms']:.2f} ms, p90 {info['latency_p90_ms']:.2f} ms{_stability(info)})")
    print(f"  throughput  {info['throughput']:9.1f} samples/s")
    peak = info["activation_peak_bytes"]
    if peak is None:
        print(f"  activations       n/a  ({info['engine']} allocates outside PyTorch)")
    else:
        per = human_bytes(peak / info["batch"])
        print(f"  activations {human_bytes(peak):>9}  peak allocated by one forward of batch {info['batch']} "
              f"({per} per sample; {human_bytes(info['activation_total_bytes'])} allocated in all)")
    if "recorded" in info:
        r = info["recorded"]
        print(f"  {r['by']} measured {r['images_per_s']:.1f} samples/s at batch {r['batch']}, {r['threads']} threads")
    mb = info["peak_memory_mb"]
    mem = "n/a (cannot reset the RSS high-water mark here)" if mb is None else \
        f"{mb:9.1f} MB  (" + ("max_memory_allocated" if info["device"].startswith("cuda")
                              else "rise of the process's peak RSS") + " during the runs)"
    print(f"  process peak memory {mem}")


def _stability(info: dict) -> str:
    """The timing's marks: outliers re-measured, and "~ unstable" when the spread stayed wide."""
    parts = [f"{info['outliers']} outlier(s) re-measured"] if info["outliers"] else []
    if info["stable"] is False:
        parts.append("~ unstable: quartiles wider than 10 % of the median after repeats")
    return "; " + "; ".join(parts) if parts else ""


def _warn_if_busy(threads: int) -> None:
    """One line on stderr when other work competes for the cores this benchmark uses."""
    import os
    import sys

    from convzoo.runs.benching import load_average
    load = load_average()
    if load is not None and load > threads:
        print(f"convzoo bench: warning: load average {load:.1f} over the last minute is above the {threads} "
              f"thread(s) this benchmark uses ({os.cpu_count()} CPUs): other processes compete for the "
              f"cores, so times may be several times too high", file=sys.stderr)


def _print_all(info: dict, runs: int) -> None:
    """:func:`convzoo.export.benchmark_all`'s rows as a table, the fastest marked."""
    from convzoo.export.engines import DEFAULT, is_reference
    rows = info["engines"]
    done = [r for r in rows if "error" not in r]
    shape = "x".join(map(str, info["input_size"]))
    print(f"{info['model']} | every engine, {info['precision']} | batch {info['batch']} x {shape} | {info['device']}, "
          f"{info['threads']} threads | median of {runs} runs each [quartiles]; ~ unstable")
    ref = next((r["throughput"] for r in done if is_reference(r["engine"])), None)
    for r in sorted(rows, key=lambda r: -r.get("throughput", -1)):
        if "error" in r:
            print(f"  {r['engine']:12s} cannot run this model: {r['error']}")
            continue
        vs = f"  {r['throughput'] / ref:5.2f}x {DEFAULT}" if ref else ""
        mark = "  <- fastest" if r["engine"] == info["fastest"] else ""
        tilde = "~" if r.get("stable") is False else " "
        q = f"[{r['latency_q1_ms']:.2f}-{r['latency_q3_ms']:.2f}]"
        print(f"  {r['engine']:12s} {r['latency_ms']:9.2f} ms{tilde}{q}  "
              f"{r['throughput']:9.1f} samples/s{vs}{mark}")
