"""Blocks built from convzoo.layers: the inverted residual family, the ConvNeXt block and
the re-parameterizable RepVGG and MobileOne blocks."""
from .convnext_block import ConvNeXtBlock
from .fused_mbconv import FusedMBConv
from .mbconv import MBConv
from .mobileone_block import MobileOneBlock
from .reparam import reparameterize_model
from .repvgg_block import RepVggBlock

__all__ = ["MBConv", "FusedMBConv", "ConvNeXtBlock", "RepVggBlock", "MobileOneBlock", "reparameterize_model"]
