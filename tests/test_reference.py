"""The NumPy oracle itself, checked against hand-worked examples and against torch.nn.functional."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo.reference import (conv_matrix, conv_nd, conv_output_shape, conv_transpose_nd,
                               conv_transpose_output_shape)

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


# --- hand-worked examples (Dive into Deep Learning, Secs. 7.2 and 14.10) ---------------------------

def test_conv_nd_d2l_corr2d_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    k = np.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(conv_nd(x, k)[0, 0], [[19.0, 25.0], [37.0, 43.0]])


@pytest.mark.parametrize("method", ["scatter", "matrix"])
def test_conv_transpose_d2l_example(method):
    x = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    k = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    y = conv_transpose_nd(x, k, method=method)[0, 0]
    np.testing.assert_array_equal(y, [[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]])
    # D2L: padding=1 crops the outer ring; stride=2 places the four scaled kernels side by side.
    np.testing.assert_array_equal(conv_transpose_nd(x, k, padding=1, method=method)[0, 0], [[4.0]])
    np.testing.assert_array_equal(conv_transpose_nd(x, k, stride=2, method=method)[0, 0],
                                  [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]])


def test_conv_matrix_small_example():
    # 1D, kernel [1, 2], input length 3, stride 1, no padding: a 2 x 3 Toeplitz matrix.
    a = conv_matrix((1, 3), np.array([[[1.0, 2.0]]]))
    np.testing.assert_array_equal(a, [[1, 2, 0], [0, 1, 2]])
    # padding 1: the taps that fall into the padding are absent.
    a = conv_matrix((1, 3), np.array([[[1.0, 2.0]]]), padding=1)
    np.testing.assert_array_equal(a, [[2, 0, 0], [1, 2, 0], [0, 1, 2], [0, 0, 1]])


def test_output_shape_formulas():
    # Dumoulin & Visin relationships 6, 13 and 15 on a few points.
    assert conv_output_shape((5,), (3,), 2, 1) == (3,)
    assert conv_output_shape((7,), (3,), 1, 0, 2) == (3,)
    assert conv_transpose_output_shape((3,), (3,), 2, 1) == (5,)
    assert conv_transpose_output_shape((3,), (3,), 2, 1, 1) == (6,)


# --- generated configurations ---------------------------------------------------------------------

@st.composite
def conv_configs(draw, transposed=False):
    dims = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    d = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    p = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    max_size = {1: 9, 2: 6, 3: 4}[dims]
    if transposed:
        size = tuple(draw(st.integers(1, max_size)) for _ in range(dims))
        op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
        out = conv_transpose_output_shape(size, k, s, p, op, d)
        if any(o < 1 for o in out):
            p = (0,) * dims
        return dict(dims=dims, groups=groups, c_in=c_in, c_out=c_out, k=k, s=s, d=d, p=p, op=op, size=size)
    size = tuple(max(draw(st.integers(1, max_size)), di * (ki - 1) + 1 - 2 * pi)
                 for ki, di, pi in zip(k, d, p))
    batch = draw(st.sampled_from([1, 2]))
    return dict(dims=dims, groups=groups, c_in=c_in, c_out=c_out, k=k, s=s, d=d, p=p, size=size, batch=batch)


@SETTINGS
@given(conv_configs())
def test_conv_nd_matches_torch(cfg):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((cfg["batch"], cfg["c_in"], *cfg["size"]))
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"], *cfg["k"]))
    b = rng.standard_normal(cfg["c_out"])
    args = (cfg["s"], cfg["p"], cfg["d"], cfg["groups"])
    ours = conv_nd(x, w, b, *args)
    ref = CONV[cfg["dims"]](torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), *args).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs())
def test_conv_matrix_times_input_is_conv(cfg):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, cfg["c_in"], *cfg["size"]))
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"], *cfg["k"]))
    a = conv_matrix(x.shape[1:], w, cfg["s"], cfg["p"], cfg["d"], cfg["groups"])
    y = conv_nd(x, w, None, cfg["s"], cfg["p"], cfg["d"], cfg["groups"])
    np.testing.assert_allclose(a @ x[0].ravel(), y[0].ravel(), rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs(transposed=True))
def test_conv_transpose_two_algorithms_and_torch(cfg):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, cfg["c_in"], *cfg["size"]))
    w = rng.standard_normal((cfg["c_in"], cfg["c_out"] // cfg["groups"], *cfg["k"]))
    b = rng.standard_normal(cfg["c_out"])
    kw = dict(stride=cfg["s"], padding=cfg["p"], output_padding=cfg["op"], dilation=cfg["d"],
              groups=cfg["groups"])
    scatter = conv_transpose_nd(x, w, b, method="scatter", **kw)
    matrix = conv_transpose_nd(x, w, b, method="matrix", **kw)
    ref = CONV_T[cfg["dims"]](torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), cfg["s"],
                              cfg["p"], cfg["op"], cfg["groups"], cfg["d"]).numpy()
    assert scatter.shape == matrix.shape == ref.shape
    np.testing.assert_allclose(scatter, matrix, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(scatter, ref, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs())
def test_conv_matrix_transpose_is_transposed_conv(cfg):
    """A.T @ y equals the transposed conv of y, for the conv A of any (stride, padding, dilation, groups)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"], *cfg["k"]))
    a = conv_matrix((cfg["c_in"], *cfg["size"]), w, cfg["s"], cfg["p"], cfg["d"], cfg["groups"])
    out_size = conv_output_shape(cfg["size"], cfg["k"], cfg["s"], cfg["p"], cfg["d"])
    y = rng.standard_normal((1, cfg["c_out"], *out_size))
    # output_padding recovers the input size that the stride rounded away.
    base = conv_transpose_output_shape(out_size, cfg["k"], cfg["s"], cfg["p"], 0, cfg["d"])
    op = tuple(i - b for i, b in zip(cfg["size"], base))
    yt = torch.from_numpy(y)
    ref = CONV_T[cfg["dims"]](yt, torch.from_numpy(w), None, cfg["s"], cfg["p"], op, cfg["groups"],
                              cfg["d"]).numpy()
    np.testing.assert_allclose(a.T @ y.ravel(), ref.ravel(), rtol=1e-10, atol=1e-10)
    ours = conv_transpose_nd(y, w, None, cfg["s"], cfg["p"], op, cfg["d"], cfg["groups"])
    np.testing.assert_allclose(a.T @ y.ravel(), ours.ravel(), rtol=1e-10, atol=1e-10)


# --- bad input ------------------------------------------------------------------------------------

def test_errors_name_expected_and_got():
    x = np.zeros((1, 32, 5, 5))
    with pytest.raises(ValueError, match="groups=3 does not divide in_channels=32"):
        conv_nd(x, np.zeros((6, 10, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="expects 8 input channels.*got x with 32"):
        conv_nd(x, np.zeros((4, 8, 3, 3)))
    with pytest.raises(ValueError, match="too small"):
        conv_nd(x, np.zeros((4, 32, 7, 7)))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        conv_transpose_nd(x, np.zeros((32, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match='method must be "scatter" or "matrix"'):
        conv_transpose_nd(x, np.zeros((32, 2, 3, 3)), method="fft")
    with pytest.raises(ValueError, match="stride must be an int or 2 ints"):
        conv_nd(x, np.zeros((4, 32, 3, 3)), stride=(1, 1, 1))
