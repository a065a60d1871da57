"""Separable filters against full 2D filtering: F.conv2d, scipy.ndimage and OpenCV, per border mode."""
import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

from convzoo.reference import conv_nd
from convzoo.separable import BORDERS, KernelFactors, border_index, factorize_kernel, separable_filter

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SCIPY_MODE = {"zeros": "constant", "reflect": "mirror", "symmetric": "reflect", "replicate": "nearest",
              "circular": "grid-wrap"}
CV2_BORDER = {"zeros": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101,
              "symmetric": cv2.BORDER_REFLECT, "replicate": cv2.BORDER_REPLICATE,
              "circular": cv2.BORDER_WRAP}
NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "symmetric": "symmetric", "replicate": "edge",
             "circular": "wrap"}


def gaussian(k, sigma):
    g = cv2.getGaussianKernel(k, sigma)
    return g @ g.T


def rank1(kh, kw, seed):
    rng = np.random.default_rng(seed)
    return np.outer(rng.standard_normal(kh), rng.standard_normal(kw))


# --- factorize_kernel --------------------------------------------------------------------------------

def test_sobel_factors():
    f = factorize_kernel(SOBEL_X)
    assert isinstance(f, KernelFactors) and f.rank == 1 and f.is_separable
    col, row = f.columns[0], f.rows[0]
    # [1, 2, 1]^T x [-1, 0, 1], up to a scale shared between the factors
    scale = col[0]
    np.testing.assert_allclose(col / scale, [1, 2, 1], atol=1e-12)
    np.testing.assert_allclose(row * scale, [-1, 0, 1], atol=1e-12)
    np.testing.assert_allclose(f.reconstruct(), SOBEL_X, atol=1e-12)
    assert f.relative_error < 1e-12
    np.testing.assert_allclose(f.singular_values[1:], 0, atol=1e-12)


@pytest.mark.parametrize("kernel", [gaussian(5, 1.1), gaussian(7, 2.0), np.ones((3, 5)) / 15,
                                    np.ones((4, 4)), SOBEL_X.T, rank1(5, 3, 0)])
def test_rank1_kernels_recovered_exactly(kernel):
    f = factorize_kernel(kernel)
    assert f.rank == 1
    assert f.columns.shape == (1, kernel.shape[0]) and f.rows.shape == (1, kernel.shape[1])
    np.testing.assert_allclose(f.reconstruct(), kernel, atol=1e-12)
    assert f.relative_error < 1e-12


def test_float32_kernel_rank_uses_float32_precision():
    f = factorize_kernel(gaussian(7, 1.5).astype(np.float32))
    assert f.rank == 1 and f.columns.dtype == np.float32


def test_relative_errors_are_the_best_rank_r_errors():
    k = np.random.default_rng(0).standard_normal((5, 6))
    f = factorize_kernel(k)
    assert f.rank == 5 and f.relative_error < 1e-12
    assert np.all(np.diff(f.relative_errors) < 0)
    for r in range(1, 6):
        fr = factorize_kernel(k, rank=r)
        direct = np.linalg.norm(k - fr.reconstruct()) / np.linalg.norm(k)
        np.testing.assert_allclose(fr.relative_error, direct, atol=1e-12)
        np.testing.assert_allclose(f.relative_errors[r], direct, atol=1e-12)


def test_factorize_errors():
    with pytest.raises(ValueError, match=r"kernel must be a non-empty 2D array \(kh, kw\), got shape \(3,\)"):
        factorize_kernel([1, 2, 1])
    with pytest.raises(ValueError, match=r"rank must be an int in \[1, 3\] for a 3x3 kernel, got 4"):
        factorize_kernel(SOBEL_X, rank=4)
    with pytest.raises(TypeError, match="real numeric array"):
        factorize_kernel(np.array([["a"]]))


# --- separable_filter vs full 2D filtering -----------------------------------------------------------

@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("kh,kw", [(3, 3), (5, 3), (4, 6), (7, 7), (1, 5)])
@pytest.mark.parametrize("size", [(17, 23), (5, 7), (40, 33)])
def test_equals_scipy_correlate_and_convolve(border, kh, kw, size):
    rng = np.random.default_rng(kh * 10 + kw)
    img = rng.standard_normal(size)
    kernel = rank1(kh, kw, 1)
    mode = SCIPY_MODE[border]
    np.testing.assert_allclose(separable_filter(img, kernel, border=border),
                               ndi.correlate(img, kernel, mode=mode), atol=1e-10)
    np.testing.assert_allclose(separable_filter(img, kernel, border=border, mode="convolution"),
                               ndi.convolve(img, kernel, mode=mode), atol=1e-10)
    np.testing.assert_allclose(separable_filter(img, kernel, border=border, method="direct"),
                               ndi.correlate(img, kernel, mode=mode), atol=1e-10)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("k", [3, 4, 5, 9])
def test_equals_opencv_filter2d(border, k):
    rng = np.random.default_rng(k)
    img = rng.standard_normal((29, 31)).astype(np.float32)
    kernel = rank1(k, k, k).astype(np.float32)
    ours = separable_filter(img, kernel, border=border)
    if border == "circular":          # filter2D has no BORDER_WRAP: wrap-pad by hand, filter "valid"
        a = k // 2
        padded = cv2.copyMakeBorder(img, a, k - 1 - a, a, k - 1 - a, cv2.BORDER_WRAP)
        ref = cv2.filter2D(padded, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        ref = ref[:img.shape[0], :img.shape[1]]
    else:
        ref = cv2.filter2D(img, -1, kernel, borderType=CV2_BORDER[border])
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    if border != "circular":
        col, row = factorize_kernel(kernel).columns[0], factorize_kernel(kernel).rows[0]
        sep = cv2.sepFilter2D(img, -1, row, col, borderType=CV2_BORDER[border])
        np.testing.assert_allclose(ours, sep, atol=2e-5)


@pytest.mark.parametrize("k,dtype,batch", [(3, torch.float32, (2, 3)), (5, torch.float64, (2, 3)),
                                           (7, torch.float32, (3, 4))])   # 12 images: one-GEMM path
def test_equals_torch_conv2d_batch(k, dtype, batch):
    x = torch.randn(*batch, 19, 26, dtype=dtype)
    n = batch[0] * batch[1]
    kernel = torch.from_numpy(rank1(k, k, 2)).to(dtype)
    ours = separable_filter(x, kernel, border="zeros")
    assert isinstance(ours, torch.Tensor) and ours.dtype == dtype and ours.shape == x.shape
    ref = F.conv2d(x.reshape(n, 1, 19, 26), kernel.view(1, 1, k, k), padding=k // 2).reshape(x.shape)
    torch.testing.assert_close(ours, ref)
    # the same result for every border mode through the NumPy oracle on a padded input
    for border in BORDERS:
        a = k // 2
        padded = np.pad(x.numpy(), [(0, 0), (0, 0), (a, a), (a, a)], mode=NUMPY_PAD[border])
        ref_np = conv_nd(padded.reshape(n, 1, *padded.shape[2:]), kernel.numpy()[None, None])
        np.testing.assert_allclose(separable_filter(x, kernel, border=border).numpy(),
                                   ref_np.reshape(x.shape), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("border", BORDERS)
def test_higher_rank_kernel_sums_separable_passes(border):
    rng = np.random.default_rng(5)
    kernel = rng.standard_normal((5, 5))                  # rank 5: five separable passes
    img = rng.standard_normal((3, 21, 18))
    ref = np.stack([ndi.correlate(c, kernel, mode=SCIPY_MODE[border]) for c in img])
    np.testing.assert_allclose(separable_filter(img, kernel, border=border), ref, atol=1e-9)
    # truncated rank: equals full filtering with the rank-2 kernel
    f2 = factorize_kernel(kernel, rank=2)
    ref2 = np.stack([ndi.correlate(c, f2.reconstruct(), mode=SCIPY_MODE[border]) for c in img])
    np.testing.assert_allclose(separable_filter(img, kernel, border=border, rank=2), ref2, atol=1e-9)
    np.testing.assert_allclose(separable_filter(img, f2, border=border), ref2, atol=1e-9)


def test_factor_pair_input_and_dtypes():
    img = np.random.default_rng(0).integers(0, 255, (12, 13), dtype=np.uint8)
    col, row = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
    out = separable_filter(img, (col, row))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_allclose(out, cv2.Sobel(img.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3),
                               atol=1e-4)


@pytest.mark.parametrize("border", [b for b in BORDERS if b != "zeros"])
@pytest.mark.parametrize("length,pad", [(5, 2), (3, 7), (1, 3), (4, 9)])
def test_border_index_matches_numpy_pad(border, length, pad):
    x = np.arange(length)
    idx = border_index(length, pad, pad, border)
    np.testing.assert_array_equal(x[idx], np.pad(x, pad, mode=NUMPY_PAD[border]))


def test_kernel_larger_than_image():
    img = np.random.default_rng(1).standard_normal((4, 3))
    kernel = rank1(9, 7, 3)
    for border in BORDERS:
        np.testing.assert_allclose(separable_filter(img, kernel, border=border),
                                   ndi.correlate(img, kernel, mode=SCIPY_MODE[border]), atol=1e-10)


def test_filter_errors():
    with pytest.raises(ValueError, match="border must be one of"):
        separable_filter(np.zeros((4, 4)), SOBEL_X, border="mirror")
    with pytest.raises(ValueError, match='mode must be "correlation" or "convolution"'):
        separable_filter(np.zeros((4, 4)), SOBEL_X, mode="corr")
    with pytest.raises(ValueError, match=r"at least 2 axes \(H, W\), got shape \(4,\)"):
        separable_filter(np.zeros(4), SOBEL_X)
    with pytest.raises(ValueError, match="two 1D factors"):
        separable_filter(np.zeros((4, 4)), (np.ones((2, 3)), np.ones((3, 3))))


def test_gradients_flow_like_conv2d():
    x = torch.randn(1, 1, 12, 11, dtype=torch.float64, requires_grad=True)
    kernel = torch.from_numpy(rank1(5, 3, 4))
    separable_filter(x, kernel, border="zeros").square().sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    F.conv2d(x2, kernel.view(1, 1, 5, 3), padding=(2, 1)).square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    with pytest.raises(ValueError, match='method="fast" does not support autograd'):
        separable_filter(x, kernel, method="fast")
