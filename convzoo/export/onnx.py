"""Export to ONNX and check the exported graph against eager PyTorch with ONNX Runtime.

The graph we export is the *inference* form of the model: BatchNorm folded into convs, TF "SAME"
padding frozen to constants for the export's input size, memory-efficient (custom autograd)
activations swapped back to ``nn.SiLU``, global pooling and squeeze-excite written so that ONNX
Runtime's NCHWc layout pass keeps 2D networks blocked (:mod:`.ort_rewrites`). Only the batch axis is
dynamic (``dynamic_batch=True``).
We use the TorchScript-based exporter (``dynamo=False``): it needs no ``onnxscript`` and is reliable
for these conv nets with torch 2.14; opset 17 has ``LayerNormalization`` (ConvNeXt).
"""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..io import atomic_write, remove_stale_tmp
from ..ranges import OPSET_RANGE, Range
from ._common import artifact_error, relative_error, set_aside
from ..layers.memory_efficient import has_custom_autograd, set_memory_efficient
from .form import inference_form
from .ort_rewrites import rewrite_for_blocked_layout
from .runner import Runner
from .._extras import require

DEFAULT_OPSET = 17


def example_input_for(model: nn.Module, input_size: Optional[Sequence[int]] = None,
                      batch: int = 1) -> torch.Tensor:
    """``randn(batch, *input_size)``; ``input_size`` defaults to ``model.default_cfg["input_size"]``.

    ``input_size`` may omit the channel count (spatial sizes only).
    """
    cfg = getattr(model, "default_cfg", None) or {}
    default = cfg.get("input_size")
    if input_size is None:
        if default is None:
            raise ValueError(f"{type(model).__name__} has no default_cfg['input_size']; pass input_size")
        input_size = default
    input_size = tuple(int(s) for s in input_size)
    dims = getattr(model, "dims", len(input_size) - 1)
    if len(input_size) == dims:   # spatial only: add channels
        input_size = (getattr(model, "in_chans", default[0] if default else 3),) + input_size
    if len(input_size) != dims + 1:
        raise ValueError(f"input_size for a {dims}D model must be (C, {', '.join('S' * dims)}) or the "
                         f"{dims} spatial sizes, got {input_size}")
    return torch.randn(batch, *input_size)


def _movedim_symbolic(g, self, source, destination):
    """``aten::movedim`` for the TorchScript exporter, with negative dims wrapped.

    torch's own symbolic writes ``movedim(1, -1)`` (ConvNeXt's channels-last MLP) as a Transpose with
    a negative entry in ``perm``, which ONNX Runtime rejects.
    """
    from torch.onnx._internal.torchscript_exporter import symbolic_helper as sh
    rank = sh._get_tensor_rank(self)
    src, dst = (sh._maybe_get_const(v, "t") for v in (source, destination))
    src, dst = (v.reshape(-1).tolist() if isinstance(v, torch.Tensor) else v for v in (src, dst))
    src = [src] if isinstance(src, int) else list(src)
    dst = [dst] if isinstance(dst, int) else list(dst)
    # movedim of a tensor whose sizes name its axes gives the permutation directly
    perm = [s - 2 for s in torch.empty(tuple(range(2, rank + 2)), device="meta").movedim(src, dst).shape]
    return g.op("Transpose", self, perm_i=perm)


def _register_symbolics(opset: int) -> None:
    torch.onnx.register_custom_op_symbolic("aten::movedim", _movedim_symbolic, opset)


def prepare_for_export(model: nn.Module, example_input: torch.Tensor, *, fold_bn: bool = True,
                       blocked_layout: bool = True, static_batch: bool = False) -> nn.Module:
    """:func:`~convzoo.export.inference_form` at ``example_input``'s size (static TF padding) and, with
    ``blocked_layout``, pooling and squeeze-excite written so ONNX Runtime's NCHWc layout pass keeps
    the whole 2D network blocked (:mod:`convzoo.export.ort_rewrites`)."""
    model = inference_form(model, example_input, fold_bn=fold_bn, static_padding=True)
    if blocked_layout:
        rewrite_for_blocked_layout(model, static_batch=static_batch)
    return model


def to_onnx(model: nn.Module, path: str | os.PathLike, *, dynamic_batch: bool = True,
            input_size: Optional[Sequence[int]] = None, opset: int = DEFAULT_OPSET,
            fold_bn: bool = True, verify: bool = False, batch: int = 1, rtol: Optional[float] = 1e-4,
            blocked_layout: bool = True, inputs: Optional[torch.Tensor] = None,
            metadata: Optional[dict[str, str]] = None) -> str:
    """Export ``model`` to an ONNX file at ``path`` (written atomically) and return the path.

    ``input_size`` (C, *S) fixes the spatial size (default: ``default_cfg["input_size"]``); the batch
    axis is dynamic unless ``dynamic_batch=False``. ``verify=True`` runs the file in ONNX Runtime on a
    random batch and raises ``RuntimeError`` if it differs from eager PyTorch by more than ``rtol``
    times the output scale (max |eager|). ``blocked_layout=False`` exports the plain graph (ReduceMean
    pooling, broadcast squeeze-excite Mul) instead of the ONNX Runtime-friendly one. ``inputs``: real
    images the check runs on instead of random ones (``rtol=None``: a bound from fp32's own error on
    this net, see :func:`verify_onnx`). A file that fails the check is not left under ``path``: it is
    kept as ``<path>.failed-check`` for inspection, and the error names ``verify=False`` (``convzoo
    export --no-verify``), which skips the check. ``metadata``: strings stored in the file's
    ``metadata_props`` (``convzoo export`` records there how the model's inputs are made).
    """
    if os.path.isdir(os.fspath(path)):
        raise ValueError(f"to_onnx writes a file: {os.fspath(path)} is an existing directory (give a path "
                         f"ending in .onnx)")
    OPSET_RANGE.check("opset", opset)
    Range(int, 1, 1 << 20).check("batch", batch)
    x = example_input_for(model, input_size, batch)
    p = next(iter(model.parameters()), None)
    if p is not None:
        x = x.to(p.device)
    export_model = prepare_for_export(model, x, fold_bn=fold_bn, blocked_layout=blocked_layout,
                                      static_batch=not dynamic_batch)
    path = os.fspath(path)
    _register_symbolics(opset)

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # legacy-exporter deprecation and tracer warnings
            torch.onnx.export(
                export_model, (x,), tmp, dynamo=False, opset_version=opset,
                input_names=["input"], output_names=["output"], do_constant_folding=True,
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None)
        if metadata:
            onnx = require("onnx", "export", "ONNX metadata")
            proto = onnx.load(tmp)
            for k, v in metadata.items():
                proto.metadata_props.add(key=k, value=v)
            onnx.save(proto, tmp)
    # temp files of exports killed mid-write (an hour old: not one being written right now)
    remove_stale_tmp(os.path.dirname(os.path.abspath(path)), os.path.basename(path), older_than_s=3600)
    size = sum(t.numel() * t.element_size() for t in export_model.state_dict().values())
    try:
        atomic_write(path, write, size_hint=size)
    except RuntimeError as e:   # torch.onnx's exporter errors: one line naming the model and opset
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RuntimeError(f"ONNX export of {type(model).__name__} at opset {opset} failed: {first}") from None
    if verify:
        rand = x if not dynamic_batch else torch.cat([x, torch.randn_like(x)])
        try:
            verify_onnx(model, path, rand, rtol=rtol, inputs=inputs)
        except (RuntimeError, ValueError) as e:
            raise set_aside(path, e) from None
    return path


def ort_session(path: str | os.PathLike, *, threads: int = 0, level: str = "all",
                providers: Optional[Sequence[str]] = None, spinning: bool = True):
    """An ONNX Runtime session with the options that were fastest for our exports on CPU.

    ``level``: "basic", "extended", "layout" or "all" (``ORT_ENABLE_ALL`` adds the NCHWc layout pass
    for CPU convs). ``threads``: intra-op threads (0 = ORT's default, one per core).
    ``spinning=False`` makes idle worker threads sleep instead of spin: slower on a quiet machine,
    but it avoids collapsing when other processes compete for the cores (as OMP_WAIT_POLICY=PASSIVE
    does for PyTorch).
    """
    ort = require("onnxruntime", "export", "checking the ONNX file")
    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if hasattr(ort.GraphOptimizationLevel, "ORT_ENABLE_LAYOUT"):
        levels["layout"] = ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT
    if level not in levels:
        raise ValueError(f"ORT optimisation level must be one of {sorted(levels)}, got {level!r}")
    so = ort.SessionOptions()
    so.graph_optimization_level = levels[level]
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    src = path if isinstance(path, bytes) else os.fspath(path)
    return ort.InferenceSession(src, so, providers=list(providers or ["CPUExecutionProvider"]))


def _open_session(path, session):
    """``session``, or a one-thread session on ``path``; one line for a missing or unreadable file."""
    if session is not None:
        return session
    p = os.fspath(path)
    if os.path.isdir(p):
        raise ValueError(f"verify_onnx needs an .onnx file, got the folder {p}")
    if not os.path.isfile(p):
        raise FileNotFoundError(f"no ONNX file at {p}")
    try:
        return ort_session(p, threads=1)
    except Exception as e:          # ORT's InvalidProtobuf / Fail: say which file, in one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"{p} is not an ONNX graph ONNX Runtime can load ({first[:160]})") from None


def _check_input(sess, x: torch.Tensor) -> None:
    """The batch is not empty and fits the graph's fixed axes (one line naming both shapes)."""
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"verify_onnx needs at least one sample, got an input of shape {tuple(x.shape)}")
    want = sess.get_inputs()[0].shape
    bad = len(want) != x.dim() or any(isinstance(w, int) and w != g for w, g in zip(want, x.shape))
    if bad:
        shown = ", ".join(str(w) if isinstance(w, int) else "N" for w in want)
        raise ValueError(f"the ONNX graph takes inputs of shape ({shown}), got {tuple(x.shape)}")


def fp32_error_bound(model: nn.Module, x: torch.Tensor, *, factor: float = 50.0, floor: float = 1e-4) -> float:
    """The parity bound for ``model`` on ``x``: ``factor`` x fp32's own relative error against a
    float64 copy of the same model on the same inputs, at least ``floor``. A trained net that amplifies
    rounding more gets a wider bound, in proportion; an untrained one keeps ``floor``."""
    m64 = copy.deepcopy(model).double().eval()
    if has_custom_autograd(m64):
        set_memory_efficient(m64, False)
    with torch.no_grad():
        e = relative_error(model.eval()(x.float()), m64(x.double()))
    return max(floor, factor * e)


def _agreement(out: np.ndarray, ref: np.ndarray, tol: float) -> float:
    """Top-1 agreement, with disagreements on near-ties (top-2 margin of ``ref`` within ``tol`` of
    the output scale) forgiven; 1.0 for outputs that are not (N, classes) logits."""
    if out.ndim != 2 or out.shape[1] < 2:
        return 1.0
    top2 = np.sort(ref, 1)[:, -2:]
    near_tie = (top2[:, 1] - top2[:, 0]) <= 2 * tol * np.abs(ref).max()
    return float(np.mean((out.argmax(1) == ref.argmax(1)) | near_tie))


@torch.no_grad()
def verify_onnx(model: nn.Module, path: str | os.PathLike, x: Optional[torch.Tensor] = None, *,
                rtol: Optional[float] = 1e-4, session=None, inputs: Optional[torch.Tensor] = None) -> float:
    """Run inputs through eager ``model`` and through ONNX Runtime; return the max abs difference
    relative to max |eager output|, raising ``RuntimeError`` when it exceeds the bound or when the
    top-1 class differs on a sample that is not a near-tie.

    ``inputs``: real images to check on (a run's test images); ``x`` (random inputs) is used only when
    none are given. ``rtol=None`` derives the bound from fp32's own error on this net
    (:func:`fp32_error_bound`); a number fixes it. ``ValueError`` in one line for a missing or
    unreadable file, an empty batch or an input the graph's fixed axes do not take."""
    x = inputs if inputs is not None else x
    if x is None:
        raise ValueError("verify_onnx needs inputs (real images) or x (a random batch)")
    sess = _open_session(path, session)
    _check_input(sess, x)
    if has_custom_autograd(model):   # compare with the plain model the graph was made from
        model = set_memory_efficient(copy.deepcopy(model), False)
    was_training = model.training
    ref = model.eval()(x).float().cpu().numpy()
    bound = fp32_error_bound(model, x) if rtol is None else rtol
    model.train(was_training)
    out = sess.run(None, {sess.get_inputs()[0].name: x.cpu().numpy().astype(np.float32)})[0]
    if out.shape != ref.shape:
        raise RuntimeError(f"ONNX output shape {out.shape} differs from eager {ref.shape}")
    err = relative_error(out, ref)
    if not err <= bound:
        raise RuntimeError(f"ONNX Runtime output differs from eager PyTorch: max abs diff is {err:.2e} "
                           f"of the output scale (allowed {bound:.0e})")
    agree = _agreement(out, ref, bound)
    if agree < 1.0:
        raise RuntimeError(f"ONNX Runtime's top-1 differs from eager PyTorch on {100 * (1 - agree):.1f} % of "
                           f"the inputs (not near-ties)")
    return err


class OrtRunner(Runner):
    """An ONNX Runtime session as a runner (CPU, float32). ``graph`` holds the ONNX file's bytes, so
    the runner saves itself without a temporary file left behind."""

    def __init__(self, graph: bytes, *, threads: int = 0):
        super().__init__()
        self.graph = graph
        self.session = ort_session(graph, threads=threads)
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fixed = self.session.get_inputs()[0].shape[0]
        self.check_shape(tuple(x.shape))
        xn = np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)
        if not isinstance(fixed, int) or fixed == len(xn):
            return torch.from_numpy(self.session.run(None, {self.input_name: xn})[0])
        # a graph exported with a static batch: run full chunks, the last one padded with its first row
        outs = []
        for i in range(0, len(xn), fixed):
            chunk = xn[i:i + fixed]
            pad = np.concatenate([chunk, np.repeat(chunk[:1], fixed - len(chunk), 0)]) if len(chunk) < fixed else chunk
            outs.append(self.session.run(None, {self.input_name: pad})[0][:len(chunk)])
        return torch.from_numpy(np.concatenate(outs))

    def check_shape(self, shape: tuple) -> None:
        """``ValueError`` in one line when ``shape`` does not fit the file's input (fixed dims)."""
        want = self.session.get_inputs()[0].shape
        if len(want) != len(shape) or any(isinstance(w, int) and w != s for w, s in zip(want[1:], shape[1:])):
            dims = "x".join(str(w) if isinstance(w, int) else "N" for w in want)
            raise ValueError(f"the ONNX file takes input {dims}, got {'x'.join(map(str, shape))}")

    def bind(self, x: torch.Tensor):
        self.check_shape(tuple(x.shape))
        feed = {self.input_name: np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)}
        return lambda: self.session.run(None, feed)

    def save(self, out_dir) -> dict:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(str(out / "model.onnx"), lambda tmp: Path(tmp).write_bytes(self.graph))
        return {"file": "model.onnx", "format": self.artifact_format}


def load_onnx(path: str | os.PathLike, *, threads: Optional[int] = None) -> OrtRunner:
    """An ``.onnx`` file as an ONNX Runtime runner; ``default_cfg["input_size"]`` when the file fixes it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    try:
        runner = OrtRunner(p.read_bytes(), threads=threads or 0)
    except Exception as e:                 # onnxruntime's InvalidProtobuf / Fail / InvalidGraph
        raise artifact_error(p, "ONNX file", e) from None
    dims = runner.session.get_inputs()[0].shape[1:]
    if all(isinstance(d, int) for d in dims):
        runner.default_cfg = {"input_size": tuple(dims)}
    return runner
