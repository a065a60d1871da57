"""Exact parameter and multiply-add (MAC) counts of a model, per layer.

:func:`profile` runs one forward pass under a ``TorchDispatchMode`` that sees every aten op, so
functional convs (``F.conv2d`` inside a custom module, TF "SAME" padding wrappers) are counted where
hook-based counters (ptflops, thop) report zero. Module hooks keep a stack of the modules being run,
and each op is charged to the innermost one. The counting convention is in
:mod:`convzoo.analysis.counting`; ``flops`` is ``2 * macs`` and is labelled so.

    model -> [dispatch mode: aten op -> MACs, charged to innermost module] -> Profile

The same pass follows the receptive field through the data flow (:mod:`.rf_tracking`: residual adds
take the larger of the two branches; SE gates, being global, are ignored as broadcast scalars),
which ``convzoo summary`` shows per layer.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .counting import classify, op_name
from .receptive_field import simplify
from .rf_tracking import RFTracker, full_args, tensors

InputSize = Union[Sequence[int], torch.Size, torch.Tensor]


@dataclass
class LayerStats:
    """One row of the per-layer table. ``params`` and ``macs`` are the module's *own* (not its
    children's); shared parameters count once, in the first module that owns them."""

    name: str
    type: str
    output_shape: Optional[tuple]
    params: int
    macs: int
    receptive_field: Any = None     # int, per-axis tuple, or None where undefined (after global pool)
    calls: int = 0
    uncounted: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(name=self.name, type=self.type, output_shape=self.output_shape,
                    params=self.params, macs=self.macs, receptive_field=self.receptive_field,
                    calls=self.calls, uncounted=list(self.uncounted))


@dataclass
class Profile:
    """Result of :func:`profile`. ``macs`` are multiply-adds for one forward pass of the whole input
    batch; ``flops`` = 2 * macs (one multiply + one add)."""

    model: str
    input_shape: tuple
    output_shape: Optional[tuple]
    params: int
    trainable_params: int
    macs: int
    layers: list
    uncounted: list                  # op names seen but not costed (custom ops, unknown aten ops)
    zero_mac_ops: dict               # op -> calls, for norm/activation/pooling/elementwise ops
    macs_by_op: dict                 # "conv" / "matmul" / "attention" -> MACs

    @property
    def flops(self) -> int:
        """FLOPs counted as 2 x MACs (what FlopCounterMode and fvcore-style "FLOPs" double)."""
        return 2 * self.macs

    @property
    def batch_size(self) -> int:
        return self.input_shape[0] if self.input_shape else 1

    def to_dict(self) -> dict:
        return dict(model=self.model, input_shape=list(self.input_shape),
                    output_shape=None if self.output_shape is None else list(self.output_shape),
                    params=self.params, trainable_params=self.trainable_params, macs=self.macs,
                    flops=self.flops, macs_by_op=dict(self.macs_by_op),
                    zero_mac_ops=dict(self.zero_mac_ops), uncounted=list(self.uncounted),
                    layers=[r.to_dict() for r in self.layers])

    def table(self, max_rows: Optional[int] = None, receptive_field: bool = True) -> str:
        """The per-layer table with totals, as text."""
        head = ["Layer", "Type", "Output shape", "Params", "MACs"] + (["RF"] if receptive_field else [])
        rows = []
        layers = self.layers if max_rows is None else self.layers[:max_rows]
        for r in layers:
            shape = "-" if r.output_shape is None else "x".join(str(v) for v in r.output_shape)
            row = [r.name or "(model)", r.type, shape, f"{r.params:,}", f"{r.macs:,}"]
            if receptive_field:
                rf = r.receptive_field
                row.append("-" if rf is None else
                           "x".join(map(str, rf)) if isinstance(rf, tuple) else str(rf))
            rows.append(row)
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
                  for i, h in enumerate(head)]
        right = {3, 4}
        fmt = lambda row: "  ".join(c.rjust(w) if i in right else c.ljust(w)     # noqa: E731
                                    for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        rule = "-" * len(fmt(head))
        lines = [fmt(head), rule, *(fmt(r) for r in rows)]
        if max_rows is not None and len(self.layers) > max_rows:
            lines.append(f"... {len(self.layers) - max_rows} more layers")
        lines += [rule, *self.summary_lines()]
        return "\n".join(lines)

    def summary_lines(self) -> list[str]:
        shape = "x".join(map(str, self.input_shape))
        lines = [f"{self.model} on input {shape}",
                 f"Params: {self.params:,} ({self.params / 1e6:.2f} M)"
                 + ("" if self.trainable_params == self.params
                    else f", trainable {self.trainable_params:,}"),
                 f"MACs:   {self.macs:,} ({self.macs / 1e9:.3f} G)   "
                 f"FLOPs (= 2 x MACs): {self.flops:,}"]
        if self.uncounted:
            lines.append(f"Uncounted ops (cost unknown, not included): {', '.join(self.uncounted)}")
        return lines

    def __str__(self) -> str:
        return self.table()


# ---------------------------------------------------------------------------------------------------
# MACs are counted here; the receptive field is followed by :class:`~.rf_tracking.RFTracker`.


class _Recorder(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Otherwise the first dispatch imports torch._dynamo (3-8 s) to guard a frame that profile
        # never compiles.
        return False

    def __init__(self, root_row: LayerStats):
        super().__init__()
        self.stack: list[LayerStats] = []
        self.root_row = root_row
        self.macs_by_op: Counter = Counter()
        self.zero_ops: Counter = Counter()
        self.uncounted: Counter = Counter()
        self.rf = RFTracker()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        kind, fn = classify(func)
        row = self.stack[-1] if self.stack else self.root_row
        full = None
        if kind.startswith("mac:"):
            full = full_args(func, args, kwargs)
            macs = int(fn(full, out))
            row.macs += macs
            self.macs_by_op[kind[4:]] += macs
        elif kind.startswith("zero:"):
            self.zero_ops[op_name(func)] += 1
        elif kind == "uncounted":
            name = op_name(func)
            self.uncounted[name] += 1
            if name not in row.uncounted:
                row.uncounted.append(name)
        if kind != "uncounted":
            self.rf.track(func, args, kwargs, full, out)
        return out

def _expected_rank(model: nn.Module) -> Optional[int]:
    dims = getattr(model, "dims", None)
    if isinstance(dims, int) and 1 <= dims <= 3:
        return dims + 2
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return len(m.kernel_size) + 2
    return None


def _first_tensor(x) -> Optional[torch.Tensor]:
    ts = tensors(x) if not isinstance(x, dict) else tensors(list(x.values()))
    return ts[0] if ts else None


def _make_input(model, input_size, batch_size, device, dtype) -> torch.Tensor:
    if isinstance(input_size, torch.Tensor):
        return input_size
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    try:
        if isinstance(input_size, (str, bytes)) or any(
                isinstance(v, bool) or not isinstance(v, int) for v in input_size):
            raise TypeError
        shape = tuple(int(v) for v in input_size)
    except TypeError:
        raise TypeError(f"input_size must be a tuple of ints (C, *spatial) or (N, C, *spatial), or a "
                        f"tensor, got {input_size!r}") from None
    if not shape or any(v < 1 for v in shape):
        raise ValueError(f"input_size must be positive ints, got {shape}")
    rank = _expected_rank(model)
    if rank is None or len(shape) == rank - 1:
        shape = (batch_size, *shape)
    elif len(shape) == rank:
        if batch_size != 1 and batch_size != shape[0]:
            raise ValueError(f"input_size {shape} already has batch {shape[0]}, but batch_size="
                             f"{batch_size}")
    else:
        raise ValueError(f"{type(model).__name__} takes {rank - 2}D inputs: expected input_size "
                         f"(C, *spatial) with {rank - 1} values or (N, C, *spatial) with {rank}, "
                         f"got {shape}")
    return torch.zeros(shape, device=device, dtype=dtype)


def profile(model: nn.Module, input_size: InputSize, *, batch_size: int = 1,
            device: Union[str, torch.device, None] = None,
            dtype: Optional[torch.dtype] = None) -> Profile:
    """Exact parameters and MACs of one forward pass, with a per-layer table.

    ``input_size`` is ``(C, *spatial)`` (a batch of ``batch_size`` is prepended), a full
    ``(N, C, *spatial)`` shape, or an example tensor. A full shape is recognised from the model's
    dimensionality (its ``dims`` attribute or its first conv). ``device`` and ``dtype`` default to
    those of the model's parameters (CPU / float32 without any); a model on the ``"meta"`` device is
    profiled without computing anything. The model runs once in eval mode under ``torch.no_grad()``;
    its train/eval flags are restored.

    Returns a :class:`Profile`: ``params`` (every parameter once, trainable or not; buffers such as
    BN running stats are not parameters), ``macs`` (for the whole batch), ``flops`` (= 2 x macs),
    ``layers`` (per-layer rows), ``uncounted`` (ops seen whose cost is unknown), ``table()``.
    Counting convention: see :mod:`convzoo.analysis.counting` and docs/analysis.md.

        >>> p = profile(nn.Conv2d(512, 512, 3, padding=1, bias=False), (512, 14, 14))
        >>> p.macs, p.params
        (462422016, 2359296)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile expects an nn.Module, got {type(model).__name__}")
    device, dtype = _device_and_dtype(model, device, dtype)
    x = _make_input(model, input_size, batch_size, device, dtype)
    rows = _own_param_rows(model)
    rec = _Recorder(rows[id(model)])
    order: list[int] = []
    out = _run_hooked(model, x, rows, rec, order)

    # Table rows: leaves that ran (except Identity), and any module that owns params or did work itself.
    children = {id(m): any(True for _ in m.children()) for m in model.modules()}
    layers = []
    for key in order + [k for k in rows if k not in order]:
        r = rows[key]
        is_leaf = not children[key]
        ran = r.calls > 0
        if (r.params or r.macs or r.uncounted
                or (ran and is_leaf and r.type != "Identity")):
            layers.append(r)
    out_t = _first_tensor(out)
    return Profile(
        model=type(model).__name__, input_shape=tuple(x.shape),
        output_shape=tuple(out_t.shape) if out_t is not None else None,
        params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=sum(r.macs for r in rows.values()),
        layers=layers, uncounted=sorted(rec.uncounted), zero_mac_ops=dict(rec.zero_ops),
        macs_by_op=dict(rec.macs_by_op))


def _device_and_dtype(model: nn.Module, device, dtype) -> tuple[torch.device, torch.dtype]:
    """``device``/``dtype`` as asked, else those of the model's parameters (CPU / float32 without)."""
    first: Optional[torch.Tensor] = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    model_device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device) if device is not None else model_device
    if first is not None and device != model_device and not (
            device.type == model_device.type and device.index is None):
        raise ValueError(f"the model is on {model_device} but device={device}; move the model "
                         f"(model.to({str(device)!r})) or pass device={str(model_device)!r}")
    if dtype is None:
        fp = next((p for p in model.parameters() if p.is_floating_point()), None)
        dtype = fp.dtype if fp is not None else torch.float32
    return device, dtype


def _own_param_rows(model: nn.Module) -> dict[int, LayerStats]:
    """A row per module with its own (recurse=False) parameters, each parameter counted once."""
    seen: set[int] = set()
    rows: dict[int, LayerStats] = {}
    for name, m in model.named_modules():
        own = 0
        for p in m.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                own += p.numel()
        rows[id(m)] = LayerStats(name, type(m).__name__, None, own, 0)
    return rows


def _run_hooked(model: nn.Module, x: torch.Tensor, rows: dict[int, LayerStats], rec: "_Recorder",
                order: list[int]):
    """One eval forward under ``rec`` with hooks that attribute ops to modules; flags restored."""
    def pre_hook(module, inputs):
        row = rows[id(module)]
        if row.calls == 0:
            order.append(id(module))
        row.calls += 1
        rec.stack.append(row)

    def post_hook(module, inputs, output):
        if rec.stack and rec.stack[-1] is rows[id(module)]:
            rec.stack.pop()
        row = rows[id(module)]
        t = _first_tensor(output)
        if t is not None and row.output_shape is None:
            row.output_shape = tuple(t.shape)
            info = rec.rf.get(t)
            row.receptive_field = simplify(info.rf) if info is not None else None

    handles = []
    flags = {id(m): m.training for m in model.modules()}
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(post_hook, always_call=True))
        model.eval()
        rec.rf.seed(x)
        with torch.no_grad(), rec:
            return model(x)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = flags.get(id(m), m.training)
