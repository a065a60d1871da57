"""``convzoo export ... --executorch PATH | --litert PATH [--precision int8]``: the edge half of
``convzoo export``, one routine for both one-file formats.

model -> [int8: calibration inputs, a run's train split or --calibration-data's] ->
:func:`convzoo.export.to_executorch` / :func:`~convzoo.export.to_litert` (written unchecked) -> the file
reloaded and run in its runtime against eager (a run's test images when there are, the calibration
inputs for int8, random inputs otherwise; a file that fails is renamed ``PATH.failed-check``) -> one
line saying what was written and one how it was checked.
"""
from __future__ import annotations


def _calibration(args, loaded, size):
    """int8 calibration inputs: --calibration-data's train split, else a run's own; None for fp32.
    One line when int8 has neither."""
    from convzoo.cli import CLIError
    from convzoo.train.batches import prepared_batches
    if args.precision != "int8":
        if args.calibration_data:
            raise CLIError("--calibration-data applies to --precision int8")
        return None
    if args.calibration_data:
        from convzoo.runs import build_data
        (train,) = build_data(args.calibration_data, args.data_root, splits=("train",))
        side = (size or (getattr(loaded.model, "default_cfg", None) or {}).get("input_size", (None,)))[-1]
    elif loaded.source.kind == "run" and loaded.data is not None:
        (train,) = loaded.data.build(("train",))
        side = loaded.data.image_size
    else:
        raise CLIError(f"--precision int8 calibrates on images: give a run folder (its train split) or "
                       f"--calibration-data DATASET; {loaded.source.describe()} has none")
    return [x for x, _ in prepared_batches(train, side, 300)]


def export_edge_file(model, args, loaded, size, images, record, *, path: str, to_file, load, verify,
                     label: str, runtime: str) -> None:
    """Write ``path`` with ``to_file`` (``to_executorch`` or ``to_litert``), reload it with ``load`` and
    check it with ``verify`` (see the module docstring); ``label`` names the format in the first line,
    ``runtime`` where it was checked in the second. ``CLIError`` (exit 1) for a file that fails its
    check, exit 2 for what cannot be converted."""
    import os

    from convzoo.cli import CLIError
    from convzoo.export.edge_file import check_inputs
    calib = _calibration(args, loaded, size)
    path = to_file(model, path, input_size=size, precision=args.precision, calibration_data=calib,
                   batch=args.static_batch or 1, verify=False, record=record)
    runner = load(path)
    print(f"wrote {path} ({args.model}, {label} {args.precision}, input "
          f"{'x'.join(map(str, runner.input_shape))}, {os.path.getsize(path) / 1e6:.1f} MB)")
    if args.no_verify:
        return
    x, rtol, kind = check_inputs(model, size, calib, images)
    on = {"inputs": f"{len(x)} of the run's test images", "calibration": f"{len(x)} calibration inputs",
          "random": "random inputs"}[kind]
    try:
        got = verify(model, runner, x, rtol=rtol)
    except (RuntimeError, ValueError) as e:     # nothing left under the name asked for
        from convzoo.export._common import set_aside
        raise CLIError(str(set_aside(path, e, "--no-verify skips this check")), code=1) from None
    what = (f"top-1 agrees with eager on {100 * got:.1f} %" if args.precision == "int8"
            else f"max abs diff {got:.1e} of the output scale, same top-1")
    print(f"verified in {runtime} on {on}: {what}")
