"""The one thing every engine builds: a :class:`Runner`, a float32-in, float32-out callable module.

Every inference path convzoo offers (eager PyTorch, torch.compile, the oneDNN Graph fuser, ONNX
Runtime, OpenVINO, int8 from NNCF or PT2E) ends in a ``Runner`` subclass that says which ``engine``
and ``precision`` it is, binds a batch into a no-argument call for timing (:meth:`Runner.bind`) and,
where the engine has a file format, writes itself as a self-contained artifact (:meth:`Runner.save`).
Callers (``optimize``, ``bench``, ``deploy``) ask these attributes instead of probing for them.

Data flow: x (B, C, *S) float32 -> engine-specific call -> output float32.
Shape: (B, C, *S) -> the model's output.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn


class Runner(nn.Module):
    """Base of every engine's result. ``engine`` and ``precision`` name what runs; ``model`` (when
    there is one) is the folded eager float32 model the engine was built from."""

    # each engine's runner class is labelled by the registry (:func:`convzoo.export.engines.register`):
    # its engine's name, and the artifact format :meth:`save` writes (read back by that engine's ``load``)
    engine: str = ""
    artifact_format: str = ""
    precision: str = "fp32"

    def train(self, mode: bool = True) -> "Runner":
        """Runners are inference-only: ``train()``/``eval()`` only set the flag (an exported or
        compiled program inside may refuse the mode switch, and has nothing to switch)."""
        self.training = mode
        return self

    def bind(self, x: torch.Tensor) -> Callable[[], object]:
        """A no-argument call running batch ``x`` (what the timing loops measure)."""
        def run():
            with torch.inference_mode():
                return self(x)
        return run

    def save(self, out_dir: str | os.PathLike) -> dict:
        """Write the artifact into ``out_dir``; return the ``deploy.json`` fields that reload it.
        ``ValueError`` where this engine has no file format (a program compiled in-process)."""
        raise ValueError(f"the {self.engine} {self.precision} runner is compiled in-process and has no "
                         f"artifact to save")

    def describe(self) -> dict:
        return {"engine": self.engine, "precision": self.precision}


class ModuleRunner(Runner):
    """An eager PyTorch module as a runner (the eager engine's): ``module`` is the inference form,
    possibly wrapped for bf16 (:class:`~convzoo.export.precision.CastInput`).

    Saved as a ``torch.export`` program (``model.pt2``): the graph and its weights, no Python class
    needed to load it (:func:`convzoo.export.load_deployed`)."""

    def __init__(self, module: nn.Module, precision: str = "fp32", engine: Optional[str] = None,
                 example_input: Optional[torch.Tensor] = None):
        super().__init__()
        self.module, self.precision = module, precision
        if engine is not None:                       # else the class's label: the eager engine
            self.engine = engine
        self._example = batch_of_two(example_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def save(self, out_dir: str | os.PathLike) -> dict:
        if self._example is None:
            return super().save(out_dir)
        save_program(self.module, self._example, out_dir)
        return {"file": "model.pt2", "format": self.artifact_format}


def batch_of_two(example_input: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """Two samples like ``example_input``: torch.export specializes a size-1 axis, and the batch axis
    of a saved program must stay dynamic."""
    if example_input is None:
        return None
    return example_input[:1].detach().expand(2, *example_input.shape[1:]).clone()


def save_program(module: nn.Module, example: torch.Tensor, out_dir: str | os.PathLike) -> None:
    """``module`` as a ``torch.export`` program with a dynamic batch axis: ``out_dir/model.pt2``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(module, torch.fx.GraphModule):    # a PT2E graph refuses .eval(); it is in eval form
        module = module.eval()
    with torch.no_grad():
        prog = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    torch.export.save(prog, str(out / "model.pt2"))


__all__ = ["Runner", "ModuleRunner", "save_program", "batch_of_two"]
