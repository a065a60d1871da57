"""One call for the fast inference path: fold BN, channels_last, optionally torch.compile (or the
oneDNN Graph fuser, :mod:`.onednn_graph`)."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from .fold import fold_batchnorm
from .layout import FormatInput, input_to_channels_last, memory_format_for, to_channels_last
from ..layers.memory_efficient import set_memory_efficient
from .onednn_graph import onednn_graph
from .precision import check_precision, to_reduced


class CompiledInference(nn.Module):
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

    def __init__(self, model: nn.Module, compiled, freeze: bool):
        super().__init__()
        self.model = model
        object.__setattr__(self, "_compiled", compiled)   # not a child: .model is the one copy
        self.freeze = freeze

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


def optimize(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
             compile: bool | str = False, example_input: Optional[torch.Tensor] = None,
             compile_mode: Optional[str] = None, compile_options: Optional[dict] = None,
             compile_backend: str = "inductor", freeze: Optional[bool] = None,
             precision: str = "fp32", calibration_data=None, **quantize_kw) -> nn.Module:
    """Return an inference copy of ``model``: eval mode, plain SiLU, BN folded into convs
    (``fold_bn``), weights and inputs in channels_last / channels_last_3d (``channels_last``; 1D
    models keep their layout), and ``torch.compile`` (``compile``, ``fullgraph=True``, static shapes).

    With ``compile=True`` the result is a :class:`CompiledInference` (the folded eager model is its
    ``.model``). ``freeze`` (default: on for inductor) turns inductor's freezing on: weights become
    constants, which on CPU lets it pre-pack them for oneDNN and fuse conv + activation / + residual
    add (1.4-1.6x faster for MobileNetV2 at batch 1 on our 2-core CPU). On CPU the default
    ``compile_options`` add ``cpp_wrapper`` (kernels launched from C++, not Python, per op).

    ``compile="onednn"`` (CPU, fp32 or bf16, needs ``example_input``) returns a
    :class:`OneDNNGraphInference` instead: TorchScript + PyTorch's oneDNN Graph fuser, the fastest
    PyTorch path for the mobile nets (with ``precision="bf16"``: docs/deploy.md); it raises
    ``RuntimeError`` for a model the fuser cannot run (ConvNeXt) or whose fused output differs from
    eager.

    Outputs equal the eager model's to float rounding (tested in tests/test_export.py). The copy's
    parameters are not meant for training. ``example_input`` guides BN folding (see
    :func:`~convzoo.export.fold_batchnorm`). ``compile_backend="eager"`` only checks that the model
    traces as one graph.

    ``precision``: "fp32" (default), "bf16" (CPU: bf16 weights and activations on AMX / AVX-512 BF16, see
    :mod:`.precision`; CUDA: autocast, also "fp16") or "int8" (delegates to
    :func:`~convzoo.export.quantize`, which needs ``calibration_data``; ``quantize_kw`` go there).
    """
    if precision == "int8":
        from .quantize import quantize
        return quantize(model, calibration_data, **quantize_kw)
    if quantize_kw or calibration_data is not None:
        raise ValueError(f"calibration_data and quantize options apply to precision='int8', "
                         f"not {precision!r}")
    p = next(iter(model.parameters()), None)
    check_precision(precision, p.device if p is not None else "cpu")
    if precision == "fp16" and compile == "onednn":
        raise ValueError("compile='onednn' runs fp32 or bf16 on the CPU, not fp16")
    model = copy.deepcopy(model).eval()
    set_memory_efficient(model, False)
    if fold_bn:
        model = fold_batchnorm(model, example_input, inplace=True)
    # per tensor rank, not per model: a video model may hold 2D convs (frame-wise nets, (2+1)D)
    cl = channels_last and memory_format_for(model) is not None
    with torch.no_grad():
        for p in model.parameters():
            if cl:
                p.data = to_channels_last(p.data)
            p.requires_grad_(False)
    if compile not in (False, True, "inductor", "onednn"):
        raise ValueError(f'compile must be False, True/"inductor" or "onednn", got {compile!r}')
    if compile == "onednn":
        return onednn_graph(model, cl, example_input, precision)
    if precision != "fp32":
        model = to_reduced(model, precision, cl)
    elif not compile and cl:
        model.register_forward_pre_hook(input_to_channels_last)
    if not compile:
        return model
    options = dict(compile_options) if compile_options is not None else None
    if options and "freezing" in options:        # accepted for compatibility: see CompiledInference
        freeze = bool(options.pop("freezing")) if freeze is None else freeze
    if freeze is None:
        freeze = compile_backend == "inductor"
    p = next(iter(model.parameters()), None)
    on_cpu = p is None or p.device.type == "cpu"
    if options is None and compile_mode is None and compile_backend == "inductor" and on_cpu:
        options = {"cpp_wrapper": True}
    wrapped = model if precision != "fp32" else FormatInput(model, cl)
    compiled = torch.compile(wrapped, mode=compile_mode, fullgraph=True, dynamic=False,
                             backend=compile_backend, options=options or None)
    return CompiledInference(model, compiled, freeze)
