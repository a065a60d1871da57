"""What an engine declares: its name, devices, precisions, optional dependency and ``build``, and every
fact a caller would otherwise branch on the engine's name for."""
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
    ``reads_onnx`` whether it can run an exported ``.onnx`` file as it is (``make_runner(onnx_path=)``).

    How callers drive it:

    * ``threads``: its runtime has a thread pool of its own, sized by ``build(threads=)`` (bench's
      ``--threads``, deploy's ``threads``); the others run on PyTorch's intra-op threads.
    * ``host``: it runs outside PyTorch on host memory: timing binds a CPU copy of the input and calls
      its runner as it is (no ``inference_mode``, no autocast).
    * ``autocast``: ``--amp`` (``torch.autocast``) applies to it.
    * ``warmup``: untimed calls its runner needs at least before timing (compile: the first call compiles).
    * ``options``: keyword options its ``build`` takes beyond ``fold_bn``/``channels_last`` (what
      ``optimize`` forwards, e.g. the compile engine's ``compile_mode``).
    * ``optimize``: the values of ``optimize(compile=...)`` that pick it.
    * ``roles``: what it is the engine for: ``"reference"`` (the float32 PyTorch form the others are
      checked against and bench's default: :data:`~convzoo.export.engines.DEFAULT`), ``"quantize"``
      (what ``quantize``'s NNCF backend runs on).
    * ``quantize_backend``: the ``quantize(backend=)`` name whose int8 it runs, if any.
    * ``runner``: the :class:`~convzoo.export.Runner` class its ``build`` returns; registration labels
      it with the engine's name (``runner.engine``).
    * ``format`` / ``load``: the artifact format its runners write (``deploy.json``'s ``"format"``) and
      ``load(file, chosen, threads) -> Runner`` that reads it back (``chosen``: ``deploy.json``'s entry).
    """

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
    threads: bool = False
    host: bool = False
    autocast: bool = False
    warmup: int = 0
    options: tuple = ()
    optimize: tuple = ()
    roles: tuple = ()
    quantize_backend: Optional[str] = None
    runner: Optional[type] = None
    format: Optional[str] = None
    load: Optional[Callable] = None

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
