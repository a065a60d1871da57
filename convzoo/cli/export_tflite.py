"""``convzoo export ... --litert PATH [--precision int8]``: the LiteRT half of ``convzoo export``.

model -> [int8: calibration inputs, a run's train split or --calibration-data's] ->
:func:`convzoo.export.to_litert` (converted, written, run in the LiteRT interpreter against eager: a
run's test images when there are, random inputs otherwise; a file that fails is renamed
``PATH.failed-check``) -> one line saying what was written and how it was checked.
"""
from __future__ import annotations


def export_litert(model, args, loaded, size, images, record) -> None:
    """Write and check ``args.litert`` (see the module docstring); ``CLIError`` (exit 1) for a file
    that fails its check, exit 2 for what cannot be converted."""
    import os

    import torch

    from convzoo.cli import CLIError
    from convzoo.cli.export_pte import _calibration
    from convzoo.export import load_tflite, to_litert, verify_tflite
    from convzoo.export.onnx import example_input_for
    calib = _calibration(args, loaded, size)
    path = to_litert(model, args.litert, input_size=size, precision=args.precision,
                     calibration_data=calib, batch=args.static_batch or 1, verify=False, record=record)
    runner = load_tflite(path)
    print(f"wrote {path} ({args.model}, LiteRT {args.precision}, input "
          f"{'x'.join(map(str, runner.input_shape))}, {os.path.getsize(path) / 1e6:.1f} MB)")
    if args.no_verify:
        return
    x, on = images, f"{0 if images is None else len(images)} of the run's test images"
    if x is None and calib is not None:
        x, on = torch.cat(calib)[:64], "64 calibration inputs"
    elif x is None:
        x, on = example_input_for(model, size, 2), "random inputs"
    try:
        got = verify_tflite(model, runner, x, rtol=None if images is not None else 1e-4)
    except (RuntimeError, ValueError) as e:     # nothing left under the name asked for
        os.replace(path, f"{path}.failed-check")
        raise CLIError(f"{e}; the file is kept as {path}.failed-check; --no-verify skips this check",
                       code=1) from None
    what = (f"top-1 agrees with eager on {100 * got:.1f} %" if args.precision == "int8"
            else f"max abs diff {got:.1e} of the output scale, same top-1")
    print(f"verified in the LiteRT interpreter on {on}: {what}")
