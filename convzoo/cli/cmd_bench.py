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
    from convzoo.analysis.timing import passive_wait_policy
    passive_wait_policy()        # restarts once with OMP_WAIT_POLICY=PASSIVE unless one is set
    import torch

    from convzoo.cli import CLIError
    from convzoo.cli._common import parse_input_size
    from convzoo.export import benchmark
    from convzoo.export.onnx import example_input_for

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device} requested but CUDA is not available")
    from convzoo.export.engines import DEFAULT, get_engine
    name = args.engine or DEFAULT
    engine = None if name == "all" else get_engine(name)
    if args.device.startswith("cuda") and engine is not None and "cuda" not in engine.devices:
        raise CLIError(f"--engine {name} runs on the CPU ({engine.summary}); use --device cpu")
    size = parse_input_size(args.input_size) if args.input_size else None
    model, size, loaded = _model_or_artifact(args, size)     # an artifact sets its own engine
    args.engine = args.engine or DEFAULT
    if args.threads is not None:   # flag ranges (--batch, --runs, --threads ...) checked by argparse
        torch.set_num_threads(args.threads)
    model = model.to(args.device)
    x = example_input_for(model, size, args.batch).to(args.device)
    model.check_input(x) if hasattr(model, "check_input") else None
    if args.engine == "all":
        return _run_all(args, model, x)
    res = benchmark(model, x, args.engine, warmup=args.warmup, runs=args.runs,
                    channels_last=args.channels_last, fold_bn=args.fold_bn, amp=args.amp,
                    ort_threads=args.threads or torch.get_num_threads(), precision=args.precision)
    _warn_if_busy(torch.get_num_threads())
    from convzoo.analysis.memory import forward_activation_memory, human_bytes
    # activations are PyTorch's allocations: an engine's own runtime allocates outside them
    act = None if loaded.source.is_artifact else forward_activation_memory(model, x)
    from convzoo.analysis.timing import measurement_setup
    info = dict(model=args.model, device=args.device, **measurement_setup(),
                channels_last=args.channels_last, fold_bn=args.fold_bn or get_engine(args.engine).folds_bn,
                amp=args.amp, **res.as_dict(), activation_peak_bytes=act and act.peak_bytes,
                activation_total_bytes=act and act.total_bytes, load_avg_1min=_load())
    if loaded.record.get("images_per_s"):
        info["recorded"] = {k: loaded.record.get(k) for k in ("by", "images_per_s", "batch", "threads")}
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    shape = "x".join(map(str, res.input_size))
    opts = ", ".join(o for o, on in (("channels_last", args.channels_last), ("BN folded", info["fold_bn"]),
                                     ("AMP", args.amp)) if on) or "plain"
    where = info.get("gpu", f"{info['threads']} CPU threads, OMP_WAIT_POLICY {info['omp_wait_policy']}")
    print(f"{args.model} | engine {args.engine}, {res.precision} ({opts}) | batch {res.batch} x {shape} | "
          f"{args.device}, {where}")
    print(f"  latency     {res.latency_ms:9.2f} ms{'~' if res.stable is False else ''} (median of {res.runs} runs "
          f"after {args.warmup} warm-up; quartiles {res.latency_q1_ms:.2f}-{res.latency_q3_ms:.2f} ms, p90 "
          f"{res.latency_p90_ms:.2f} ms{_stability(res)})")
    print(f"  throughput  {res.throughput:9.1f} samples/s")
    if act is None:
        print(f"  activations       n/a  ({res.engine} allocates outside PyTorch)")
    else:
        per = human_bytes(act.peak_bytes / res.batch)
        print(f"  activations {human_bytes(act.peak_bytes):>9}  peak allocated by one forward of batch {res.batch} "
              f"({per} per sample; {human_bytes(act.total_bytes)} allocated in all)")
    if "recorded" in info:
        r = info["recorded"]
        print(f"  {r['by']} measured {r['images_per_s']:.1f} samples/s at batch {r['batch']}, {r['threads']} threads")
    mem = "n/a (cannot reset the RSS high-water mark here)" if res.peak_memory_mb is None else \
        f"{res.peak_memory_mb:9.1f} MB  (" + ("max_memory_allocated" if args.device.startswith("cuda")
                                             else "rise of the process's peak RSS") + " during the runs)"
    print(f"  process peak memory {mem}")
    return 0


def _stability(res) -> str:
    """The timing's marks: outliers re-measured, and "~ unstable" when the spread stayed wide."""
    parts = [f"{res.outliers} outlier(s) re-measured"] if res.outliers else []
    if res.stable is False:
        parts.append("~ unstable: quartiles wider than 10 % of the median after repeats")
    return "; " + "; ".join(parts) if parts else ""


def _load() -> float | None:
    import os
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):          # not on every platform
        return None


def _warn_if_busy(threads: int) -> None:
    """One line on stderr when other work competes for the cores this benchmark uses."""
    import os
    import sys
    load = _load()
    if load is not None and load > threads:
        print(f"convzoo bench: warning: load average {load:.1f} over the last minute is above the {threads} "
              f"thread(s) this benchmark uses ({os.cpu_count()} CPUs): other processes compete for the "
              f"cores, so times may be several times too high", file=sys.stderr)


def _engine_flags() -> tuple:
    """(flag, dest, default) of the flags that choose how a model runs (refused for an artifact)."""
    return (("--engine", "engine", None), ("--precision", "precision", "fp32"),
            ("--channels-last", "channels_last", False), ("--fold-bn", "fold_bn", False), ("--amp", "amp", False))


def _model_or_artifact(args, size):
    """The model to measure, its input size and what its producer measured: a deploy / quantize / IR
    folder or an .onnx file runs as a runner of its own engine and real precision (engine flags do
    not apply to it and are refused), at its recorded batch and threads unless given."""
    from convzoo.cli import CLIError
    from convzoo.cli._common import load_from_args
    from convzoo.runs import check_feeds, open_source
    src = open_source(args.model)
    if src.kind == "deploy" and args.threads is None:    # timed as deploy timed it
        args.threads = (src.manifest.get("timing") or {}).get("threads")
    loaded = load_from_args(args)
    if not loaded.source.is_artifact:
        model = loaded.model
        args.batch = args.batch or 1
        return (model.logits_only() if getattr(model, "task", "") == "segmentation" else model), \
            size or loaded.input_size, loaded
    from convzoo.cli._common import explicit
    given = [flag for flag, dest, default in _engine_flags()
             if dest in explicit(args) or getattr(args, dest) != default]
    if given:
        raise CLIError(f"{', '.join(given)} do(es) not apply to {loaded.source.describe()}: it runs on its own "
                       f"engine ({loaded.engine} {loaded.precision})")
    check_feeds(loaded, size, "--input-size")
    args.engine, args.precision = loaded.engine, loaded.precision
    args.batch = args.batch or loaded.record.get("batch") or 1
    shape = size or loaded.input_size
    if shape is None:
        raise ValueError(f"{args.model} does not fix its input size; pass --input-size")
    loaded.model.default_cfg = {"input_size": tuple(shape)}
    return loaded.model, shape, loaded


def _run_all(args, model, x) -> int:
    """:func:`convzoo.export.benchmark_all`, then its table (the fastest marked) or JSON."""
    import torch

    from convzoo.export import benchmark_all
    from convzoo.export.engines import DEFAULT, is_reference

    rows = benchmark_all(model, x, device="cuda" if args.device.startswith("cuda") else "cpu", warmup=args.warmup,
                         runs=args.runs, amp=args.amp, threads=args.threads, precision=args.precision)
    _warn_if_busy(torch.get_num_threads())
    done = [r for r in rows if "error" not in r]
    best = max(done, key=lambda r: r["throughput"]) if done else None
    if args.json:
        from convzoo.analysis.timing import measurement_setup
        print(json.dumps(dict(model=args.model, device=args.device, precision=args.precision,
                              **measurement_setup(),
                              fastest=best and best["engine"], engines=rows), indent=2))
        return 0
    shape = "x".join(map(str, x.shape[1:]))
    print(f"{args.model} | every engine, {args.precision} | batch {x.shape[0]} x {shape} | {args.device}, "
          f"{torch.get_num_threads()} threads | median of {args.runs} runs each [quartiles]; ~ unstable")
    ref = next((r["throughput"] for r in done if is_reference(r["engine"])), None)
    for r in sorted(rows, key=lambda r: -r.get("throughput", -1)):
        if "error" in r:
            print(f"  {r['engine']:12s} cannot run this model: {r['error']}")
            continue
        vs = f"  {r['throughput'] / ref:5.2f}x {DEFAULT}" if ref else ""
        mark = "  <- fastest" if r is best else ""
        tilde = "~" if r.get("stable") is False else " "
        q = f"[{r['latency_q1_ms']:.2f}-{r['latency_q3_ms']:.2f}]"
        print(f"  {r['engine']:12s} {r['latency_ms']:9.2f} ms{tilde}{q}  "
              f"{r['throughput']:9.1f} samples/s{vs}{mark}")
    return 0
