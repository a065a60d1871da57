"""A U-Net decoder over any backbone's feature levels, upsampling by transposed conv or resize-conv.

Ronneberger et al. 2015 (arXiv:1505.04597, Fig. 1): from the deepest map up, each step upsamples 2x,
concatenates the skip map of that resolution and fuses with two conv3x3 -> BN -> ReLU. The upsampling
is the lecture's transposed convolution (``"transposed"``: the paper's "up-conv 2x2", stride 2) or
Odena et al. 2016's resize-convolution (``"resize"``: nearest-neighbour 2x, then conv3x3), which cannot
produce the checkerboard pattern a transposed conv's uneven kernel overlap can (Distill,
doi:10.23915/distill.00003; ``convzoo figures checkerboard``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...layers import ConvNormAct
from ...layers.transposed import ConvTranspose

__all__ = ["UNetDecoder", "Upsample2x", "UPSAMPLE_MODES"]

UPSAMPLE_MODES = ("transposed", "resize")


class Upsample2x(nn.Module):
    """2x upsampling: transposed conv 2x2/s2 (``"transposed"``) or nearest 2x -> conv3x3 (``"resize"``),
    then BN -> ReLU. Children ``up`` (:class:`~convzoo.layers.transposed.ConvTranspose` or the conv),
    ``norm``, ``act``.
    Shape: (N, C_in, h, w) -> (N, C_out, 2h, 2w).
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transposed"):
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f'upsample must be "transposed" or "resize", got {mode!r}')
        self.mode = mode
        self.up: nn.Module = (ConvTranspose(in_channels, out_channels, 2, 2, bias=False) if mode == "transposed"
                              else nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "resize":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.act(self.norm(self.up(x)))


def fit_to(x: torch.Tensor, like: torch.Tensor, slack: int) -> torch.Tensor:
    """``x`` cropped or edge-padded to ``like``'s H x W. An upsampled map is within ``slack`` pixels of
    its target (strided convs round sizes up or down), so padding ``slack`` at the far ends and then
    cropping always fits, with no data-dependent branch (it traces and exports)."""
    if slack:
        x = F.pad(x, (0, slack, 0, slack), mode="replicate")
    return x[:, :, :like.shape[-2], :like.shape[-1]]


class UNetDecoder(nn.Module):
    """U-Net decoder: deepest map -> [upsample 2x (where the next map is finer) -> concat skip ->
    (conv3x3 -> BN -> ReLU) x 2] per shallower level -> upsample to full resolution -> conv1x1.

    ``channels``/``reductions``: the backbone levels', shallow to deep. Levels that share a
    resolution (a dilated backbone, ``output_stride`` < 32) are concatenated without upsampling.
    Each fusion has the skip's width (at least ``min_channels``). The last level (reduction 2 for the
    MobileNet/EfficientNet families, 4 for ConvNeXt) is upsampled 2x until full resolution.
    Children ``fuse`` (per level), ``up`` (per level), ``final_up``, ``classifier``.
    Shape: [(N, C_i, H / r_i, W / r_i)], (H, W) -> (N, num_classes, H, W).
    """

    def __init__(self, channels: Sequence[int], reductions: Sequence[int], num_classes: int,
                 upsample: str = "transposed", min_channels: int = 16):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f'upsample must be "transposed" or "resize", got {upsample!r}')
        for r in reductions:
            if r < 1 or r & (r - 1):
                raise ValueError(f"the U-Net decoder needs power-of-2 reductions, got {list(reductions)}")
        self.reductions = list(reductions)
        ch = channels[-1]
        ups, fuses = [], []
        for i in range(len(channels) - 2, -1, -1):
            width = max(min_channels, channels[i])
            scaled = reductions[i + 1] > reductions[i]
            if scaled and reductions[i + 1] != 2 * reductions[i]:
                raise ValueError(f"U-Net levels must halve the reduction step by step, got {list(reductions)}")
            ups.append(Upsample2x(ch, width, upsample) if scaled else nn.Identity())
            fuses.append(nn.Sequential(ConvNormAct((width if scaled else ch) + channels[i], width, 3),
                                       ConvNormAct(width, width, 3)))
            ch = width
        self.up = nn.ModuleList(ups)
        self.fuse = nn.ModuleList(fuses)
        steps = int(math.log2(reductions[0]))
        self.final_up = nn.Sequential(*[Upsample2x(ch, ch, upsample) for _ in range(steps)])
        self.final_slack = 2 ** steps - 1
        self.classifier = nn.Conv2d(ch, num_classes, 1)

    def forward(self, maps: list[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        x = maps[-1]
        for k, (up, fuse) in enumerate(zip(self.up, self.fuse)):
            skip = maps[len(maps) - 2 - k]
            x = fit_to(up(x), skip, 1 if not isinstance(up, nn.Identity) else 0)
            x = fuse(torch.cat([x, skip], dim=1))
        x = self.final_up(x)
        x = self.classifier(x)
        if self.final_slack:
            x = F.pad(x, (0, self.final_slack, 0, self.final_slack), mode="replicate")
        return x[:, :, :size[0], :size[1]]
