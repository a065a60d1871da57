"""The names of the ``convzoo compare`` variants: one table, read by the models
(:mod:`convzoo.models.variants` registers ``variant_<name>``), compare's reports, figure 2 and the CLI.
Kept apart from the models so that ``convzoo compare --help`` lists them without loading torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Variant:
    """The names of one compare variant: ``name`` (model ``variant_<name>``, ``compare --variants``,
    the key of :data:`convzoo.models.variants.BLOCKS`), ``title`` (its builder's docstring), ``label``
    (compare's reports) and ``layer`` (the single layer's name in figure 2, :mod:`convzoo.figures.variants`;
    None where the block is not one layer)."""
    name: str
    title: str
    label: str
    layer: Optional[str] = None


# The one table of variant names; everything that spells a variant reads it.
VARIANT_TABLE = (
    Variant("conv", "Standard 3x3 conv", "standard conv 3x3", "standard"),
    Variant("spatial", "Spatially separable (3x1 then 1x3)", "spatially separable 3x1+1x3", "spatially_separable"),
    Variant("dwsep", "Depthwise separable", "depthwise separable", "depthwise_separable"),
    Variant("mbconv", "Inverted residual (MBConv)", "inverted residual (MBConv)"),
    Variant("fused", "Fused-MBConv", "Fused-MBConv"),
    Variant("convnext", "ConvNeXt block", "ConvNeXt block"),
    Variant("uib", "Universal inverted bottleneck (ExtraDW)", "UIB (ExtraDW)"),
    Variant("convnextv2", "ConvNeXt V2 block (GRN)", "ConvNeXt V2 block (GRN)"),
)
VARIANTS = tuple(v.name for v in VARIANT_TABLE)
LABELS = {v.name: v.label for v in VARIANT_TABLE}
LAYER_NAMES = {v.name: v.layer for v in VARIANT_TABLE if v.layer}   # "dwsep" -> "depthwise_separable"
# What `convzoo compare` trains without --variants: the lecture's six (the documented results);
# the successors (uib, convnextv2) are asked for by name
DEFAULT_VARIANTS = VARIANTS[:6]

__all__ = ["Variant", "VARIANT_TABLE", "VARIANTS", "LABELS", "LAYER_NAMES", "DEFAULT_VARIANTS"]
