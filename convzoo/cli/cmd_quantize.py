"""``convzoo quantize``: post-training int8 calibrated on a dataset, with an accuracy and speed report."""
from __future__ import annotations

import argparse
import json

HELP = "quantize a trained model to int8 (calibrated on its data) and report accuracy and speed vs fp32"

EPILOG = """Calibration uses the first --calibration samples of the dataset's train split (the same
resize and normalisation as training); accuracy is measured on the test split for fp32 (PyTorch),
bf16 (PyTorch, bf16 weights and activations), OpenVINO's default execution (bf16 on CPUs with native bf16) and
int8, with top-1 agreement with fp32. Speed: images/s at --bench-batch, median of --runs calls.
The result is an OpenVINO IR folder (OUT/model.xml + model.bin + quantize.json) plus OUT/report.json;
`convzoo eval OUT` and `convzoo bench OUT` take it. --backend pt2e (PyTorch PT2E + X86InductorQuantizer)
writes OUT/model.pt2 instead: an AOTInductor package, compiled once here and loaded without compiling.

examples:
  convzoo quantize runs/mobilenet_v2-digits-20260101-120000 --out int8/mnv2
  convzoo quantize runs/mobilenet_v2-digits-20260101-120000 --out int8/mnv2-qat --qat-epochs 2
  convzoo quantize mobilenet_v2 --weights model.safetensors --dataset digits --image-size 32 --out int8/m"""


def register(subparsers) -> None:
    from convzoo.cli._common import LazyChoice, flag_type as t
    p = subparsers.add_parser("quantize", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a run folder written by convzoo train, or a registered model name")
    p.add_argument("--weights", help="weights file (default: RUN/model.safetensors)")
    p.add_argument("--dataset", help="dataset to calibrate on and test (default: the run's)")
    p.add_argument("--data-root", help="folder of an on-disk dataset")
    p.add_argument("--image-size", type=t("image_size"), help="resize images to this side (default: the run's)")
    p.add_argument("--out", required=True, help="folder for the int8 IR and report.json")
    p.add_argument("--backend", type=LazyChoice("convzoo.export.quantize:BACKENDS"), default=None,
                   help="openvino (NNCF, the default: saved as an IR) or pt2e (PyTorch PT2E: saved as an AOTInductor "
                        "package, model.pt2)")
    p.add_argument("--model-type", choices=("auto", "cnn", "transformer"), default="auto",
                   help="NNCF model type (auto: transformer for nets with LayerNorm)")
    p.add_argument("--preset", choices=("performance", "mixed"), default="performance")
    p.add_argument("--ignore", action="append", metavar="NAME_OR_TYPE",
                   help="keep this op (name, or type such as Multiply) in float; repeatable")
    p.add_argument("--overflow-fix", action="store_true",
                   help="NNCF's 7-bit first layer, for an IR meant for CPUs without VNNI (default: off)")
    p.add_argument("--calibration", type=t("calibration"), default=300, help="calibration samples (default 300)")
    p.add_argument("--bench-batch", type=t("bench_batch"), default=8, help="batch for the speed columns (default 8)")
    p.add_argument("--runs", type=t("runs"), default=20, help="timed calls per speed column (default 20)")
    p.add_argument("--threads", type=t("threads"), default=None, help="inference threads (default: torch's)")
    p.add_argument("--qat-epochs", type=t("qat_epochs"), default=0, metavar="N",
                   help="quantization-aware training: N passes over the train split with fake int8 (PT2E, "
                        "implies --backend pt2e), reported beside the post-training int8 graph's accuracy as 'int8 "
                        "ptq' (reference int8 ops, not timed; default 0: post-training only)")
    p.add_argument("--qat-lr", type=t("qat_lr"), default=1e-4, help="AdamW rate of those passes, cosine to 0 "
                   "(default 1e-4)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    """:func:`convzoo.runs.quantize_run`, then its table (or the report as JSON)."""
    from convzoo.runs import quantize_run
    report = quantize_run(args.model, args.out, weights=args.weights, dataset=args.dataset, data_root=args.data_root,
                          image_size=args.image_size, backend=args.backend, model_type=args.model_type,
                          preset=args.preset, ignore=args.ignore, overflow_fix=args.overflow_fix,
                          calibration=args.calibration, bench_batch=args.bench_batch, runs=args.runs,
                          threads=args.threads, qat_epochs=args.qat_epochs, qat_lr=args.qat_lr)
    _print(report, args)
    return 0


def _print(report, args) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['model']} on {report['dataset']} (test, {report['test_samples']} samples), int8 by "
          f"{report['backend']} | speed: batch {report['bench_batch']}, {report['threads']} threads")
    print(f"  {'precision':10s} {'accuracy':>9s} {'agreement':>10s} {'images/s':>9s}")
    for k, r in report["results"].items():
        speed = f"{r['images_per_s']:9.1f}" if r["images_per_s"] is not None else " not timed (reference int8 ops)"
        print(f"  {k:10s} {100 * r['accuracy']:8.2f}% {100 * r['agreement']:9.2f}% {speed}")
    if "ptq_accuracy_drop_points" in report:
        print(f"  post-training int8 vs fp32: {-report['ptq_accuracy_drop_points']:+.2f} points; after "
              f"{report['qat']['epochs']} epoch(s) of quantization-aware training:")
    print(f"  int8 vs fp32: {-report['accuracy_drop_points']:+.2f} points; wrote {args.out}/report.json"
          + (f" and the int8 model {args.out}/{report['int8_file']}" if report.get("int8_file") else ""))
