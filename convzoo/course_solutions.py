"""Teacher's copy: one right answer to every course exercise, kept out of :mod:`convzoo.course` (which
the notebooks import), so that a class can be graded against answers the questions do not carry.

    >>> from convzoo.course import check
    >>> from convzoo.course_solutions import SOLUTIONS
    >>> bool(check("dilated.rf", SOLUTIONS["dilated.rf"], quiet=True))
    True

The coding exercises' solutions are plain NumPy functions (any function that matches the oracle on
the exercise's cases is right; these are one way to write them). tests/test_notebooks.py checks that
every solution here is accepted.
"""
from __future__ import annotations

import numpy as np


def two_passes(image, col, row):
    """Column pass, then row pass: kh + kw multiply-adds per output pixel instead of kh * kw."""
    h, w = image.shape[0] - len(col) + 1, image.shape[1] - len(row) + 1
    tmp = sum(c * image[a:a + h, :] for a, c in enumerate(col))          # (h, W)
    return sum(r * tmp[:, b:b + w] for b, r in enumerate(row))           # (h, w)


def low_rank(K, R):
    """Eckart-Young: keep the R largest singular values of the SVD."""
    u, s, vt = np.linalg.svd(K)
    return sum(s[i] * np.outer(u[:, i], vt[i]) for i in range(R))


def _xcorr2d(x, w):
    kh, kw = w.shape
    h, ww = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    return sum(w[a, b] * x[a:a + h, b:b + ww] for a in range(kh) for b in range(kw))


def depthwise(x, w):
    """One 2D filter per channel, no sum over channels."""
    return np.stack([_xcorr2d(x[c], w[c]) for c in range(x.shape[0])])


def inverted_residual(x, w_expand, w_dw, w_project):
    """Expand 1x1 -> ReLU6 -> depthwise 3x3 (padding 1) -> ReLU6 -> project 1x1 (linear) -> + x."""
    relu6 = lambda y: np.clip(y, 0, 6)
    h = relu6(np.einsum("oc,chw->ohw", w_expand, x))
    h = relu6(depthwise(np.pad(h, ((0, 0), (1, 1), (1, 1))), w_dw))
    return x + np.einsum("oc,chw->ohw", w_project, h)


def multipliers(phi):
    """EfficientNet's Eq. 3 with the paper's alpha, beta, gamma."""
    return 1.2 ** phi, 1.1 ** phi, 1.15 ** phi


def channel_layer_norm(x, weight, bias):
    """LayerNorm over the channels of a (C, H, W) map, at each pixel (ConvNeXt's channels-first norm)."""
    mean = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * weight[:, None, None] + bias[:, None, None]


def dilate_kernel(w, d):
    """Taps d apart, zeros between: a dilated conv is a plain conv with this sparse kernel."""
    k = w.shape[0]
    big = np.zeros((d * (k - 1) + 1,) * 2)
    big[::d, ::d] = w
    return big


def conv_transpose_1d(x, w, stride):
    """Scatter: input sample i adds x[i] * w to the output from i * stride on."""
    out = np.zeros((len(x) - 1) * stride + len(w))
    for i, v in enumerate(x):
        out[i * stride:i * stride + len(w)] += v * w
    return out


def conv1d(x, w, stride):
    """Gather: output sample j is the dot product of w with the window starting at j * stride."""
    n = (len(x) - len(w)) // stride + 1
    return np.array([x[j * stride:j * stride + len(w)] @ w for j in range(n)])


def conv3d(x, w):
    """A 3D conv is a sum over the kernel's t frames of 2D convs, one per (output, input) channel pair."""
    n, c, t = w.shape[:3]
    frames = x.shape[1] - t + 1
    return np.array([[sum(_xcorr2d(x[ci, f + j], w[o, ci, j]) for ci in range(c) for j in range(t))
                      for f in range(frames)] for o in range(n)])


SOLUTIONS: dict[str, object] = {
    "sobel.rank_disk": 3,
    "sobel.macs_7x7": (49, 14),
    "sobel.sobel_y_factors": ([-1, 0, 1], [1, 2, 1]),
    "sobel.two_passes": two_passes,
    "spatial.params": 10240,
    "spatial.rank_exact": 2,
    "spatial.low_rank": low_rank,
    "depthwise.groups": 32,
    "depthwise.macs_saved": 409_235_456,
    "depthwise.ratio": 0.1131,
    "depthwise.depthwise": depthwise,
    "mbconv.hidden": 144,
    "mbconv.residual": (True, False, False),
    "mbconv.params": 8_832,
    "mbconv.block": inverted_residual,
    "effnet.macs_phi3": 7.08,
    "effnet.b3_resolution": 300,
    "effnet.multipliers": multipliers,
    "convnext.params": 79_296,
    "convnext.dw_share": 0.06,
    "convnext.layer_norm": channel_layer_norm,
    "dilated.keep_37": (1, 2),
    "dilated.rf": 15,
    "dilated.effective_k": 13,
    "dilated.dilate_kernel": dilate_kernel,
    "transposed.output_padding": 1,
    "transposed.size": 10,
    "transposed.macs": 7200,
    "transposed.scatter": conv_transpose_1d,
    "conv1d.m5_out": 1981,
    "conv1d.rf_ms": 10,
    "conv1d.conv1d": conv1d,
    "conv3d.params": 5184,
    "conv3d.midplanes": 23,
    "conv3d.conv3d": conv3d,
}
