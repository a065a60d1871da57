"""The oracles the layer and block tests share: NumPy batch norm, activations and convs written out,
torch.nn.functional compositions with a module's own weights, randomised float64 modules."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import settings
from scipy.special import erf
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convzoo.reference import conv_nd


SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
FCONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
FCONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
SIZES = {1: (11,), 2: (7, 6), 3: (5, 4, 5)}


# --- NumPy building blocks (the oracle side) ------------------------------------------------------

def npy(t):
    return t.detach().numpy()


def np_relu(x):
    return np.maximum(x, 0)


def np_relu6(x):
    return np.clip(x, 0, 6)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_silu(x):
    return x * np_sigmoid(x)


def np_gelu(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


NP_ACT = {nn.ReLU: np_relu, nn.ReLU6: np_relu6, nn.SiLU: np_silu, None: lambda x: x}
F_ACT = {nn.ReLU: F.relu, nn.ReLU6: F.relu6, nn.SiLU: F.silu, None: lambda x: x}


def np_bn(x, bn):
    """Eval-mode batch norm over axis 1 from the module's running statistics."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = npy(bn.weight) / np.sqrt(npy(bn.running_var) + bn.eps)
    return (x - npy(bn.running_mean).reshape(shape)) * scale.reshape(shape) + npy(bn.bias).reshape(shape)


def f_bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def np_conv(x, conv):
    """A module's nn.ConvNd evaluated by the NumPy oracle (symmetric padding only)."""
    b = None if conv.bias is None else npy(conv.bias)
    return conv_nd(x, npy(conv.weight), b, conv.stride, conv.padding, conv.dilation, conv.groups)


def f_conv(x, conv):
    return FCONV[x.dim() - 2](x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                              conv.groups)


def randomize(module, seed=0):
    """float64, eval mode, random BN running stats / affine and non-trivial layer scale."""
    g = torch.Generator().manual_seed(seed)
    module.double().eval()
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
    return module


def inputs(c, dims, batch=2, size=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c, *(size or SIZES[dims])))
    return x, torch.from_numpy(x)


def assert_close(a, b):
    np.testing.assert_allclose(npy(a) if isinstance(a, torch.Tensor) else a,
                               npy(b) if isinstance(b, torch.Tensor) else b, rtol=1e-9, atol=1e-9)


# convzoo.analysis's oracles: the layer classes per dimension and PyTorch's own FLOP counter
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def torch_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Independent oracle: PyTorch's FlopCounterMode (2 FLOPs per MAC for convs and matmuls)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops()


def nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
