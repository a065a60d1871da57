"""Model families. Every module here is imported by the registry on first use, so a new file with
``@register_model`` builders is registered without editing this file."""
from .base import ClassifierHead, ConvNet, FeatureExtractor, FeatureInfo

__all__ = ["ConvNet", "ClassifierHead", "FeatureExtractor", "FeatureInfo"]
