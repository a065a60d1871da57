"""Separable filters: split a 2D kernel into 1D factors by SVD, and filter images with them.

A kernel ``K`` (kh x kw) is separable when it is an outer product ``K = c r^T`` of a column factor
``c`` (kh) and a row factor ``r`` (kw), i.e. when it has rank 1. Filtering with ``c`` down the columns
and then with ``r`` along the rows gives the same result as filtering with ``K`` at ``kh + kw``
instead of ``kh * kw`` multiply-adds per pixel. The SVD ``K = sum_i s_i u_i v_i^T`` finds the factors
(``c = sqrt(s_1) u_1``, ``r = sqrt(s_1) v_1``) and, by the Eckart-Young theorem, the best rank-R
approximation of any kernel, with relative Frobenius error ``sqrt(sum_{i>R} s_i^2 / sum_i s_i^2)``.

Conventions (see docs/separable.md):

* **Correlation** by default: ``out[y, x] = sum_{i,j} K[i, j] * img[y + i - ay, x + j - ax]`` with the
  anchor ``(ay, ax) = (kh // 2, kw // 2)``. This is what ``F.conv2d``, ``cv2.filter2D`` and
  ``scipy.ndimage.correlate`` compute. ``mode="convolution"`` flips the kernel on both axes first
  (``scipy.ndimage.convolve``; the textbook convolution), anchored so that ``K[kh // 2, kw // 2]``
  still multiplies the centre pixel.
* **Borders** (the output has the input's size):

  ========== =================  ======================  ======================  ================
  border     pads ``abcd`` as    OpenCV                  SciPy ``ndimage``       NumPy / torch
  ========== =================  ======================  ======================  ================
  zeros      ``00|abcd|00``      BORDER_CONSTANT (0)     ``constant`` (cval=0)   ``constant``
  reflect    ``cb|abcd|cb``      BORDER_REFLECT_101      ``mirror``              ``reflect``
  symmetric  ``ba|abcd|dc``      BORDER_REFLECT          ``reflect``             ``symmetric``
  replicate  ``aa|abcd|dd``      BORDER_REPLICATE        ``nearest``             ``edge``/``replicate``
  circular   ``cd|abcd|ab``      BORDER_WRAP             ``grid-wrap``           ``wrap``/``circular``
  ========== =================  ======================  ======================  ================

  The default, ``"reflect"``, is OpenCV's default border (BORDER_REFLECT_101). Note that SciPy's
  ``"reflect"`` is *not* it: SciPy's ``"reflect"`` repeats the edge pixel (our ``"symmetric"``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["KernelFactors", "factorize_kernel", "separable_filter", "BORDERS"]

BORDERS = ("zeros", "reflect", "symmetric", "replicate", "circular")
ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


@dataclass(frozen=True, eq=False)   # eq=False: holds arrays, compare fields explicitly
class KernelFactors:
    """The SVD of a 2D kernel as 1D factors: ``kernel ~= sum_r outer(columns[r], rows[r])``.

    ``columns`` (rank, kh) are the vertical factors ``sqrt(s_r) u_r``, ``rows`` (rank, kw) the
    horizontal ones ``sqrt(s_r) v_r``; each pair's sign is fixed so that the column factor's
    largest-magnitude entry is positive. ``singular_values`` holds all ``min(kh, kw)`` of them,
    ``relative_errors[r]`` the relative Frobenius error of the best rank-``r`` approximation
    (``relative_errors[0] == 1``), and ``relative_error`` that of the kept ``rank``.
    """

    columns: np.ndarray
    rows: np.ndarray
    singular_values: np.ndarray
    relative_errors: np.ndarray
    rank: int
    kernel_shape: tuple[int, int]

    @property
    def relative_error(self) -> float:
        return float(self.relative_errors[self.rank])

    @property
    def is_separable(self) -> bool:
        """True when one outer product reproduces the kernel (numerical rank <= 1)."""
        return self.numerical_rank <= 1

    @property
    def numerical_rank(self) -> int:
        s = self.singular_values
        return int(np.sum(s > _rank_tol(s, self.kernel_shape, self.columns.dtype)))

    def reconstruct(self) -> np.ndarray:
        """``sum_r outer(columns[r], rows[r])``: the rank-``rank`` kernel these factors filter with."""
        return np.einsum("ri,rj->ij", self.columns, self.rows)


def _rank_tol(s: np.ndarray, shape: tuple[int, int], dtype) -> float:
    # numpy.linalg.matrix_rank's default tolerance, at the precision the kernel was given in.
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else np.finfo(np.float64).eps
    return float(s[0] * max(shape) * eps) if s.size else 0.0


def _as_numpy(a: ArrayLike, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a


def factorize_kernel(kernel: ArrayLike, rank: Optional[int] = None) -> KernelFactors:
    """Split a 2D kernel into ``rank`` pairs of 1D factors by SVD.

    ``rank=None`` keeps the numerical rank (singular values above ``s_1 * max(kh, kw) * eps`` of the
    kernel's dtype), so a separable kernel (Sobel, Gaussian, box) comes back as one exact pair.

    >>> f = factorize_kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])     # Sobel x
    >>> f.rank, np.round(f.columns[0] / f.columns[0][0], 6), np.round(f.rows[0] * f.columns[0][0], 6)
    (1, array([1., 2., 1.]), array([-1.,  0.,  1.]))
    """
    k = _as_numpy(kernel, "kernel")
    if k.ndim != 2 or 0 in k.shape:
        raise ValueError(f"kernel must be a non-empty 2D array (kh, kw), got shape {k.shape}")
    dtype = k.dtype if np.issubdtype(k.dtype, np.floating) else np.float64
    u, s, vt = np.linalg.svd(k.astype(np.float64), full_matrices=False)
    energy = np.cumsum((s ** 2)[::-1])[::-1]                        # energy[r] = sum_{i >= r} s_i^2
    total = energy[0] if s.size else 0.0
    tail = np.append(energy, 0.0)
    rel = np.sqrt(tail / total) if total > 0 else np.zeros(s.size + 1)
    numerical = int(np.sum(s > _rank_tol(s, k.shape, dtype)))
    if rank is None:
        rank = max(numerical, 1)
    if not isinstance(rank, (int, np.integer)) or not 1 <= rank <= s.size:
        raise ValueError(f"rank must be an int in [1, {s.size}] for a {k.shape[0]}x{k.shape[1]} "
                         f"kernel, got {rank!r}")
    root = np.sqrt(s[:rank])
    cols, rows = u[:, :rank].T * root[:, None], vt[:rank] * root[:, None]
    # SVD factors are defined up to a sign per pair; pick the one whose column peak is positive.
    peak = cols[np.arange(rank), np.abs(cols).argmax(axis=1)]
    sign = np.where(peak < 0, -1.0, 1.0)[:, None]
    return KernelFactors(columns=(cols * sign).astype(dtype), rows=(rows * sign).astype(dtype),
                         singular_values=s, relative_errors=rel, rank=int(rank),
                         kernel_shape=(int(k.shape[0]), int(k.shape[1])))


# ---------------------------------------------------------------------------------------------------
# Filtering
# ---------------------------------------------------------------------------------------------------

def border_index(length: int, before: int, after: int, border: str) -> np.ndarray:
    """Source index of every position of an axis of ``length`` padded by ``before`` / ``after``.

    Positions in the zero border get ``-1``. Periodic formulas, so pads longer than the axis
    repeat the pattern (as OpenCV and NumPy do).
    """
    i = np.arange(-before, length + after)
    if border == "zeros":
        return np.where((i >= 0) & (i < length), i, -1)
    if border == "replicate":
        return np.clip(i, 0, length - 1)
    if border == "circular":
        return np.mod(i, length)
    if border == "symmetric":                                    # ba|abcd|dc, period 2n
        m = np.mod(i, 2 * length)
        return np.where(m < length, m, 2 * length - 1 - m)
    if border == "reflect":                                      # cb|abcd|cb, period 2n - 2
        if length == 1:
            return np.zeros_like(i)
        m = np.mod(i, 2 * length - 2)
        return np.where(m < length, m, 2 * length - 2 - m)
    raise ValueError(f"border must be one of {BORDERS}, got {border!r}")


def _factors_of(kernel, rank: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """(columns (R, kh), rows (R, kw)) from a kernel, a KernelFactors or a (column, row) pair."""
    if isinstance(kernel, KernelFactors):
        if rank is not None and rank != kernel.rank:
            raise ValueError(f"rank={rank} given with factors of rank {kernel.rank}")
        return kernel.columns, kernel.rows
    if isinstance(kernel, tuple) and len(kernel) == 2:
        col, row = (_as_numpy(f, "factor") for f in kernel)
        col, row = np.atleast_2d(col), np.atleast_2d(row)
        if col.ndim != 2 or row.ndim != 2 or col.shape[0] != row.shape[0]:
            raise ValueError("a (column, row) pair must be two 1D factors or (R, kh), (R, kw) arrays, "
                             f"got shapes {col.shape} and {row.shape}")
        return col, row
    f = factorize_kernel(kernel, rank)
    return f.columns, f.rows


def _band(w: torch.Tensor, block: int) -> torch.Tensor:
    """(block, block + k - 1) banded matrix: row i holds w at columns i .. i + k - 1."""
    k = w.numel()
    t = w.new_zeros(block, block + k - 1)
    idx = torch.arange(block)[:, None] + torch.arange(k)[None, :]
    t.scatter_(1, idx, w.expand(block, k).contiguous())
    return t


def _fill_border(buf: torch.Tensor, dim: int, length: int, before: int, after: int, border: str):
    """Fill the ``before``/``after`` border slots of ``buf`` along ``dim`` from its interior."""
    idx = border_index(length, before, after, border)
    for start, src in ((0, idx[:before]), (before + length, idx[before + length:])):
        if src.size == 0:
            continue
        target = buf.narrow(dim, start, src.size)
        if border == "zeros":
            target.zero_()
        else:
            target.copy_(buf.index_select(dim, torch.from_numpy(src + before).to(buf.device)))


def _filter_fast(x: torch.Tensor, cols: torch.Tensor, rows: torch.Tensor, anchors, border: str,
                 block: Optional[int] = None):
    """x (M, H, W) -> (M, H, W). Row pass as one matrix product, column pass as a depthwise conv.

    Three passes over memory, each a single optimised kernel:

    1. Gather: every row is cut into ``nb`` windows of ``B + kw - 1`` samples that overlap by
       ``kw - 1``; one ``index_select`` builds all windows, border handling included (the index of a
       sample outside the image is its border source).
    2. Row pass: windows (M*H*nb, B + kw - 1) @ banded Toeplitz matrix (B + kw - 1, B) = B outputs per
       window, written straight into the rows of a row-padded buffer (M, H + kh - 1, nb*B). The
       zeros in the band cost MACs, but a GEMM runs near peak where a k-tap loop of elementwise ops
       would make k memory passes. The padding rows are then copied from the filtered rows (row
       filtering commutes with picking rows), a few rows only.
    3. Column pass: the buffer seen as channels-last (M, lanes, H + kh - 1, nb*B / lanes) goes through
       a depthwise (kh x 1) conv: ``lanes`` neighbouring columns fill the SIMD registers and oneDNN
       streams down the rows. Its channels-last output is already (M, H, nb*B) in memory.
    """
    m, h, w = x.shape
    (ay, ax) = anchors
    kh, kw = cols.shape[1], rows.shape[1]
    if block is None:
        # Small kernels: short windows (fewer wasted MACs in the band). Larger ones: long windows
        # (less overlap to gather, a better-shaped GEMM). Measured in bench/separable_filter.py.
        block = 16 if kw <= 5 else 64
    nb = -(-w // block)
    wb = nb * block
    span = block + kw - 1
    src = (np.arange(nb)[:, None] * block + np.arange(span)[None, :]).ravel()     # padded positions
    idx = border_index(w, ax, wb + kw - 1 - ax - w, border)[src]                 # -> source column
    dev = x.device
    windows = x.reshape(m * h, w).index_select(1, torch.from_numpy(np.maximum(idx, 0)).to(dev))
    if border == "zeros" and (idx < 0).any():
        windows.index_fill_(1, torch.from_numpy(np.flatnonzero(idx < 0)).to(dev), 0.0)
    windows = windows.view(m * h * nb, span)
    hp = h + kh - 1
    lanes = 64 if wb % 64 == 0 else 32 if wb % 32 == 0 else 16
    out = None
    for r in range(cols.shape[0]):
        band = _band(rows[r], block).t().contiguous()                          # (B + kw - 1, B)
        if m <= 8:    # write each image's rows into its padded buffer: no extra copy
            yp = x.new_empty(m, hp, wb)
            for i in range(m):
                torch.mm(windows[i * h * nb:(i + 1) * h * nb], band, out=yp[i, ay:ay + h].view(h * nb, block))
            _fill_border(yp, 1, h, ay, kh - 1 - ay, border)
        else:         # many small images: one GEMM, then pick the padded rows
            y = torch.mm(windows, band).view(m, h, wb)
            iy = border_index(h, ay, kh - 1 - ay, border)
            yp = y.index_select(1, torch.from_numpy(np.maximum(iy, 0)).to(dev))
            if border == "zeros":
                yp.index_fill_(1, torch.from_numpy(np.flatnonzero(iy < 0)).to(dev), 0.0)
        cl = yp.view(m, hp, wb // lanes, lanes).permute(0, 3, 1, 2)            # channels-last view
        weight = cols[r].view(1, 1, kh, 1).expand(lanes, 1, kh, 1).contiguous()
        z = F.conv2d(cl, weight, groups=lanes)                                 # (M, lanes, H, wb/lanes)
        z = z.permute(0, 2, 3, 1).reshape(m, h, wb)                            # a view when channels-last
        out = z if out is None else out.add_(z)
    return out[:, :, :w] if wb > w else out


def _filter_direct(x: torch.Tensor, cols: torch.Tensor, rows: torch.Tensor, anchors, border: str):
    """x (M, H, W) -> (M, H, W): pad once, then F.conv2d with a (kh x 1) and a (1 x kw) kernel."""
    m, h, w = x.shape
    (ay, ax) = anchors
    kh, kw = cols.shape[1], rows.shape[1]
    iy = torch.from_numpy(border_index(h, ay, kh - 1 - ay, border))
    ix = torch.from_numpy(border_index(w, ax, kw - 1 - ax, border))
    xp = x.index_select(1, iy.clamp(min=0)).index_select(2, ix.clamp(min=0))
    if border == "zeros":
        xp = xp * ((iy >= 0)[:, None] & (ix >= 0)[None, :]).to(x.dtype)
    xp = xp.unsqueeze(1)                                                  # (M, 1, H + kh - 1, W + kw - 1)
    out = 0
    for r in range(cols.shape[0]):
        y = F.conv2d(xp, cols[r].view(1, 1, kh, 1))
        out = out + F.conv2d(y, rows[r].view(1, 1, 1, kw))
    return out.squeeze(1)


def separable_filter(images: ArrayLike, kernel, *, mode: str = "correlation", border: str = "reflect",
                     rank: Optional[int] = None, method: str = "auto"):
    """Filter images with a 2D kernel through its 1D factors; equals full 2D filtering.

    ``images``: a torch tensor or NumPy array whose last two axes are (H, W): ``(H, W)``,
    ``(C, H, W)``, ``(N, C, H, W)``, ...; every leading index is filtered independently. The result
    has the same type and shape (floating dtypes are kept; integer images come back as float32).
    ``kernel``: a 2D kernel as an array, tensor or nested list (factorised by :func:`factorize_kernel`
    at its numerical rank, or at ``rank``), a :class:`KernelFactors`, or a *tuple* ``(column, row)``
    of 1D factors (or of ``(R, kh)``, ``(R, kw)`` arrays for a sum of R pairs). A rank-R kernel costs
    R separable passes.
    ``mode``: ``"correlation"`` (default; like ``F.conv2d``, ``cv2.filter2D``) or ``"convolution"``
    (kernel flipped, like ``scipy.ndimage.convolve``). ``border``: see the module docstring; default
    ``"reflect"`` = OpenCV's BORDER_REFLECT_101.
    ``method``: ``"fast"`` (gather + banded GEMM rows + depthwise conv columns, see
    ``_filter_fast``), ``"direct"`` (pad, then ``F.conv2d`` with k x 1 and 1 x k kernels), or
    ``"auto"``: fast on CPU, direct on GPU and when the input requires grad (direct is differentiable).

    Shape: (*, H, W) -> (*, H, W).
    """
    if mode not in ("correlation", "convolution"):
        raise ValueError(f'mode must be "correlation" or "convolution", got {mode!r}')
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    if method not in ("auto", "fast", "direct"):
        raise ValueError(f'method must be "auto", "fast" or "direct", got {method!r}')
    is_numpy = not isinstance(images, torch.Tensor)
    if is_numpy:
        arr = np.asarray(images)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"images must be a real numeric array, got dtype {arr.dtype}")
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float32)
        x = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        x = images if images.is_floating_point() else images.float()
    if x.dim() < 2:
        raise ValueError(f"images must have at least 2 axes (H, W), got shape {tuple(x.shape)}")
    cols, rows = _factors_of(kernel, rank)
    if mode == "convolution":
        cols, rows = cols[:, ::-1], rows[:, ::-1]
    kh, kw = cols.shape[1], rows.shape[1]
    # Correlation anchors the kernel at (kh // 2, kw // 2); after the flip that tap sits at (k - 1) // 2.
    anchors = (kh // 2, kw // 2) if mode == "correlation" else ((kh - 1) // 2, (kw - 1) // 2)
    cols = torch.as_tensor(cols.copy(), dtype=x.dtype, device=x.device)
    rows = torch.as_tensor(rows.copy(), dtype=x.dtype, device=x.device)

    shape = x.shape
    x3 = x.reshape(-1, shape[-2], shape[-1]).contiguous()
    # The fast path writes into preallocated buffers (``out=``), which autograd cannot follow.
    grad = torch.is_grad_enabled() and x.requires_grad
    if method == "fast" and grad:
        raise ValueError('method="fast" does not support autograd; use method="auto" or "direct"')
    use_fast = method == "fast" or (method == "auto" and x.device.type == "cpu" and not grad)
    out = (_filter_fast if use_fast else _filter_direct)(x3, cols, rows, anchors, border)
    out = out.reshape(shape)
    return out.numpy() if is_numpy else out
