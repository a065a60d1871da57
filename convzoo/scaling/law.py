"""EfficientNet's scaling law on a small base network (Tan & Le 2019, arXiv:1905.11946, Sec. 3).

Compound scaling (Eq. 3): depth ``d = alpha**phi``, width ``w = beta**phi``, resolution
``r = gamma**phi`` with ``alpha * beta**2 * gamma**2 ~= 2``, so MACs grow by about ``2**phi``. The
single-dimension baselines of Fig. 3 / Table 3 spend the same ``2**phi`` on one dimension: depth
``2**phi``, width ``2**(phi/2)``, resolution ``2**(phi/2)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..blocks import MBConv
from ..layers import make_divisible
from ..models._specs import MBStage
from ..models.efficientnet import compound_scaling, scale_stages
from ..models.searched import make_spec

# The paper's grid-search result at phi = 1 (Sec. 4.2).
PAPER_COEFFS = (1.2, 1.1, 1.15)

# Base network for the ``shapes`` data: EfficientNet-B0's Table 1 (stages 2-6 of 8, about half their
# channels, stem 16 and head 128 instead of 32 and 1280) for 40 px inputs (B0: 224 px). Total stride
# 16, so 40 px ends at 3x3.
# NOTE: deviates from B0 (fewer stages, narrower) so that one training run takes a minute on a CPU.
#                   block   e  k  s  c_out n   se
SHAPES_BASE = (
    MBStage(MBConv, 1, 3, 1,  8, 1, 0.25),   # B0 stage 2
    MBStage(MBConv, 6, 3, 2, 16, 2, 0.25),   # B0 stage 3
    MBStage(MBConv, 6, 5, 2, 24, 2, 0.25),   # B0 stage 4
    MBStage(MBConv, 6, 3, 2, 40, 3, 0.25),   # B0 stage 5
    MBStage(MBConv, 6, 5, 1, 48, 2, 0.25),   # B0 stage 6
)
SHAPES_STEM, SHAPES_HEAD, SHAPES_RESOLUTION = 16, 128, 40
# NOTE: deviates from the official round_filters (divisor 8): channels here are 8-48, where a
# multiple of 8 would swallow beta = 1.1 entirely (8 * 1.1 -> 8); a divisor of 4 keeps the law visible.
CHANNEL_DIVISOR = 4


@dataclass(frozen=True)
class Multipliers:
    """How much one variant grows the base: depth d, width w, resolution r (Eq. 3's alpha/beta/gamma^phi)."""

    depth: float = 1.0
    width: float = 1.0
    resolution: float = 1.0

    @property
    def predicted_macs_ratio(self) -> float:
        """The law's MACs factor ``d * w**2 * r**2`` (exact only before rounding)."""
        return self.depth * self.width ** 2 * self.resolution ** 2


def compound(phi: float, alpha: float = PAPER_COEFFS[0], beta: float = PAPER_COEFFS[1],
             gamma: float = PAPER_COEFFS[2]) -> Multipliers:
    """Eq. 3: ``(alpha**phi, beta**phi, gamma**phi)``.

    Computed by :func:`convzoo.models.efficientnet.compound_scaling`.
    """
    d, w, r = compound_scaling(phi, alpha, beta, gamma)
    return Multipliers(d, w, r)


def single(dimension: str, phi: float) -> Multipliers:
    """Scale one dimension only, by the MACs factor ``2**phi`` (Fig. 3's baselines)."""
    if dimension == "depth":
        return Multipliers(depth=2.0 ** phi)
    if dimension == "width":
        return Multipliers(width=2.0 ** (phi / 2))
    if dimension == "resolution":
        return Multipliers(resolution=2.0 ** (phi / 2))
    raise ValueError(f"dimension must be 'depth', 'width' or 'resolution', got {dimension!r}")


def round_channels(channels: int, width: float) -> int:
    return make_divisible(channels * width, CHANNEL_DIVISOR)


def scaled_spec(m: Multipliers, num_classes: int, *, table=SHAPES_BASE, stem=SHAPES_STEM,
                head=SHAPES_HEAD, resolution=SHAPES_RESOLUTION, **meta) -> dict:
    """The spec (see :mod:`convzoo.models.searched`) of the base net grown by ``m``.

    The same rounding as :meth:`convzoo.models.efficientnet.EfficientNet.from_table`: channels
    (stem and head too) ``make_divisible(c * w, 4)``, layers ``ceil(n * d)``, resolution ``round(R * r)``.
    """
    return make_spec(scale_stages(table, m.width, m.depth, CHANNEL_DIVISOR),
                     stem_channels=round_channels(stem, m.width),
                     head_channels=round_channels(head, m.width),
                     resolution=int(round(resolution * m.resolution)), num_classes=num_classes,
                     depth=m.depth, width=m.width, resolution_mult=m.resolution, **meta)


def coefficient_grid(step: float = 0.1, tol: float = 0.06, max_alpha: float = 2.0,
                     max_beta: float = 1.45) -> list[tuple[float, float, float]]:
    """The phi = 1 grid of Sec. 4.2: (alpha, beta, gamma) >= 1 with ``alpha * beta**2 * gamma**2 ~= 2``.

    alpha and beta on a ``step`` grid, gamma the grid value nearest to the constraint, kept when the
    product is within ``tol`` of 2. Includes the three single-dimension corners.
    """
    n_a, n_b = int(round((max_alpha - 1) / step)), int(round((max_beta - 1) / step))
    out = []
    for i in range(n_a + 1):
        for j in range(n_b + 1):
            a, b = round(1 + i * step, 4), round(1 + j * step, 4)
            g_exact = math.sqrt(2 / (a * b * b)) if a * b * b <= 2 else 0.0
            if g_exact < 1:
                continue
            g = round(round((g_exact - 1) / (step / 2)) * (step / 2) + 1, 4)
            if abs(a * b * b * g * g - 2) <= tol:
                out.append((a, b, g))
    out.sort(key=lambda t: abs(t[0] * t[1] ** 2 * t[2] ** 2 - 2))
    return out
