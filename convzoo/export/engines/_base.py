"""What an engine declares: its name, devices, precisions, optional dependency and ``build``."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Engine:
    """One inference engine. ``build(model, example_input, precision, **options) -> Runner``.

    ``precisions`` per device type (``{"cpu": ("fp32", "bf16"), "cuda": (...)}``); ``requires`` the
    module an optional engine imports (None: PyTorch itself) and ``extra`` the ``pip install
    'convzoo[extra]'`` that brings it; ``saves`` whether its runners write an artifact; ``folds_bn``
    whether it always runs the BN-folded graph (its export folds BN whatever the caller asks);
    ``native_precision`` whether its bf16 / int8 need this CPU's native instructions (AMX, VNNI,
    AVX512-BF16: :func:`~convzoo.export.check_precision`); XNNPACK's int8 kernels run on plain AVX2;
    ``reads_onnx`` whether it can run an exported ``.onnx`` file as it is (``make_runner(onnx_path=)``);
    ``takes_threads`` whether ``build`` takes ``threads``: the engine runs on a thread pool of its own,
    outside PyTorch's, sized by the caller (and is timed through its runner's ``bind``)."""

    name: str
    summary: str
    precisions: dict
    build: Callable
    requires: Optional[str] = None
    extra: str = "deploy"
    saves: bool = True
    folds_bn: bool = False
    native_precision: bool = True
    reads_onnx: bool = False
    takes_threads: bool = False

    @property
    def devices(self) -> tuple:
        return tuple(self.precisions)

    def missing(self) -> Optional[str]:
        """Why this engine cannot run here (its optional package is not installed), or None."""
        if self.requires is None or importlib.util.find_spec(self.requires) is not None:
            return None
        return f"{self.requires} is not installed (pip install 'convzoo[{self.extra}]')"

    def supports(self, device: str, precision: str) -> bool:
        return precision in self.precisions.get(device, ())


__all__ = ["Engine"]
