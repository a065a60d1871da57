"""Blocks built from convzoo.layers: the inverted residual family and the ConvNeXt block."""
from .convnext_block import ConvNeXtBlock
from .fused_mbconv import FusedMBConv
from .mbconv import MBConv

__all__ = ["MBConv", "FusedMBConv", "ConvNeXtBlock"]
