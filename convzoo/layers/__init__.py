"""Every variant of the convolutional layer, for 1D, 2D and 3D inputs (``dims=1|2|3``).

The blocks built from them (MBConv, FusedMBConv, ConvNeXtBlock) live in :mod:`convzoo.blocks`;
layers know nothing of blocks.
"""
from .activations import make_act
from .channels import make_divisible
from .conv import ConvNormAct, DepthwiseConv, DepthwiseSeparableConv, PointwiseConv, conv_of, make_conv
from .conv2plus1d import Conv2Plus1d, midplanes
from .dilated import DilatedConv
from .drop_path import DropPath, drop_path, drop_path_rates
from .grn import GlobalResponseNorm
from .norm import ChannelLayerNorm, make_norm
from .padding import same_padding
from .spatially_separable import SpatiallySeparableConv
from .squeeze_excite import SqueezeExcite
from .transposed import ConvTranspose

__all__ = [
    "ConvNormAct", "DepthwiseConv", "PointwiseConv", "DepthwiseSeparableConv", "Conv2Plus1d",
    "SqueezeExcite", "DropPath", "ChannelLayerNorm",
    "make_conv", "conv_of", "make_act", "make_norm", "make_divisible", "same_padding", "midplanes",
    "drop_path", "drop_path_rates", "SpatiallySeparableConv", "ConvTranspose",
    "DilatedConv", "GlobalResponseNorm",
]
