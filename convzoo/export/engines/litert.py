"""LiteRT (:mod:`convzoo.export.litert`): the litert-torch converter, the ai-edge-litert interpreter
(XNNPACK delegate); fp32, and int8 by PT2E with litert-torch's quantizer. The runner runs the
``.tflite`` model in the interpreter on a thread count it is given and saves it as ``model.tflite``."""
from __future__ import annotations

from ..litert import LiteRTRunner, convert, load_tflite
from ._base import Engine

NAME = "litert"


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, threads=None, calibration_data=None, subset_size: int = 300,
          **options) -> LiteRTRunner:
    """Convert at ``example_input``'s shape (its batch fixed in the file; the converter picks its own
    layout, so ``channels_last`` does not apply, and BN is always folded) and load the bytes in the
    interpreter on ``threads`` threads. ``calibration_data``: int8 only, its first ``subset_size``
    samples."""
    if options:
        raise ValueError(f"the {NAME} engine takes no options {sorted(options)}")
    data = convert(model, example_input, precision, calibration_data=calibration_data, subset_size=subset_size)
    return LiteRTRunner(data, precision, threads=threads)


def load(file, chosen: dict, threads=None) -> LiteRTRunner:
    """A saved ``.tflite`` model (:func:`~convzoo.export.load_tflite`) labelled with its recorded precision."""
    return load_tflite(file, threads=threads, precision=chosen.get("precision"))


ENGINE = Engine(NAME, "LiteRT interpreter (litert-torch converter), XNNPACK delegate; int8 by PT2E",
                {"cpu": ("fp32", "int8")}, build, requires="litert_torch", extra="litert", folds_bn=True,
                native_precision=False, threads=True, host=True, runner=LiteRTRunner, format="litert", load=load)
