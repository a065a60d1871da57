"""LiteRT (:mod:`convzoo.export.litert`): the litert-torch converter, the ai-edge-litert interpreter
(XNNPACK delegate); fp32, and int8 by PT2E with litert-torch's quantizer. The runner runs the
``.tflite`` model in the interpreter on a thread count it is given and saves it as ``model.tflite``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch

from ...io import atomic_write
from ..litert import TFLiteProgram, convert
from ..runner import Runner
from ._base import Engine

NAME = "litert"


class LiteRTRunner(Runner):
    """A ``.tflite`` model in the ai-edge-litert interpreter (:class:`~convzoo.export.litert.TFLiteProgram`
    on ``threads`` threads). ``input_shape`` is the (B, C, *S) the file fixes; ``record`` the facts
    stored in it; ``precision`` the record's unless given."""

    engine = NAME

    def __init__(self, data: bytes, precision: Optional[str] = None, *, threads: Optional[int] = None):
        super().__init__()
        self.program = TFLiteProgram(data, threads=threads)
        self.input_shape, self.record = self.program.input_shape, self.program.record
        self.precision = precision or self.program.precision
        self.default_cfg = {"input_size": self.input_shape[1:]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)

    def bind(self, x: torch.Tensor):
        self.program.check_shape(tuple(x.shape))
        if len(x) != self.input_shape[0]:
            return super().bind(x)
        feed = self.program.feed(x)
        return lambda: self.program.invoke(feed)

    def save(self, out_dir: str | os.PathLike) -> dict:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "model.tflite", lambda tmp: Path(tmp).write_bytes(self.program.data))
        return {"file": "model.tflite", "format": self.engine}


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


ENGINE = Engine(NAME, "LiteRT interpreter (litert-torch converter), XNNPACK delegate; int8 by PT2E",
                {"cpu": ("fp32", "int8")}, build, requires="litert_torch", extra="edge", folds_bn=True,
                native_precision=False, takes_threads=True)
