"""``convzoo export MODEL --onnx PATH``: the inference graph as ONNX, checked with ONNX Runtime (and
``--openvino DIR``, ``--executorch FILE.pte``, ``--litert FILE.tflite``, each checked in its own runtime)."""
from __future__ import annotations

import argparse

HELP = ("export a model to ONNX, OpenVINO IR, ExecuTorch or LiteRT (BN folded, static TF padding), verified in "
        "its runtime")

EPILOG = """The exported graph is the inference form of the model: BatchNorm folded into the convs,
TensorFlow "SAME" padding frozen for the export's input size, no custom autograd. The batch axis
is dynamic unless --static-batch; spatial sizes are fixed by --input-size. After writing the file
(atomically), ONNX Runtime runs a random batch and its output is compared with eager PyTorch
(max abs difference relative to the output scale; fails above 1e-4) unless --no-verify; a file that
fails the check is renamed to NAME.failed-check, so nothing unchecked is left under the name asked for.
--executorch writes an ExecuTorch program lowered to the XNNPACK delegate (every axis fixed, the batch
to --static-batch or 1), fp32 or --precision int8 (PT2E with the XNNPACK quantizer, calibrated on a
run's train images or --calibration-data's), checked in the ExecuTorch runtime: fp32 against eager
within the bound above, int8 by top-1 agreement with eager on the run's test images. A run's data
spec is stored inside the .pte, so eval/predict/bench of the file need no data flags.
--litert writes a LiteRT (TFLite) model converted by litert-torch, the same way: every axis fixed,
fp32 or --precision int8 (PT2E with litert-torch's quantizer; int8 input and output, scales in the
file), checked in the ai-edge-litert interpreter, the run's data spec stored as the file's metadata.

examples:
  convzoo export efficientnet_b0 --onnx b0.onnx
  convzoo export mobilenet_v2 --onnx m.onnx --weights runs/x/model.safetensors --num-classes 10
  convzoo export convnext_tiny --onnx c.onnx --input-size 3 160 160 --static-batch
  convzoo export runs/x --executorch m.pte --precision int8
  convzoo export runs/x --litert m.tflite --precision int8"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("export", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered model name (see convzoo list) or a run folder (convzoo train "
                   "or compress: its trained weights at its input size)")
    p.add_argument("--onnx", metavar="PATH", help="where to write the .onnx file")
    p.add_argument("--openvino", metavar="DIR", help="write OpenVINO IR files (DIR/model.xml + .bin, "
                   "float32 weights, dynamic batch) via openvino.convert_model, checked against eager")
    p.add_argument("--executorch", metavar="PATH", help="write an ExecuTorch .pte program (XNNPACK delegate), "
                   "checked in the ExecuTorch runtime (pip install 'convzoo[edge]')")
    p.add_argument("--litert", metavar="PATH", help="write a LiteRT .tflite model (litert-torch converter), "
                   "checked in the LiteRT interpreter (pip install 'convzoo[edge]')")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                   help="--executorch and --litert only: fp32 (default) or int8 (PT2E; XNNPACK's or "
                        "litert-torch's quantizer)")
    p.add_argument("--calibration-data", metavar="DATASET", help="--precision int8: dataset (name, or a "
                   "folder with --data-root) whose train split calibrates; a run's own by default")
    p.add_argument("--data-root", help="folder of an on-disk dataset (--calibration-data)")
    p.add_argument("--weights", metavar="FILE", help="weights to load first: a .safetensors or weights_only "
                   "torch file in convzoo, timm or torchvision layout (e.g. a run folder's "
                   "model.safetensors); default: random init")
    p.add_argument("--input-size", nargs="+", metavar="N",
                   help="input size C H W (or C L, C T H W) the graph is fixed to "
                        "(default: the model's default_cfg input_size)")
    p.add_argument("--num-classes", type=t("num_classes"), help="classifier width (default: the model's)")
    p.add_argument("--in-chans", type=t("in_chans"), help="input channels (default: the model's)")
    p.add_argument("--allow-new-head", action="store_true",
                   help="with --weights whose classifier has another width: export a fresh, untrained "
                        "classifier instead of refusing")
    p.add_argument("--static-batch", type=t("static_batch"), metavar="N", help="fix the batch axis to N")
    p.add_argument("--opset", type=t("opset"), default=17, help="ONNX opset, 13..20 (default 17)")
    p.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm as separate nodes")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime check")
    p.set_defaults(func=run)


def run(args) -> int:
    """:func:`convzoo.runs.exporting.export_source` with the flags; two lines per file as it is done."""
    from convzoo.cli._common import parse_input_size
    from convzoo.runs.exporting import FLAG, export_source
    export_source(args.model, {kind: getattr(args, flag[2:]) for kind, flag in FLAG.items()},
                  precision=args.precision, input_size=parse_input_size(args.input_size) if args.input_size else None,
                  static_batch=args.static_batch, opset=args.opset, fold_bn=not args.no_fold_bn,
                  verify=not args.no_verify, calibration_data=args.calibration_data, data_root=args.data_root,
                  weights=args.weights, num_classes=args.num_classes, in_chans=args.in_chans,
                  allow_new_head=args.allow_new_head, on_file=lambda row: _print(row, args.model))
    return 0


# format -> (where it was checked, how the first line names it)
_LABEL = {"onnx": ("ONNX Runtime", ""), "ir": ("OpenVINO (f32)", ""),
          "pte": ("the ExecuTorch runtime", "ExecuTorch XNNPACK"), "tflite": ("the LiteRT interpreter", "LiteRT")}


def _print(row: dict, model: str) -> None:
    """What was written (and how it was checked), as the command has always said it."""
    shape = "x".join(map(str, row["input"]))
    runtime, label = _LABEL[row["format"]]
    if row["format"] == "onnx":
        axis = f"batch {row['static_batch']}" if row["static_batch"] else "dynamic batch"
        print(f"wrote {row['path']} ({model}, input {axis} x {shape}, opset {row['opset']})")
    elif row["format"] == "ir":
        print(f"wrote {row['path']} ({model}, input dynamic batch x {shape})")
    else:
        print(f"wrote {row['path']} ({model}, {label} {row['precision']}, input {shape}, {row['size_mb']:.1f} MB)")
    if "checked_on" not in row:
        return
    if "top1_agreement" in row:
        what = f"top-1 agrees with eager on {100 * row['top1_agreement']:.1f} %"
    elif "bound" in row:
        what = f"max abs diff {row['max_abs_diff']:.1e} of the output scale (limit {row['bound']:.0e})"
    else:
        what = f"max abs diff {row['max_abs_diff']:.1e} of the output scale, same top-1"
    print(f"verified {'with' if row['format'] in ('onnx', 'ir') else 'in'} {runtime} on {row['checked_on']}: "
          f"{what}")
