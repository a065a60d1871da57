"""Dense prediction: segmenters over convzoo's backbones (DeepLabV3, LR-ASPP, a U-Net decoder).

Registered segmenters carry ``task="segmentation"``; ``convzoo.create_model`` builds them and
``convzoo.list_models(task="segmentation")`` lists them.
"""
from .heads import ASPP, DeepLabHead, LRASPPHead
from .segmenter import HEADS, LogitsOnly, Segmenter, Trunk, create_segmenter
from .segmenters import TorchvisionSegmenter, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large
from .unet import UPSAMPLE_MODES, UNetDecoder, Upsample2x

__all__ = ["ASPP", "DeepLabHead", "LRASPPHead", "HEADS", "LogitsOnly", "Segmenter", "Trunk",
           "create_segmenter", "TorchvisionSegmenter", "deeplabv3_mobilenet_v3_large",
           "lraspp_mobilenet_v3_large", "UPSAMPLE_MODES", "UNetDecoder", "Upsample2x"]
