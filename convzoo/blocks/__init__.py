"""Blocks built from convzoo.layers: the inverted residual family (with MobileNetV4's universal
inverted bottleneck), the ConvNeXt block (V1 and V2) and the re-parameterizable RepVGG and MobileOne
blocks."""
from .convnext_block import ConvNeXtBlock
from .fused_mbconv import FusedMBConv
from .mbconv import MBConv
from .mobileone_block import MobileOneBlock
from .reparam import reparameterize_model
from .repvgg_block import RepVggBlock
from .uib import UniversalInvertedResidual

__all__ = ["MBConv", "FusedMBConv", "ConvNeXtBlock", "UniversalInvertedResidual", "RepVggBlock", "MobileOneBlock",
           "reparameterize_model"]
