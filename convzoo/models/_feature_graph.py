"""``features_only=True, feature_cls="fx"``: the feature maps as an FX graph, which TorchScript compiles.

:class:`~convzoo.models.base.FeatureExtractor` runs ``forward_intermediates``, whose Python (index
sets, format strings, checkpointing) TorchScript refuses (``SetComp aren't supported``). timm's
``feature_cls="fx"`` is a traced graph instead (its ``FeatureGraphNet``); so is this one: torchvision's
``create_feature_extractor`` traces the model up to its ``feature_info`` levels, and the graph, with
no Python left in it, scripts, exports and runs as the eager model does (input checks are eager-only,
so the graph has none).
"""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from .base import ConvNet, FeatureInfo, feature_take_indices


class FeatureGraphNet(nn.Module):
    """A :class:`ConvNet`'s maps at its ``feature_info`` levels, traced (timm's ``FeatureGraphNet``).

    ``out_indices`` as :class:`~convzoo.models.base.FeatureExtractor` (None: all levels; an int n: the
    last n; a sequence, negative from the end). The graph holds what the levels need and no more
    (the head and later stages are dropped from it). Children: ``graph`` (an FX ``GraphModule``).
    Shape: (N, C, *S) -> list of (N, C_i, *S / reduction_i).
    """

    def __init__(self, model: ConvNet, out_indices=None):
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor
        if not getattr(model, "feature_info", None):
            raise ValueError(f"{type(model).__name__} declares no feature_info; features_only is not "
                             "supported for it")
        idx, _ = feature_take_indices(len(model.feature_info), out_indices)
        self.feature_info = FeatureInfo(model.feature_info[i] for i in idx)
        self.keys: List[str] = [f["module"] for f in self.feature_info]
        self.default_cfg = model.default_cfg
        self.pretrained_cfg = model.default_cfg
        self.graph = create_feature_extractor(model, return_nodes={k: k for k in self.keys})

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        out = self.graph(x)
        return [out[k] for k in self.keys]
