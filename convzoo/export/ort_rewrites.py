"""Export-time rewrites that let ONNX Runtime keep a 2D network in its blocked (NCHWc) layout.

ORT's CPU layout pass (``NchwcTransformer``, on at ``ORT_ENABLE_ALL``) runs 2D convs in a
channel-blocked layout (16 channels a block with AVX-512) and converts back with ``ReorderOutput`` /
``ReorderInput`` around every node it cannot run blocked. Two patterns in conv nets force those
conversions, each a full copy of an activation map:

* ``ReduceMean`` over H, W (what ``x.mean((2, 3))`` exports to): the pass knows ``GlobalAveragePool``;
* the squeeze-excite scale ``x * s`` with ``s`` of shape (N, C, 1, 1): the pass runs ``Mul`` blocked
  only when both inputs have the same shape; it does not broadcast a channel block (see the comment
  in ``TransformBinary``, onnxruntime/core/optimizer/nchwc_transformer.cc).

So the exported graph pools with ``GlobalAveragePool`` and, when the batch axis is static, broadcasts
``s`` with a nearest-neighbour ``Resize`` to x's shape (exact: it copies values), which the pass also
runs blocked. For
EfficientNet-B0 this removes 64 of the 71 layout conversions ORT inserts into timm's export of the
same network (docs/deploy.md has the measurement). Other runtimes execute the same arithmetic.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.squeeze_excite import SqueezeExcite
from ..models.base import ClassifierHead
from ._common import replace_module, wrap_squeeze_excite

_GAP = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def _global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Mean over every spatial axis, keeping them as size 1; exports as ``GlobalAveragePool``."""
    return _GAP[x.dim() - 2](x, 1)


class BlockedLayoutSqueezeExcite(nn.Module):
    """:class:`SqueezeExcite` with the scale broadcast made explicit (2D only, for export).

    x -> GlobalAveragePool -> excite -> [Resize(nearest, to x's H, W)] -> x * s.
    Shape: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, se: SqueezeExcite, resize: bool = True):
        super().__init__()
        self.se, self.resize = se, resize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.se.excite(_global_avg_pool(x))
        if self.resize:
            # H and W are fixed in an export (only the batch axis may be dynamic): constant scales,
            # which the layout pass requires of a Resize it runs blocked
            s = F.interpolate(s, scale_factor=(float(x.shape[-2]), float(x.shape[-1])), mode="nearest")
        return x * s


class GlobalPoolHead(nn.Module):
    """A :class:`ClassifierHead` fed by ``GlobalAveragePool`` + flatten instead of ``ReduceMean``."""

    def __init__(self, head: ClassifierHead):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        h = self.head
        if h.pool_dims > 0:
            x = _global_avg_pool(x).flatten(1)
        x = h.drop(h.norm(x))   # the head's own steps after its pooling
        return x if pre_logits else h.fc(x)


def rewrite_for_blocked_layout(model: nn.Module, *, static_batch: bool = True) -> nn.Module:
    """Wrap (in place) every :class:`ClassifierHead` and every 2D :class:`SqueezeExcite` of
    ``model`` as above; returns ``model``. Outputs are unchanged (tested); meant for an export copy.

    The Resize only with ``static_batch``: with a symbolic batch axis ONNX shape inference cannot
    prove the Resize output's shape equal to x's, so ORT keeps the Mul unblocked and the Resize would
    only add work (EfficientNet-B0: still 39 ReorderOutput nodes, checked with ORT 1.32).
    """
    # a head subclass with hidden layers (MobileNetV3's) keeps its own pool
    for name in [n for n, m in model.named_modules() if n and type(m) is ClassifierHead]:
        replace_module(model, name, GlobalPoolHead(model.get_submodule(name)))
    return wrap_squeeze_excite(model, lambda se: BlockedLayoutSqueezeExcite(se, resize=static_batch))
