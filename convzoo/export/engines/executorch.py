"""ExecuTorch with the XNNPACK delegate (:mod:`convzoo.export.executorch`): fp32, and int8 by PT2E
with the XNNPACK quantizer; the runner runs the ``.pte`` program in the ExecuTorch runtime and saves
it as ``model.pte``."""
from __future__ import annotations

from ..executorch import ExecuTorchRunner, load_pte, lower
from ._base import Engine


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, threads=None, calibration_data=None, subset_size: int = 300,
          **options) -> ExecuTorchRunner:
    """Lower at ``example_input``'s shape (its batch fixed in the program; XNNPACK picks its own
    layout, so ``channels_last`` does not apply, and BN is always folded) and load the bytes in the
    runtime. ``calibration_data``: int8 only, its first ``subset_size`` samples."""
    if options:
        raise ValueError(f"the executorch engine takes no options {sorted(options)}")
    if threads is not None:
        raise ValueError("the executorch engine runs on XNNPACK's own thread pool; it takes no threads")
    program = lower(model, example_input, precision, calibration_data=calibration_data,
                    subset_size=subset_size)
    return ExecuTorchRunner(program, precision)


def load(file, chosen: dict, threads=None) -> ExecuTorchRunner:
    """A saved ``.pte`` program (:func:`~convzoo.export.load_pte`) labelled with its recorded precision."""
    return load_pte(file, precision=chosen.get("precision"))


ENGINE = Engine("executorch", "ExecuTorch runtime, XNNPACK delegate; int8 by PT2E (XNNPACK quantizer)",
                {"cpu": ("fp32", "int8")}, build, requires="executorch", extra="edge", folds_bn=True,
                native_precision=False, runner=ExecuTorchRunner, format="executorch", load=load)
