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
`convzoo eval OUT` and `convzoo bench OUT` take it. --backend pt2e (PyTorch PT2E + X86InductorQuantizer,
compiled in-process) is measured but not saved.

examples:
  convzoo quantize runs/mobilenet_v2-digits-20260101-120000 --out int8/mnv2
  convzoo quantize mobilenet_v2 --weights model.safetensors --dataset digits --image-size 32 --out int8/m"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("quantize", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a run folder written by convzoo train, or a registered model name")
    p.add_argument("--weights", help="weights file (default: RUN/model.safetensors)")
    p.add_argument("--dataset", help="dataset to calibrate on and test (default: the run's)")
    p.add_argument("--data-root", help="folder of an on-disk dataset")
    p.add_argument("--image-size", type=t("image_size"), help="resize images to this side (default: the run's)")
    p.add_argument("--out", required=True, help="folder for the int8 IR and report.json")
    p.add_argument("--backend", type=_backend, default=None,
                   help="openvino (NNCF, the default: saved as an IR) or pt2e (PyTorch PT2E: measured, not saved)")
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
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _backend(value: str) -> str:
    """A ``quantize(backend=)`` name (:data:`convzoo.export.quantize.BACKENDS`, read when the flag is
    parsed, not when the parser is built: ``--help`` loads no torch); a bad one in argparse's words."""
    from convzoo.cli._common import choice
    from convzoo.export.quantize import BACKENDS
    return choice(value, BACKENDS)


def _load(args):
    """(model, train split, test split, image size, description) for a run folder or a model name with
    --weights and --dataset; the description records the data spec, so eval/bench of OUT need no flags."""
    from convzoo.cli import CLIError
    from convzoo.runs import DataSpec, build_run_model, load_run, open_source
    from convzoo.train import load_weights
    from convzoo.train.engine import check_fits
    src = open_source(args.model)
    if src.kind == "run":
        run = load_run(src.path, weights=args.weights)
        if run.task != "classification":
            raise CLIError(f"quantize reports top-1 of classifiers; {args.model} is a {run.task} run "
                           f"(export it with convzoo export --onnx/--openvino)")
        data = run.data.replace(dataset=args.dataset, root=args.data_root, image_size=args.image_size)
        model, name, weights = run.model, src.model_name, args.weights or str(src.path / "model.safetensors")
        train, test = data.build(("train", "test"))
    elif src.kind == "model":
        if not (args.weights and args.dataset):
            raise CLIError("give a RUN folder, or a model name with --weights and --dataset")
        data = DataSpec(args.dataset, args.data_root, {}, args.image_size)
        train, test = data.build(("train", "test"))
        name, weights = args.model, args.weights
        model = build_run_model(name, test, {})
        load_weights(model, weights)
    else:
        raise CLIError(f"quantize takes a run folder or a model name; {src.describe()} is already an artifact")
    check_fits(model, test, data.dataset)
    return model.eval(), train, test, data.image_size, dict(model=name, dataset=data.dataset, weights=str(weights),
                                                            data=data.to_dict())


def _predict(fn, batches):
    import torch
    with torch.inference_mode():
        return torch.cat([fn(x).float().argmax(1) for x, _ in batches])


def run(args) -> int:
    import torch

    from convzoo.analysis.timing import median_ms
    from convzoo.export import quantize
    from convzoo.export.engines import by_role
    from convzoo.export.quantize import NNCF_BACKEND
    from convzoo.export.openvino import default_precision
    from convzoo.train.batches import prepared_batches
    from convzoo.io import write_json
    from convzoo.runs import QUANTIZE_JSON, check_new_folder, new_folder, read_json

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    check_new_folder(args.out)                  # refused before anything is computed
    args.backend = args.backend or NNCF_BACKEND
    model, train, test, size, desc = _load(args)
    calib = [x for x, _ in prepared_batches(train, size, args.calibration)]
    q = quantize(model, calib, backend=args.backend, model_type=args.model_type, preset=args.preset,
                 ignored_scope=args.ignore, subset_size=args.calibration, threads=args.threads,
                 overflow_fix=args.overflow_fix)
    test_batches = list(prepared_batches(test, size))
    labels = torch.cat([y for _, y in test_batches])
    x1 = test_batches[0][0][:1]
    # the columns are registry lookups: the reference engine (eager) in bf16, and the engine that runs
    # NNCF's int8 (OpenVINO) at its default precision on this CPU
    ref, ov = by_role("reference"), by_role("quantize")
    engines = {"fp32": model, "bf16": ref.build(model, x1, "bf16"),
               ov.name: ov.build(model, x1, default_precision(), threads=args.threads), "int8": q}
    preds = {k: _predict(fn, test_batches) for k, fn in engines.items()}
    xb = torch.cat([x for x, _ in test_batches])[: args.bench_batch]
    rows = {}
    for k, fn in engines.items():
        with torch.inference_mode():
            ms = median_ms(lambda: fn(xb), warmup=3, runs=args.runs)
        rows[k] = dict(accuracy=(preds[k] == labels).float().mean().item(),
                       agreement=(preds[k] == preds["fp32"]).float().mean().item(),
                       images_per_s=len(xb) / ms * 1e3)
    report = dict(**desc, backend=args.backend, int8_ir=q.saveable, test_samples=len(labels), image_size=size,
                  bench_batch=len(xb), threads=args.threads or torch.get_num_threads(), int8=q.info,
                  results=rows, accuracy_drop_points=100 * (rows["fp32"]["accuracy"] - rows["int8"]["accuracy"]))
    with new_folder(args.out) as tmp:
        if q.saveable:
            q.save(tmp)
            write_json(tmp / QUANTIZE_JSON, {**read_json(tmp / QUANTIZE_JSON), **desc, "image_size": size})
        write_json(tmp / "report.json", report)
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
        print(f"  {k:10s} {100 * r['accuracy']:8.2f}% {100 * r['agreement']:9.2f}% {r['images_per_s']:9.1f}")
    print(f"  int8 vs fp32: {-report['accuracy_drop_points']:+.2f} points; wrote {args.out}/report.json"
          + (f" and the int8 IR {args.out}/model.xml" if report["int8_ir"] else ""))
