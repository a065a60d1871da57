"""Inference and export: BatchNorm folding, channels_last, torch.compile, ONNX (+ ONNX Runtime
parity), ExecuTorch (.pte, XNNPACK), LiteRT (.tflite), the engine registry (:mod:`.engines`), deploy, benchmarking,
and the memory-efficient training switches.

>>> from convzoo.export import deploy, get_engine, load_deployed, optimize, to_onnx
>>> runner = get_engine("openvino").build(model, x, "bf16")     # any engine x precision: a Runner
>>> deploy(model, "deployed/m", batch=8)                 # the fastest that holds accuracy, saved
>>> fast = load_deployed("deployed/m")
>>> fast = optimize(model, compile=True)                # folded + channels_last + compiled
>>> graph = optimize(model, compile="onednn", example_input=x)   # oneDNN Graph fuser
>>> to_onnx(model, "model.onnx", verify=True)            # checked against ONNX Runtime
>>> to_executorch(model, "m.pte", precision="int8", calibration_data=xs)   # checked in ExecuTorch
>>> to_litert(model, "m.tflite")                          # checked in the LiteRT interpreter
"""
from ._common import relative_error
from .artifact import ArtifactError, load_deployed, load_ir, load_onnx, load_pte, load_tflite
from .benchmark import ENGINES, BenchResult, benchmark, benchmark_all, make_runner
from .executorch import ExecuTorchRunner, to_executorch, verify_pte
from .engines import REGISTRY, Engine, candidates, get_engine, list_engines
from .litert import LiteRTRunner, to_litert, verify_tflite
from .deploy import deploy
from .form import inference_form, reparameterize
from .runner import ModuleRunner, Runner
from .fold import fold_batchnorm, fold_bn_into
from ..layers.memory_efficient import (MemoryEfficientSiLU, has_custom_autograd, memory_efficient_silu,
                               set_memory_efficient)
from .layout import memory_format_for
from .onednn_graph import OneDNNGraphInference
from .onnx import example_input_for, ort_session, prepare_for_export, to_onnx, verify_onnx
from .optimize import CompiledInference, optimize
from .precision import PRECISIONS, check_precision, cpu_precision_support
from .quantize import QuantizedModel, load_quantized, quantize
from .static_pad import StaticPad, freeze_tf_same_padding

__all__ = [
    "fold_batchnorm", "fold_bn_into", "optimize", "CompiledInference", "OneDNNGraphInference",
    "memory_format_for", "to_onnx", "verify_onnx", "relative_error",
    "ort_session", "prepare_for_export", "example_input_for", "freeze_tf_same_padding", "StaticPad",
    "MemoryEfficientSiLU", "memory_efficient_silu", "set_memory_efficient", "has_custom_autograd",
    "benchmark", "benchmark_all", "make_runner", "BenchResult", "ENGINES",
    "PRECISIONS", "check_precision", "cpu_precision_support", "quantize", "QuantizedModel", "load_quantized",
    "Runner", "ModuleRunner", "Engine", "REGISTRY", "get_engine", "list_engines", "candidates",
    "inference_form", "reparameterize", "deploy", "load_deployed", "load_onnx", "load_ir", "ArtifactError",
    "load_pte", "to_executorch", "verify_pte", "ExecuTorchRunner",
    "load_tflite", "to_litert", "verify_tflite", "LiteRTRunner",
]
