"""torch.compile (inductor) as a runner: :class:`CompiledInference`, shared by the fp32/bf16 engine
and the PT2E int8 path (which compiles its quantized graph the same way)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .runner import Runner, batch_of_two, save_program


class CompiledInference(Runner):
    """What ``optimize(..., compile=True)`` returns: the folded eager model (``.model``) and its
    compiled form, called under ``torch.no_grad`` with inductor's freezing switched on.

    Why a wrapper: inductor reads ``freezing`` when the graph is compiled, which happens lazily on the
    first call, and in torch 2.14 a ``freezing`` entry in ``torch.compile(options=...)`` is applied too
    late to take effect (checked: no oneDNN weight pre-packing happens). Setting the config around
    each call makes freezing apply to the first compile and to any recompile (a new input shape).
    Freezing needs grad disabled, hence ``no_grad``; this is an inference copy.

    The switch is a plain attribute set and restore, and only when the value differs: the
    ``inductor_config.patch`` context manager costs ~30 us a call (measured), 0.4 % of a batch-1
    MobileNetV2 call; this costs ~1 us when nothing needs changing.
    """

    def __init__(self, model: nn.Module, compiled, freeze: bool, precision: str = "fp32",
                 exportable: Optional[nn.Module] = None, example_input: Optional[torch.Tensor] = None):
        super().__init__()
        self.model, self.precision = model, precision
        object.__setattr__(self, "_compiled", compiled)   # not a child: .model is the one copy
        object.__setattr__(self, "_exportable", exportable)
        self.freeze = freeze
        self._example = batch_of_two(example_input)

    def save(self, out_dir) -> dict:
        """What was compiled, as a ``torch.export`` program (``model.pt2``), compiled again on load
        (:func:`compile_program`); needs the ``exportable`` module and an example input."""
        if self._exportable is None or self._example is None:
            return super().save(out_dir)
        save_program(self._exportable, self._example, out_dir)
        return {"file": "model.pt2", "format": self.artifact_format}

    def forward(self, *args, **kwargs):
        import torch._inductor.config as inductor_config
        with torch.no_grad():
            before = inductor_config.freezing
            if before == self.freeze:
                return self._compiled(*args, **kwargs)
            inductor_config.freezing = self.freeze
            try:
                return self._compiled(*args, **kwargs)
            finally:
                inductor_config.freezing = before


# Dynamo caches compiled graphs per code object: every model compiled through the same wrapper class
# (FormatInput.forward, GraphModule.forward) is a "recompile" of that one code object, and with
# fullgraph=True the 9th model in a process failed outright (FailOnRecompileLimitHit: bench/precision.py
# died at its 9th compile, convnext_tiny, 2026-12-06). Each compile here raises the limit by one model.
_MODELS_PER_CODE_OBJECT = 8


def torch_compile(module: nn.Module, **kwargs):
    """``torch.compile(module, **kwargs)``, with Dynamo's recompile limit raised so that any number of
    models can be compiled in one process (each keeps its own guards; nothing is recompiled twice)."""
    import torch._dynamo.config as dynamo_config
    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 1) + _MODELS_PER_CODE_OBJECT
    dynamo_config.accumulated_recompile_limit = max(dynamo_config.accumulated_recompile_limit,
                                                    4 * dynamo_config.recompile_limit)
    return torch.compile(module, **kwargs)


def compile_program(module: nn.Module, precision: str) -> CompiledInference:
    """A loaded ``torch.export`` program compiled as the compile engine does (inductor, freezing,
    ``cpp_wrapper``, static shapes)."""
    compiled = torch_compile(module, fullgraph=True, dynamic=False, options={"cpp_wrapper": True})
    return CompiledInference(module, compiled, True, precision)


__all__ = ["CompiledInference", "compile_program", "torch_compile"]
