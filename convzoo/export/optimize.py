"""One call for the fast inference path: fold BN, channels_last, optionally torch.compile."""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from .fold import fold_batchnorm
from .memory_efficient import set_memory_efficient

_FORMATS = {2: torch.channels_last, 3: torch.channels_last_3d}


def memory_format_for(model: nn.Module) -> Optional[torch.memory_format]:
    """channels_last for 2D models, channels_last_3d for 3D, None for 1D (no such layout)."""
    return _FORMATS.get(getattr(model, "dims", 2))


_BY_RANK = {4: torch.channels_last, 5: torch.channels_last_3d}


def _channels_last(x):
    """A 4D tensor in channels_last, a 5D one in channels_last_3d, anything else as it is."""
    fmt = _BY_RANK.get(x.dim()) if isinstance(x, torch.Tensor) else None
    return x.contiguous(memory_format=fmt) if fmt is not None else x


def _input_to_channels_last(module, args):
    return (_channels_last(args[0]), *args[1:]) if args else None


class _FormatInput(nn.Module):
    """``model(channels_last(x))``: the layout change inside the compiled graph (a forward pre-hook
    would be traced as a second graph with its own guard check on every call)."""

    def __init__(self, model: nn.Module, channels_last: bool):
        super().__init__()
        self.model, self.channels_last = model, channels_last

    def forward(self, x, *args, **kwargs):
        return self.model(_channels_last(x) if self.channels_last else x, *args, **kwargs)


class CompiledInference(nn.Module):
    """What ``optimize(..., compile=True)`` returns: the folded eager model (``.model``) and its
    compiled form, called under ``torch.no_grad`` with inductor's freezing switched on.

    Why a wrapper: inductor reads ``freezing`` when the graph is compiled, which happens lazily on the
    first call, and in torch 2.14 a ``freezing`` entry in ``torch.compile(options=...)`` is applied too
    late to take effect (checked: no oneDNN weight pre-packing happens). Patching the config around
    each call makes freezing apply to the first compile and to any recompile (a new input shape).
    Freezing needs grad disabled, hence ``no_grad``; this is an inference copy.
    """

    def __init__(self, model: nn.Module, compiled, freeze: bool):
        super().__init__()
        self.model = model
        object.__setattr__(self, "_compiled", compiled)   # not a child: .model is the one copy
        self.freeze = freeze

    def forward(self, *args, **kwargs):
        import torch._inductor.config as inductor_config
        with torch.no_grad(), inductor_config.patch(freezing=self.freeze):
            return self._compiled(*args, **kwargs)


class OneDNNGraphInference(nn.Module):
    """What ``optimize(..., compile="onednn")`` returns: the folded eager model (``.model``) traced
    and frozen with TorchScript and run through PyTorch's oneDNN Graph fuser (``torch.jit.fuser(
    "fuser3")``), which compiles conv + bias + activation + residual-add chains into fused oneDNN
    partitions. Called under ``torch.no_grad``.

    Why it exists next to torch.compile: at batch 1 on a small CPU the inductor path spends more
    time per op in PyTorch's oneDNN glue (~30 us a conv: descriptors, attributes, allocation) than
    in the kernels of MobileNet-size convs; the fused partitions remove most of it (docs/deploy.md).
    ``torch.jit.trace``/``freeze`` are deprecated in favour of torch.compile/torch.export but still
    work in torch 2.14; their FutureWarnings are silenced here, and :func:`optimize` checks the
    traced outputs against eager at build time.
    """

    def __init__(self, model: nn.Module, traced: torch.jit.ScriptModule):
        super().__init__()
        self.model = model
        object.__setattr__(self, "_traced", traced)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the fuser switch itself, not torch.jit.fuser("fuser3"): that also toggles the removed
        # nvFuser and logs a deprecation warning on every call
        was = torch._C._jit_llga_enabled()
        torch._C._jit_set_llga_enabled(True)
        try:
            with torch.no_grad():
                return self._traced(x)
        finally:
            torch._C._jit_set_llga_enabled(was)


def _onednn_graph(model: nn.Module, channels_last: bool,
                  example_input: Optional[torch.Tensor]) -> OneDNNGraphInference:
    import warnings
    if example_input is None:
        raise ValueError('compile="onednn" traces the model: pass example_input (a batch of the '
                         'input size it will run at)')
    wrapped = _FormatInput(model, channels_last).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")       # deprecation and tracer warnings (see the class doc)
        traced = torch.jit.freeze(torch.jit.trace(wrapped, (example_input,), check_trace=False))
    fast = OneDNNGraphInference(model, traced)
    with torch.no_grad():
        ref = wrapped(example_input)
        try:
            for _ in range(3):                # the profiling executor fuses on the 2nd/3rd call
                out = fast(example_input)
        except RuntimeError as e:
            # ConvNeXt: "vector::_M_range_check"; any net whose last maps are 1 x 1: "could not create
            # a primitive descriptor for the reorder primitive" (both inside the fuser, torch 2.14)
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            reason = (lines[-1] if lines else type(e).__name__).removeprefix("RuntimeError: ")
            raise RuntimeError(f"oneDNN Graph cannot run {type(model).__name__} ({reason}); use "
                               f"compile=True (inductor) for this model") from None
    err = float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
    if not err <= 1e-4:
        raise RuntimeError(f"oneDNN Graph output differs from eager by {err:.1e} of the output scale; "
                           f"use compile=True (inductor) for this model")
    return fast


def optimize(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
             compile: bool | str = False, example_input: Optional[torch.Tensor] = None,
             compile_mode: Optional[str] = None, compile_options: Optional[dict] = None,
             compile_backend: str = "inductor", freeze: Optional[bool] = None) -> nn.Module:
    """Return an inference copy of ``model``: eval mode, plain SiLU, BN folded into convs
    (``fold_bn``), weights and inputs in channels_last / channels_last_3d (``channels_last``; 1D
    models keep their layout), and ``torch.compile`` (``compile``, ``fullgraph=True``, static shapes).

    With ``compile=True`` the result is a :class:`CompiledInference` (the folded eager model is its
    ``.model``). ``freeze`` (default: on for inductor) turns inductor's freezing on: weights become
    constants, which on CPU lets it pre-pack them for oneDNN and fuse conv + activation / + residual
    add (1.4-1.6x faster for MobileNetV2 at batch 1 on our 2-core CPU). On CPU the default
    ``compile_options`` add ``cpp_wrapper`` (kernels launched from C++, not Python, per op).

    ``compile="onednn"`` (CPU, float32, needs ``example_input``) returns a
    :class:`OneDNNGraphInference` instead: TorchScript + PyTorch's oneDNN Graph fuser, the fastest
    PyTorch path for the mobile nets at batch 1 (docs/deploy.md); it raises ``RuntimeError`` for a
    model the fuser cannot run (ConvNeXt) or whose fused output differs from eager.

    Outputs equal the eager model's to float rounding (tested in tests/test_export.py). The copy's
    parameters are not meant for training. ``example_input`` guides BN folding (see
    :func:`~convzoo.export.fold_batchnorm`). ``compile_backend="eager"`` only checks that the model
    traces as one graph.
    """
    model = copy.deepcopy(model).eval()
    set_memory_efficient(model, False)
    if fold_bn:
        model = fold_batchnorm(model, example_input, inplace=True)
    # per tensor rank, not per model: a video model may hold 2D convs (frame-wise nets, (2+1)D)
    cl = channels_last and memory_format_for(model) is not None
    with torch.no_grad():
        for p in model.parameters():
            if cl:
                p.data = _channels_last(p.data)
            p.requires_grad_(False)
    if compile not in (False, True, "inductor", "onednn"):
        raise ValueError(f'compile must be False, True/"inductor" or "onednn", got {compile!r}')
    if compile == "onednn":
        return _onednn_graph(model, cl, example_input)
    if not compile:
        if cl:
            model.register_forward_pre_hook(_input_to_channels_last)
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
    compiled = torch.compile(_FormatInput(model, cl), mode=compile_mode, fullgraph=True, dynamic=False,
                             backend=compile_backend, options=options or None)
    return CompiledInference(model, compiled, freeze)
