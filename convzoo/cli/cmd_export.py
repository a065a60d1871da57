"""``convzoo export MODEL --onnx PATH``: the inference graph as ONNX, checked with ONNX Runtime (and
``--openvino DIR``, ``--executorch FILE.pte``, ``--litert FILE.tflite``, each checked in its own runtime)."""
from __future__ import annotations

import argparse
import json

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
    from convzoo.cli import CLIError
    from convzoo.cli._common import load_from_args, parse_input_size
    from convzoo.export import to_onnx, verify_onnx
    from convzoo.export.onnx import example_input_for

    if not (args.onnx or args.openvino or args.executorch or args.litert):
        raise CLIError("give --onnx PATH, --openvino DIR, --executorch PATH and/or --litert PATH")
    if args.precision != "fp32" and not (args.executorch or args.litert):
        raise CLIError(f"--precision {args.precision} applies to --executorch and --litert; --onnx and "
                       f"--openvino write fp32")
    from pathlib import Path

    from convzoo.runs import check_new_folder
    for flag, path in (("--onnx", args.onnx), ("--executorch", args.executorch), ("--litert", args.litert)):
        if path and Path(path).exists():     # a file this command did not write is never replaced
            raise CLIError(f"{flag} {path} already exists; convzoo does not write over it (remove it or "
                           f"choose another path)")
    if args.openvino:
        check_new_folder(args.openvino, "--openvino")
    size = parse_input_size(args.input_size) if args.input_size else None
    loaded = load_from_args(args)
    if loaded.source.is_artifact:
        raise CLIError(f"export takes a model name, a model folder or a run folder; {loaded.source.describe()} "
                       f"is already an artifact")
    model = loaded.model
    if getattr(model, "task", "") == "segmentation":   # the graph returns the logits, not {"out": ...}
        model = model.logits_only()
    images = _run_images(loaded, size)
    record = _record(loaded, size)
    if args.executorch or args.litert:
        from convzoo.cli.export_edge import export_edge_file
        from convzoo.export import load_pte, load_tflite, to_executorch, to_litert, verify_pte, verify_tflite
    if args.executorch:
        export_edge_file(model, args, loaded, size, images, record, path=args.executorch, to_file=to_executorch,
                         load=load_pte, verify=verify_pte, label="ExecuTorch XNNPACK", runtime="the ExecuTorch runtime")
    if args.litert:
        export_edge_file(model, args, loaded, size, images, record, path=args.litert, to_file=to_litert,
                         load=load_tflite, verify=verify_tflite, label="LiteRT", runtime="the LiteRT interpreter")
    if args.openvino:
        _export_openvino(model, args, size, images, record)
    if not args.onnx:
        return 0
    batch = args.static_batch or 1
    path = to_onnx(model, args.onnx, input_size=size, dynamic_batch=args.static_batch is None,
                   batch=batch, opset=args.opset, fold_bn=not args.no_fold_bn,
                   metadata={"convzoo": json.dumps(record)} if record else None)
    x = example_input_for(model, size, args.static_batch or 2)
    shape = "x".join(map(str, x.shape[1:]))
    axis = f"batch {args.static_batch}" if args.static_batch else "dynamic batch"
    print(f"wrote {path} ({args.model}, input {axis} x {shape}, opset {args.opset})")
    if not args.no_verify:
        try:
            # a run's own test images, with the bound derived from fp32's error on this net;
            # random inputs and the fixed 1e-4 otherwise
            err = verify_onnx(model, path, x, inputs=images, rtol=None if images is not None else 1e-4)
        except (RuntimeError, ValueError) as e:     # nothing left under the name asked for
            from convzoo.export._common import set_aside
            raise CLIError(str(set_aside(path, e, "--no-verify skips this check")), code=1) from None
        on = f"{len(images)} of the run's test images" if images is not None else "random inputs"
        print(f"verified with ONNX Runtime on {on}: max abs diff {err:.1e} of the output scale, same top-1")
    return 0


def _record(loaded, size) -> dict:
    """What the artifact remembers of its source: the model and, for a run at its own input size, the
    data spec (so eval/predict/bench of the file need no data flags)."""
    rec: dict = {"model": loaded.source.model_name or loaded.source.name, "source": loaded.source.name}
    if loaded.data is not None and (size is None or tuple(size) == tuple(loaded.data.model_input_size() or ())):
        rec["data"] = loaded.data.to_dict()
    return rec


def _run_images(loaded, size):
    """A run folder's first test images at the export's input size, or None (no run, no data, other size)."""
    from convzoo.runs import run_test_inputs
    if loaded.source.kind != "run" or loaded.data is None:
        return None
    if size is not None and tuple(size) != tuple(loaded.data.model_input_size() or ()):
        return None
    return run_test_inputs(loaded.data)


def _export_openvino(model, args, size, images=None, record=None) -> None:
    """IR files via openvino.convert_model, then OpenVINO (f32 execution) against eager PyTorch: on a
    run's test images with the bound from fp32's own error and the same top-1, else on random inputs
    within 1e-4."""
    import torch

    from convzoo.export import relative_error
    from convzoo.export.onnx import example_input_for, fp32_error_bound
    from convzoo.export.openvino import OpenVINOModule, load_openvino, to_openvino
    path = to_openvino(model, args.openvino, input_size=size, fold_bn=not args.no_fold_bn)
    if record:
        from convzoo.io import write_json
        from convzoo.runs import EXPORT_JSON
        write_json(path.parent / EXPORT_JSON, record)
    x = images if images is not None else example_input_for(model, size, 2)
    print(f"wrote {path} ({args.model}, input dynamic batch x {'x'.join(map(str, x.shape[1:]))})")
    if not args.no_verify:
        with torch.no_grad():
            got, ref = OpenVINOModule(load_openvino(path), precision="fp32")(x), model(x)
        err = relative_error(got, ref)
        bound = fp32_error_bound(model, x) if images is not None else 1e-4
        top2 = ref.flatten(1).topk(2, dim=1).values if ref.dim() == 2 else None
        clear = (top2[:, 0] - top2[:, 1]) > 2 * err * ref.abs().max() if top2 is not None else None
        same = images is None or clear is None or bool((got.argmax(1) == ref.argmax(1))[clear].all())
        if err > bound or not same:
            from convzoo.cli import CLIError
            for name in ("model.xml", "model.bin"):          # nothing left under the names asked for
                (path.parent / name).replace(path.parent / f"{name}.failed-check")
            what = f"differs from eager by {err:.1e} of the output scale (limit {bound:.0e})" if err > bound \
                else "changes the top-1 class of a test image"
            raise CLIError(f"OpenVINO output {what}; the IR is kept as {path.parent}/model.xml.failed-check; "
                           f"--no-verify skips this check", code=1)
        on = f"{len(x)} of the run's test images" if images is not None else "random inputs"
        print(f"verified with OpenVINO (f32) on {on}: max abs diff {err:.1e} of the output scale (limit {bound:.0e})")
