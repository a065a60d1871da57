"""torch.compile with inductor (freezing on: oneDNN weight pre-packing on CPU), and PT2E int8."""
from __future__ import annotations

from typing import Optional


from ..compiled import PACKAGE, CompiledInference, compile_program, load_package, torch_compile
from ..form import inference_form, uses_channels_last
from ..layout import FormatInput
from ..precision import to_reduced
from ._base import Engine


def compile_form(form, precision: str, channels_last: bool, *, compile_mode: Optional[str] = None,
                 compile_options: Optional[dict] = None, compile_backend: str = "inductor",
                 freeze: Optional[bool] = None, example_input=None) -> CompiledInference:
    """``torch.compile`` of an inference form (``fullgraph=True``, static shapes). ``freeze``
    (default: on for inductor) makes weights constants so inductor pre-packs them for oneDNN and
    fuses conv + activation / + residual add; on CPU the default options add ``cpp_wrapper``."""
    model = to_reduced(form, precision, channels_last) if precision != "fp32" else form
    options = dict(compile_options) if compile_options is not None else None
    if options and "freezing" in options:        # accepted for compatibility: see CompiledInference
        freeze = bool(options.pop("freezing")) if freeze is None else freeze
    if freeze is None:
        freeze = compile_backend == "inductor"
    p = next(iter(form.parameters()), None)
    on_cpu = p is None or p.device.type == "cpu"
    if options is None and compile_mode is None and compile_backend == "inductor" and on_cpu:
        options = {"cpp_wrapper": True}
    wrapped = model if precision != "fp32" else FormatInput(model, channels_last)
    compiled = torch_compile(wrapped, mode=compile_mode, fullgraph=True, dynamic=False,
                              backend=compile_backend, options=options or None)
    return CompiledInference(model, compiled, freeze, precision, exportable=wrapped, example_input=example_input)


def build(model, example_input, precision: str = "fp32", *, fold_bn: bool = True,
          channels_last: bool = True, calibration_data=None, threads=None, **options):
    """fp32 / bf16: :func:`compile_form` of the inference form; int8: PT2E + X86InductorQuantizer,
    calibrated on ``calibration_data`` and compiled into an AOTInductor package for ``example_input``'s
    batch (``options`` go to :func:`~convzoo.export.quantize`)."""
    if precision == "int8":
        from ..quantize import quantize
        batch = len(example_input) if example_input is not None else None      # the package's static batch
        return quantize(model, calibration_data, backend=ENGINE.quantize_backend, batch=batch, **options)
    if calibration_data is not None:
        raise ValueError(f"calibration_data applies to precision='int8', not {precision!r}")
    form = inference_form(model, None if example_input is None else example_input[:1], fold_bn=fold_bn,
                          channels_last=channels_last)
    return compile_form(form, precision, uses_channels_last(form, channels_last), example_input=example_input,
                        **options)


def load(file, chosen: dict, threads=None) -> CompiledInference:
    """``model.pt2``: an AOTInductor package (``chosen["package"] == "aotinductor"``: PT2E int8, loaded
    as it was compiled, no compile here), else a ``torch.export`` program compiled as
    :func:`compile_form` does (fp32 / bf16: the first call pays the compile)."""
    if chosen.get("package") == PACKAGE:
        return load_package(file, chosen["precision"], chosen.get("package_batch"))
    import torch
    return compile_program(torch.export.load(str(file)).module(), chosen["precision"])


ENGINE = Engine("compile", "torch.compile (inductor, freezing); int8 by PT2E",
                {"cpu": ("fp32", "bf16", "int8"), "cuda": ("fp32", "bf16", "fp16")}, build, autocast=True,
                warmup=1, options=("compile_mode", "compile_options", "compile_backend", "freeze"),
                optimize=(True, "inductor"), quantize_backend="pt2e", runner=CompiledInference,
                format="torch.export+inductor", load=load)
