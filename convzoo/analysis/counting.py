"""Which aten ops cost multiply-adds, and how many: the counting convention of :func:`profile`.

Convention (the papers' "Mult-Adds", MobileNetV1 Eq. 2): one MAC is one multiply followed by one add
into an accumulator. Counted: convolutions (any dims, groups, dilation, stride, transposed) and
matrix products (linear, matmul, bmm, einsum, attention). Bias additions are not MACs.

*Not* counted, by the papers' convention, but recorded as zero-MAC ops: normalisation (batch, layer,
group norm fold into the conv at inference or are negligible), activations, pooling and other
reductions, and elementwise arithmetic (residual adds, SE scaling, layer scale). Pure data movement
(views, copies, padding, concatenation, creation) is ignored. Any other op is *uncounted*: it was seen
but nothing here knows its cost, so :func:`profile` lists it instead of silently reporting zero.
"""
from __future__ import annotations

from math import prod
from typing import Callable, Optional

import torch

# ---------------------------------------------------------------------------------------------------
# MAC formulas, on the shapes of the op's arguments and output.


def conv_macs(x_shape, w_shape, out_shape, transposed: bool) -> int:
    """MACs of ``aten.convolution``.

    Regular: every output element is a dot product of length ``C_in/groups * prod(k)``, so
    ``N * C_out * prod(S_out) * C_in/groups * prod(k)`` (MobileNetV1 Eq. 2 with D_K^2 M N D_F^2).
    Transposed (weight shape ``(C_in, C_out/groups, *k)``): every *input* element is multiplied by its
    slice of the kernel, ``N * C_in * prod(S_in) * C_out/groups * prod(k)``. Counting by output (as
    several tools once did) is wrong for strided transposed convs.
    """
    n = x_shape[0]
    if transposed:
        return n * prod(x_shape[2:]) * prod(w_shape)            # w: (C_in, C_out/g, *k)
    return n * prod(out_shape[1:]) * prod(w_shape[1:])          # w: (C_out, C_in/g, *k)


def _mm(a, b) -> int:                                            # (n, k) @ (k, m)
    return a[0] * a[1] * b[1]


def _bmm(a, b) -> int:                                           # (B, n, k) @ (B, k, m)
    return a[0] * a[1] * a[2] * b[2]


def _sdpa(q, k, v) -> int:                                       # (*B, Lq, E) (*B, Lk, E) (*B, Lk, Ev)
    return prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])       # Q K^T, then attn @ V


def _shape(t) -> tuple:
    return tuple(t.shape)


def _macs_convolution(args, out) -> int:
    x, w = args[0], args[1]
    return conv_macs(_shape(x), _shape(w), _shape(out), bool(args[6]))


# op packet name -> (category, fn(args, out) -> MACs)
MAC_OPS: dict[str, tuple[str, Callable]] = {
    "convolution": ("conv", _macs_convolution),
    "_convolution": ("conv", _macs_convolution),
    "cudnn_convolution": ("conv", lambda a, o: conv_macs(_shape(a[0]), _shape(a[1]), _shape(o), False)),
    "cudnn_convolution_transpose": (
        "conv", lambda a, o: conv_macs(_shape(a[0]), _shape(a[1]), _shape(o), True)),
    "mm": ("matmul", lambda a, o: _mm(_shape(a[0]), _shape(a[1]))),
    "addmm": ("matmul", lambda a, o: _mm(_shape(a[1]), _shape(a[2]))),
    "_addmm_activation": ("matmul", lambda a, o: _mm(_shape(a[1]), _shape(a[2]))),
    "bmm": ("matmul", lambda a, o: _bmm(_shape(a[0]), _shape(a[1]))),
    "baddbmm": ("matmul", lambda a, o: _bmm(_shape(a[1]), _shape(a[2]))),
    "addbmm": ("matmul", lambda a, o: _bmm(_shape(a[1]), _shape(a[2]))),
    "mv": ("matmul", lambda a, o: prod(_shape(a[0]))),
    "addmv": ("matmul", lambda a, o: prod(_shape(a[1]))),
    "dot": ("matmul", lambda a, o: _shape(a[0])[0]),
    "vdot": ("matmul", lambda a, o: _shape(a[0])[0]),
    "_scaled_dot_product_flash_attention_for_cpu": (
        "attention", lambda a, o: _sdpa(_shape(a[0]), _shape(a[1]), _shape(a[2]))),
    "_scaled_dot_product_flash_attention": (
        "attention", lambda a, o: _sdpa(_shape(a[0]), _shape(a[1]), _shape(a[2]))),
    "_scaled_dot_product_efficient_attention": (
        "attention", lambda a, o: _sdpa(_shape(a[0]), _shape(a[1]), _shape(a[2]))),
    "_scaled_dot_product_cudnn_attention": (
        "attention", lambda a, o: _sdpa(_shape(a[0]), _shape(a[1]), _shape(a[2]))),
}

# ---------------------------------------------------------------------------------------------------
# Zero-MAC ops, by the papers' convention; reported by category so nothing is hidden.

_ZERO = {
    "norm": """native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training
        _native_batch_norm_legit_functional batch_norm _batch_norm_with_update _batch_norm_no_update
        cudnn_batch_norm miopen_batch_norm native_layer_norm layer_norm native_group_norm group_norm
        instance_norm rms_norm _fused_rms_norm local_response_norm""",
    "activation": """relu relu6 hardtanh silu gelu sigmoid hardsigmoid hardswish tanh leaky_relu elu
        selu celu mish softplus softshrink hardshrink softmax _softmax log_softmax _log_softmax clamp
        clamp_min clamp_max prelu _prelu_kernel glu threshold erf exp exp2 expm1 log log1p log2 sqrt
        rsqrt pow square abs neg sign sgn reciprocal logit sin cos""",
    "pooling": """max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices
        max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d
        adaptive_avg_pool2d adaptive_avg_pool3d _adaptive_avg_pool2d _adaptive_avg_pool3d
        adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d mean sum amax amin max min
        std var var_mean std_mean norm linalg_vector_norm logsumexp prod cumsum argmax argmin
        upsample_nearest1d upsample_nearest2d upsample_nearest3d upsample_linear1d
        upsample_bilinear2d upsample_trilinear3d upsample_bicubic2d _upsample_nearest_exact1d
        _upsample_nearest_exact2d _upsample_nearest_exact3d _upsample_bilinear2d_aa""",
    "elementwise": """add sub rsub mul div addcmul addcdiv lerp where maximum minimum fmod remainder eq
        ne lt gt le ge logical_and logical_or logical_not logical_xor bitwise_and bitwise_or
        bitwise_not masked_fill floor ceil round trunc isnan isinf isfinite nan_to_num
        native_dropout dropout bernoulli""",
}
ZERO_MAC_OPS: dict[str, str] = {name: cat for cat, names in _ZERO.items() for name in names.split()}

# Data movement and bookkeeping: neither MACs nor worth listing.
IGNORED_OPS = frozenset("""
    view _unsafe_view reshape permute transpose t expand expand_as squeeze unsqueeze flatten unflatten
    contiguous clone copy copy_ _to_copy to detach alias slice select index index_select cat stack split
    split_with_sizes chunk unbind narrow constant_pad_nd pad reflection_pad1d reflection_pad2d
    reflection_pad3d replication_pad1d replication_pad2d replication_pad3d circular_pad zeros ones full
    empty empty_strided empty_like new_empty new_empty_strided new_zeros new_ones new_full zeros_like
    ones_like full_like rand_like randn_like rand randn uniform normal fill zero as_strided
    as_strided_copy unfold roll flip gather scatter scatter_add repeat arange lift_fresh
    _local_scalar_dense item sym_size sym_numel sym_stride is_same_size channel_shuffle
    native_channel_shuffle pixel_shuffle pixel_unshuffle movedim moveaxis swapaxes diagonal
    _reshape_alias set_ resize_ resize_as_ masked_select nonzero randperm im2col col2im
    _has_compatible_shallow_copy_type
""".split())


def op_name(func) -> str:
    """``aten.add_.Tensor`` -> ``add_``; custom ops keep their namespace (``mylib::fused``)."""
    packet = getattr(func, "overloadpacket", func)
    name = getattr(packet, "__name__", str(packet))
    ns = getattr(func, "namespace", "aten")
    return name if ns == "aten" else f"{ns}::{name}"


def classify(func) -> tuple[str, Optional[Callable]]:
    """("mac", fn) | ("zero:<category>", None) | ("ignored", None) | ("uncounted", None)."""
    name = op_name(func)
    if "::" in name:
        return "uncounted", None
    if name in MAC_OPS:
        return "mac:" + MAC_OPS[name][0], MAC_OPS[name][1]
    base = name[:-1] if name.endswith("_") and not name.startswith("_") else name
    if base in MAC_OPS:                                       # in-place variants (addmm_, ...)
        return "mac:" + MAC_OPS[base][0], MAC_OPS[base][1]
    if base in ZERO_MAC_OPS:
        return "zero:" + ZERO_MAC_OPS[base], None
    if base in IGNORED_OPS or name in IGNORED_OPS:
        return "ignored", None
    return "uncounted", None


def is_tensor(x) -> bool:
    return isinstance(x, torch.Tensor)
