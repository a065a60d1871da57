"""One call for the fast inference path: a lookup in the engine registry (:mod:`.engines`) that
keeps the ``compile=`` spelling of earlier releases."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .compiled import CompiledInference
from .engines import REGISTRY
from .precision import check_precision
from .runner import ModuleRunner


def optimize(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
             compile: bool | str = False, example_input: Optional[torch.Tensor] = None,
             compile_mode: Optional[str] = None, compile_options: Optional[dict] = None,
             compile_backend: str = "inductor", freeze: Optional[bool] = None,
             precision: str = "fp32", calibration_data=None, **quantize_kw) -> nn.Module:
    """Return an inference copy of ``model``: eval mode, plain SiLU, re-parameterized, BN folded
    (``fold_bn``), weights and inputs in channels_last / channels_last_3d (``channels_last``; 1D
    models keep their layout), and ``torch.compile`` (``compile``, ``fullgraph=True``, static shapes).

    ``compile=False`` returns the inference module itself (the eager engine's form). With
    ``compile=True`` the result is a :class:`CompiledInference` (the folded eager model is its
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
    # optimize's compile= values -> the engine that declares it (its record's ``optimize``)
    engine = next((e for e in REGISTRY.values() for v in e.optimize if type(v) is type(compile) and v == compile),
                  None)
    if engine is None:
        raise ValueError(f'compile must be False, True/"inductor" or "onednn", got {compile!r}')
    p = next(iter(model.parameters()), None)
    check_precision(precision, p.device if p is not None else "cpu")
    dev = p.device.type if p is not None else "cpu"
    if not engine.supports(dev, precision):      # the engine record says what it runs where
        raise ValueError(f"compile={compile!r} runs {' or '.join(engine.precisions.get(dev, ())) or 'nothing'} on "
                         f"the {dev.upper()}, not {precision}")
    given = dict(compile_mode=compile_mode, compile_options=compile_options, compile_backend=compile_backend,
                 freeze=freeze)
    opts = {k: v for k, v in given.items() if k in engine.options}     # the compile engine's
    runner = engine.build(model, example_input, precision, fold_bn=fold_bn, channels_last=channels_last, **opts)
    return runner.module if type(runner) is ModuleRunner else runner    # compile=False: the module itself


__all__ = ["optimize", "CompiledInference"]
