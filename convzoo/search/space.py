"""The per-stage search space: MBConv or Fused-MBConv, kernel, expansion, layers, SE, width.

MnasNet's factorised hierarchical space (Tan et al. 2019, arXiv:1807.11626, Sec. 4.1, Fig. 4): the
net is a fixed skeleton of stages (strides fixed), and each stage picks its own block, kernel size,
expansion ratio, SE on/off, number of layers and output width; the layers of one stage repeat the
same block. EfficientNetV2 (arXiv:2104.00298, Sec. 4.1) adds Fused-MBConv as a block choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models._specs import MBStage
from ..models.searched import BLOCKS, make_spec


@dataclass(frozen=True)
class StageChoices:
    """What one stage may be. ``stride`` is fixed (applies to its first layer)."""

    stride: int
    widths: tuple[int, ...]                       # output channel choices
    layers: tuple[int, ...] = (1, 2, 3)
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[int, ...] = (1, 4, 6)
    se_ratios: tuple[float, ...] = (0.0, 0.25)
    blocks: tuple[str, ...] = ("mbconv", "fused")


@dataclass(frozen=True)
class SearchSpace:
    """A skeleton of stages plus the fixed stem, head and input resolution."""

    stages: tuple[StageChoices, ...]
    stem_channels: int = 16
    head_channels: int = 128
    resolution: int = 64
    extra: dict = field(default_factory=dict)

    def suggest(self, trial) -> dict[str, Any]:
        """Ask an Optuna trial for one value per choice; returns the trial's params."""
        for i, s in enumerate(self.stages):
            trial.suggest_categorical(f"s{i}_block", list(s.blocks))
            trial.suggest_categorical(f"s{i}_kernel", list(s.kernels))
            trial.suggest_categorical(f"s{i}_expand", list(s.expansions))
            trial.suggest_categorical(f"s{i}_layers", list(s.layers))
            trial.suggest_categorical(f"s{i}_se", list(s.se_ratios))
            trial.suggest_categorical(f"s{i}_width", list(s.widths))
        return dict(trial.params)

    def table(self, params: dict[str, Any]) -> tuple[MBStage, ...]:
        """The MBStage rows a set of choices describes."""
        rows = []
        for i, s in enumerate(self.stages):
            try:
                block = params[f"s{i}_block"]
                rows.append(MBStage(BLOCKS[block], params[f"s{i}_expand"], params[f"s{i}_kernel"],
                                    s.stride, params[f"s{i}_width"], params[f"s{i}_layers"],
                                    params[f"s{i}_se"]))
            except KeyError as e:
                raise ValueError(f"search params lack {e.args[0]!r} for stage {i}") from None
        return tuple(rows)

    def spec(self, choices: dict[str, Any], num_classes: int, **meta) -> dict:
        """The spec (see :mod:`convzoo.models.searched`) of one point; ``meta`` is stored with it."""
        return make_spec(self.table(choices), stem_channels=self.stem_channels,
                         head_channels=self.head_channels, resolution=self.resolution,
                         num_classes=num_classes, **meta)

    def size(self) -> int:
        """How many distinct networks the space holds."""
        n = 1
        for s in self.stages:
            n *= (len(s.blocks) * len(s.kernels) * len(s.expansions) * len(s.layers)
                  * len(s.se_ratios) * len(s.widths))
        return n


# The default space for the ``shapes`` data at 64 px: 4 stages, total stride 16 (64 px -> 4x4),
# widths around the scaling study's base net.
SHAPES_SPACE = SearchSpace(stages=(
    StageChoices(stride=1, widths=(8, 12, 16), layers=(1, 2)),
    StageChoices(stride=2, widths=(16, 24, 32)),
    StageChoices(stride=2, widths=(24, 32, 48)),
    StageChoices(stride=2, widths=(40, 56, 72)),
))
