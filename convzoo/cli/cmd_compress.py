"""``convzoo compress``: a trained run made cheaper by a factorisation, fine-tuned briefly, written as a
new run folder that ``convzoo eval`` (and ``quantize``, ``train --resume``) rebuild and load."""
from __future__ import annotations

import argparse

from convzoo.compress.recipe import FINETUNE_EPOCHS, FINETUNE_LR_SCALE

HELP = "factor a trained run's convolutions (spatial, channel, tucker2, cp, dwsep, separable_dw) and fine-tune"

EPILOG = """examples:
  convzoo compress runs/r18 --method spatial --speedup 2 --out runs/r18-sp     # 2x measured on ONNX Runtime
  convzoo compress runs/r18 --method spatial --macs-ratio 4 --out runs/r18-sp4  # 4x fewer MACs
  convzoo compress runs/c3d --method spatial --energy 0.9 --finetune-epochs 2 --no-distill --out runs/c3d-21d
  convzoo eval runs/r18-sp

--speedup is measured: dense and compressed timed interleaved on --engine (default onnxruntime, batch 1,
1 thread), MAC ratios searched with the measurement in the loop (up to 4 rounds; slower layers put back
dense). When the net measures short (small nets are per-op-overhead bound: 0.6-1.6x whatever the MACs in
the study), it refuses in one line saying what it measured and why, and writes nothing.

The default recipe is the study's (docs/compress.md): distilled from the dense net (Hinton's loss,
T = 4, alpha = 0.5), 0.3x the run's learning rate, 30 epochs; at 4x MACs that landed within a point of the
dense net fine-tuned as long on ResNet-18 (10 epochs), M11 (20) and C3D-small (30), three seeds each.

report.json: macs_before/after, params_before/after, latency_ms_before/after (medians on the engine) and
latency (quartiles, engine, batch, threads, the search's rounds), accuracy_original (the run as trained),
accuracy_before (right after compression, before fine-tuning), accuracy_after (after fine-tuning; also
`accuracy`, which `convzoo eval` checks), layers, spec."""


def register(subparsers) -> None:
    from convzoo.cli._common import LazyChoice, flag_type as t
    p = subparsers.add_parser("compress", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by convzoo train")
    p.add_argument("--method", required=True, help="spatial | channel | tucker2 | cp | dwsep | separable_dw")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--speedup", type=t("speedup"),
                   help="target measured speed-up > 1 on --engine (batch 1); refused when not reached")
    g.add_argument("--macs-ratio", type=t("speedup"), help="target ratio of MACs, dense over compressed, > 1")
    g.add_argument("--energy", type=t("energy"), help="kept singular-value energy in (0, 1]")
    g.add_argument("--rank", type=t("rank"), help="one rank for every layer (capped at each layer's full rank)")
    p.add_argument("--engine", type=LazyChoice("convzoo.compress.latency:engines"),
                   help="where --speedup and the report's latency are measured: onnxruntime or eager (default "
                        "onnxruntime; eager when onnxruntime is not installed)")
    p.add_argument("--threads", type=t("threads"), default=1, help="intra-op threads while timing (default 1)")
    p.add_argument("--finetune-epochs", type=t("finetune_epochs"),
                   help=f"epochs of fine-tuning (0: none; default {FINETUNE_EPOCHS}, the study's: ResNet-18 needed 10, "
                        "M11 20, C3D-small 30)")
    p.add_argument("--distill", action=argparse.BooleanOptionalAction,
                   help="fine-tune against the original run's logits (default on, the study's recipe: at 4x MACs "
                        "ResNet-18 spatial lost 0.2 points distilled, 1.2 on labels)")
    p.add_argument("--lr", type=t("lr"), help=f"fine-tuning learning rate (default: the run's x {FINETUNE_LR_SCALE}, "
                                              "the study's; at 0.1x C3D-small lost 2.6 points, at 0.3x 1.3)")
    p.add_argument("--batch-size", type=t("batch_size"), help="default: the run's")
    p.add_argument("--limit-train", type=t("limit_train"), help="fine-tune on the first N training samples")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--verbose", action="store_true", help="on a refusal, list why per layer")
    p.add_argument("--out", required=True, help="the new run folder (must not hold files)")
    p.set_defaults(func=run)


def run(args) -> int:
    """:func:`convzoo.runs.compress_run`, then its one summary line."""
    import sys

    from convzoo.cli import CLIError
    from convzoo.compress import NothingToCompress, SpeedupNotReached
    from convzoo.runs import compress_run
    try:
        rep = compress_run(args.run_dir, args.method, out=args.out, rank=args.rank, energy=args.energy,
                           macs_ratio=args.macs_ratio, speedup=args.speedup, engine=args.engine, threads=args.threads,
                           finetune_epochs=args.finetune_epochs, distill=args.distill, lr=args.lr,
                           batch_size=args.batch_size, limit_train=args.limit_train, device=args.device,
                           progress=not args.no_progress)
    except NothingToCompress as e:
        if args.verbose:
            for r in e.layers:
                print(f"  {r['name']}: {r['reason']}", file=sys.stderr)
        raise CLIError(f"{e}{'' if args.verbose else ' (--verbose lists each conv)'}") from None
    except SpeedupNotReached as e:
        if args.verbose:
            for r in e.report["latency"]["search"]:
                print(f"  round: {r['macs_ratio']:.2f}x fewer MACs -> measured {r['measured']:.2f}x, "
                      f"{r['put_back']} of {r['tried']} factorised convs put back", file=sys.stderr)
            for r in e.report.get("timing", []):
                print(f"  {r['name']}: dense {r['dense_ms']:.3f} ms, factorised {r['factorized_ms']:.3f} ms "
                      f"({r['speedup']:.2f}x)", file=sys.stderr)
        raise CLIError(str(e).replace("macs_ratio= targets", "--macs-ratio targets")) from None
    print(_line(args, rep))
    return 0


def _line(args, rep: dict) -> str:
    """The one summary line: MACs, measured latency with its spread, what that says against the target."""
    L = rep["latency"]
    b, a, s = L["before"], L["after"], L["speedup"]
    if args.speedup:
        verdict = f"target {args.speedup:g}x measured: reached"
    elif args.macs_ratio and s < args.macs_ratio:
        verdict = (f"MAC target {args.macs_ratio:g}x, measured {s:.2f}x" + (": slower than the dense net" if s < 1
                                                                          else ": less than the MACs say"))
    else:
        verdict = f"measured {s:.2f}x"
    return (f"{rep['model']} {args.method}: MACs {rep['macs_before']:,} -> {rep['macs_after']:,} "
            f"({rep['macs_before'] / max(rep['macs_after'], 1):.2f}x), latency on {L['engine']} (batch 1, "
            f"{L['threads']} thread(s), interleaved) {b['median_ms']:.3f} ms [IQR {b['q1_ms']:.3f}-{b['q3_ms']:.3f}]"
            f" -> "
            f"{a['median_ms']:.3f} ms [IQR {a['q1_ms']:.3f}-{a['q3_ms']:.3f}] ({verdict}), accuracy "
            f"{rep['accuracy_original']:.4f} -> {rep['accuracy_before']:.4f} (compressed) -> "
            f"{rep['accuracy_after']:.4f} (fine-tuned{', distilled' if rep['distill'] else ''}, "
            f"{rep['finetune_epochs']} epochs); wrote {args.out}")
