"""Post-training int8 quantization calibrated on the user's data, with two toolchains.

* ``backend="openvino"`` (default, the one we keep: see docs/deploy.md for the measurements): the
  inference form is converted with ``openvino.convert_model`` and quantized by NNCF
  (``nncf.quantize``): per-channel symmetric int8 weights (depthwise convs included, which is what
  keeps EfficientNet/MobileNet accurate), per-tensor activations calibrated on ``calibration_data``,
  NNCF's fast bias correction, and its fusion patterns that leave SiLU/Swish and the
  squeeze-excite multiply in float around the quantized convs. NNCF's "overflow fix" (the first
  layer's weights in 7 bits, for CPUs whose int8 dot product saturates a 16-bit sum, i.e. AVX2 and
  AVX-512 without VNNI) is off: this path needs VNNI/AMX, which accumulate in 32 bits, so the fix
  would only cost precision (MobileNetV2 trained at 64 px: top-1 agreement 96.7 % with it, 99.2 %
  without; docs/deploy.md). ``overflow_fix=True`` keeps it for an IR meant for older CPUs.
  ``model_type="transformer"`` (NNCF's ``ModelType.TRANSFORMER``, chosen automatically for nets
  with LayerNorm, i.e. ConvNeXt) keeps LayerNorm and the GELU MLP's sensitive points in float.
  ``ignored_scope`` passes op names or types to keep in float.
* ``backend="pt2e"``: PyTorch only. ``torch.export`` -> torchao's PT2E ``prepare_pt2e`` with the
  ``X86InductorQuantizer`` (per-channel weights) -> calibration -> ``convert_pt2e`` -> AOTInductor
  with freezing (:func:`~convzoo.export.compiled.package_program`), which lowers the q/dq pairs to
  oneDNN int8 kernels and compiles them into a package: the runner is that package, so ``save``
  writes the very code that was checked (``model.pt2``) and reloading it compiles nothing.

Data flow: model (fp32, eval) -> BN folded, TF padding frozen -> graph -> observers see every
calibration batch -> int8 graph -> :class:`QuantizedModel` (float32 in, float32 logits out).

Shape: (B, C, H, W) float32 -> the model's output, float32.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from .._extras import require
from .compiled import PACKAGE, PackagedInference, load_package, package_program
from .form import inference_form
from .precision import check_precision
from .runner import Runner
from ..runs.manifest import QUANTIZE_JSON, read_json

# quantize(backend=) names, also written in quantize.json. NNCF's (the default) is named after the engine
# that runs its int8 (OpenVINO): the one engine name spelled outside convzoo/export/engines/, because this
# module sits below the registry (.importlinter: engines -> quantize) and the name is this API's and its
# files' (tests/test_engine_record.py allows exactly this constant; the engine declares quantize_backend).
NNCF_BACKEND = "openvino"
BACKENDS = (NNCF_BACKEND, "pt2e")
MODEL_TYPES = ("auto", "cnn", "transformer")


class QuantizedModel(Runner):
    """An int8 model: call it like the float one. ``backend`` says which toolchain made it (engine
    openvino for NNCF, compile for PT2E); ``save(dir)`` writes an OpenVINO IR folder (NNCF) or an
    AOTInductor package (PT2E), with ``quantize.json``."""

    precision = "int8"

    def __init__(self, runner: nn.Module, backend: str, ov_model=None, info: Optional[dict] = None):
        super().__init__()
        self.runner, self.backend, self.ov_model, self.info = runner, backend, ov_model, dict(info or {})
        self.engine = runner.engine          # the engine that runs it labels it (OpenVINO, or compile for PT2E)

    def bind(self, x: torch.Tensor):
        return self.runner.bind(x) if isinstance(self.runner, Runner) else super().bind(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.runner(x).float()

    @property
    def saveable(self) -> bool:
        """Whether :meth:`save` can write it: an OpenVINO IR, or a PT2E AOTInductor package."""
        return self.ov_model is not None or isinstance(self.runner, PackagedInference)

    def save(self, out_dir: str | os.PathLike) -> dict:
        """The int8 file (``model.xml``+``.bin``, or ``model.pt2`` for PT2E) and ``quantize.json`` in
        ``out_dir``; returns the fields that reload it."""
        from ..io import write_json
        if not self.saveable:
            raise ValueError(f"this {self.backend!r} int8 model has no file to save (it was not built by "
                             "convzoo.export.quantize)")
        if self.ov_model is None:
            files = {**self.runner.save(out_dir), "hint": None}
        else:
            from .openvino import save_openvino
            path = save_openvino(self.ov_model, out_dir)
            files = {"file": path.name, "format": self.runner.artifact_format, "hint": None}
        write_json(Path(out_dir) / QUANTIZE_JSON, {"backend": self.backend, "precision": "int8", **self.info,
                                                    **{k: v for k, v in files.items() if k != "hint"}})
        return files


def calibration_batches(data, limit: int = 300) -> list[torch.Tensor]:
    """``data`` (a tensor (N, C, ...) or an iterable of tensors / (x, y) pairs) as a list of float
    batches holding at most ``limit`` samples. Raises ``ValueError`` when there is none."""
    if data is None:
        raise ValueError("int8 quantization needs calibration_data: a tensor (N, C, H, W) or batches of "
                         "inputs from the data the model will see (a few hundred samples)")
    if isinstance(data, torch.Tensor):
        data = [data[i:i + 32] for i in range(0, len(data), 32)] if data.dim() >= 4 else [data]
    out, seen = [], 0
    for b in data:
        x = b[0] if isinstance(b, (tuple, list)) else b
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"calibration_data must yield tensors or (x, y) pairs, got {type(x).__name__}")
        x = x.float().contiguous()      # a strided slice would be traced with its strides as guards
        out.append(x[: limit - seen])
        seen += len(out[-1])
        if seen >= limit:
            break
    if seen == 0:
        raise ValueError("int8 quantization needs calibration_data, got an empty set of samples")
    return out


def check_quantizable(model: nn.Module) -> None:
    """Raise ``ValueError`` for a model outside what the int8 path is tested on (2D image nets)."""
    dims = getattr(model, "dims", 2)
    if dims != 2:
        raise ValueError(f"int8 quantization supports 2D image models; {type(model).__name__} is a "
                         f"{dims}D model (fp32 runs it on every engine, bf16 on the PyTorch and OpenVINO ones)")


def _has_layernorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.LayerNorm) or "LayerNorm" in type(m).__name__ for m in model.modules())


def quantize(model: nn.Module, calibration_data, *, backend: str = NNCF_BACKEND, model_type: str = "auto",
             preset: str = "performance", ignored_scope: Optional[Sequence[str]] = None,
             subset_size: int = 300, fast_bias_correction: bool = True, overflow_fix: bool = False,
             threads: Optional[int] = None, batch: Optional[int] = None) -> QuantizedModel:
    """Post-training int8 copy of ``model`` calibrated on ``calibration_data`` (see the module
    docstring). ``preset``: "performance" (symmetric activations) or "mixed" (asymmetric, for
    activations that are not centred, e.g. after GELU); openvino backend only, as are
    ``model_type``, ``ignored_scope`` (op names or op types such as ``"Multiply"``),
    ``fast_bias_correction`` and ``overflow_fix`` (see the module docstring). ``batch`` (pt2e): None
    for a package that takes any batch, or the batch it is compiled for (faster at that batch; others
    padded or chunked: :func:`~convzoo.export.compiled.package_program`). Raises
    ``ValueError`` for a CPU without int8 instructions, missing calibration data or an unsupported
    model."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    if ignored_scope and backend != NNCF_BACKEND:
        raise ValueError(f"ignored_scope applies to backend='openvino' (NNCF), not {backend!r}")
    if overflow_fix and backend != NNCF_BACKEND:
        raise ValueError("overflow_fix applies to backend='openvino' (NNCF), not " + repr(backend))
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be None or an int >= 1, got {batch!r}")
    if preset not in ("performance", "mixed"):
        raise ValueError(f"preset must be performance or mixed, got {preset!r}")
    check_quantizable(model)
    batches = calibration_batches(calibration_data, subset_size)
    check_precision("int8", "cpu")        # the arguments first: their errors hold on any CPU
    model = model.eval().cpu()
    if model_type == "auto":
        model_type = "transformer" if _has_layernorm(model) else "cnn"
    info = dict(model_type=model_type, preset=preset, calibration_samples=sum(len(b) for b in batches),
                input_size=list(batches[0].shape[1:]))
    if backend == "pt2e":
        return QuantizedModel(_pt2e(model, batches, batch), "pt2e", info=info)
    info["overflow_fix"] = overflow_fix
    ov_model = _nncf(model, batches, model_type, preset, ignored_scope, fast_bias_correction, overflow_fix)
    from .openvino import OpenVINOModule
    return QuantizedModel(OpenVINOModule(ov_model, threads=threads), NNCF_BACKEND, ov_model, info)


def _nncf(model, batches, model_type, preset, ignored_scope, fast_bias_correction, overflow_fix):
    from .openvino import to_openvino_model
    nncf = require("nncf", "deploy", "int8 quantization (NNCF)")
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    try:
        ov_model = to_openvino_model(model, batches[0][:1])
    except Exception as e:           # a tracing failure is a model we cannot quantize: one line
        raise ValueError(f"cannot convert {type(model).__name__} for int8: {str(e).splitlines()[0]}") from None
    names = set(ignored_scope or ())
    op_types = {n for n in names if n[:1].isupper() and "/" not in n and "." not in n}
    # validate: a name or type that matches nothing is refused (it was silently ignored)
    scope = nncf.IgnoredScope(names=sorted(names - op_types), types=sorted(op_types), validate=True)
    kw = dict(preset=nncf.QuantizationPreset.MIXED if preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
              subset_size=sum(len(b) for b in batches), fast_bias_correction=fast_bias_correction,
              ignored_scope=scope, advanced_parameters=AdvancedQuantizationParameters(
                  overflow_fix=OverflowFix.FIRST_LAYER if overflow_fix else OverflowFix.DISABLE))
    if model_type == "transformer":
        kw["model_type"] = nncf.ModelType.TRANSFORMER
    # one sample per calibration item: NNCF counts subset_size in items, and the IR has a dynamic batch
    samples = [b[i:i + 1].numpy() for b in batches for i in range(len(b))]
    # NNCF draws its progress bars on stdout; they go to stderr, so stdout holds only results
    # (convzoo quantize --json prints the report there)
    with contextlib.redirect_stdout(sys.stderr):
        try:
            return nncf.quantize(ov_model, nncf.Dataset(samples), **kw)
        except nncf.ValidationError as e:
            first = " ".join(str(e).split())[:300]
            raise ValueError(f"ignored scope {sorted(names)}: {first} (op names and types as in the IR; "
                             f"types start with a capital, e.g. Multiply)") from None


def _pt2e(model, batches, batch: Optional[int] = None):
    converted = pt2e_graph(model, batches)
    # ahead of time, not torch.compile: the package is what gets saved, so the file computes exactly what was
    # checked (ConvNeXt-T: bit for bit what torch.compile of the same graph computes, at its speed; docs/deploy.md)
    return package_program(converted, batches[0][:1], "int8", check=batches[0][:8], batch=batch)


def pt2e_graph(model: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
    """Post-training PT2E int8 of ``model`` as a graph of quantize / dequantize ops around the convs
    (X86InductorQuantizer, per-channel weights, observers calibrated on ``batches``): what
    ``backend="pt2e"`` compiles; run eagerly, PyTorch's reference int8 ops compute it."""
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "deploy", "PT2E int8 quantization")
    xiq = require("torchao.quantization.pt2e.quantizer.x86_inductor_quantizer", "deploy",
                  "PT2E int8 quantization")
    m = inference_form(model, batches[0][:1], static_padding=True)
    try:
        graph = torch.export.export(m, (batches[0],), dynamic_shapes=({0: torch.export.Dim.AUTO},)).module()
    except Exception as e:
        raise ValueError(f"cannot export {type(model).__name__} for int8: {str(e).splitlines()[0]}") from None
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = pt2e.prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for b in batches:
            prepared(b)
    return pt2e.convert_pt2e(prepared)


def load_quantized(path: str | os.PathLike, *, threads: Optional[int] = None) -> QuantizedModel:
    """A saved int8 folder (``QuantizedModel.save`` / ``convzoo quantize --out``) as a module: the
    OpenVINO IR, or for ``"backend": "pt2e"`` in quantize.json the AOTInductor package (one line naming
    the file when it is missing or damaged)."""
    from .openvino import OpenVINOModule, load_openvino
    p = Path(path)
    info = read_json(p / QUANTIZE_JSON, "quantize record") if (p / QUANTIZE_JSON).is_file() else {}
    if info.get("backend") == "pt2e":
        runner = _read_package(p, str(info.get("file", "model.pt2")), info.get("package_batch"))
        return QuantizedModel(runner, "pt2e", info=info)
    ov_model = load_openvino(p)
    return QuantizedModel(OpenVINOModule(ov_model, threads=threads), NNCF_BACKEND, ov_model, info)


def _read_package(folder: Path, name: str, batch: Optional[int]) -> PackagedInference:
    from ..runs.manifest import inside
    from ._common import artifact_error
    file = inside(folder, name, QUANTIZE_JSON)       # quantize.json may not name a file outside its folder
    try:
        return load_package(file, "int8", batch)
    except FileNotFoundError:
        raise
    except Exception as e:            # the loader's own errors of a truncated or foreign file
        raise artifact_error(file, f"{PACKAGE} package", e) from None


__all__ = ["quantize", "pt2e_graph", "QuantizedModel", "load_quantized", "calibration_batches", "check_quantizable",
           "BACKENDS", "MODEL_TYPES"]
