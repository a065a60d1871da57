"""The course notebooks' exercises: each answer is judged by convzoo's own arithmetic or by building
the layer and counting, never by comparing with a typed-in number.

    >>> from convzoo.course import check
    >>> check("dilated.keep_37", (1, 2))          # stride 1, padding 2 keep 37x37 for k=3, d=2
    True

``check`` prints one line and returns True when the answer is right, raises :class:`WrongAnswer`
(an AssertionError) when it is wrong, and prints a reminder (returning False) while the answer is
still ``None`` - so a notebook whose exercises are not done yet still runs top to bottom.
Used by docs/notebooks/*.ipynb; tests/test_notebooks.py feeds every check wrong answers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


class WrongAnswer(AssertionError):
    """An exercise answer that the check rejects."""


@dataclass(frozen=True)
class Exercise:
    judge: Callable[[Any], bool]      # answer -> right?
    solution: Any                     # one right answer (shown in the notebook's hidden solution)


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _disk(radius: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (yy ** 2 + xx ** 2 <= radius ** 2 + 0.5).astype(float)


def _close(target: float, rel: float) -> Callable[[Any], bool]:
    return lambda a: isinstance(a, (int, float)) and math.isclose(float(a), target, rel_tol=rel)


def _equals(target_fn: Callable[[], Any]) -> Callable[[Any], bool]:
    return lambda a: _plain(a) == _plain(target_fn())


def _plain(v):
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def _sobel_y_factors(a) -> bool:
    sobel_y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float)
    try:
        col, row = (np.asarray(x, dtype=float).ravel() for x in a)
    except (TypeError, ValueError):
        return False
    return col.shape == row.shape == (3,) and np.allclose(np.outer(col, row), sobel_y)


def _keeps_37(a) -> bool:
    from .analysis import conv_output_size
    try:
        s, p = a
        return conv_output_size(37, 3, s=s, p=p, d=2) == 37
    except (TypeError, ValueError):
        return False


def _two_pair_kernel() -> np.ndarray:
    """The spatially separable notebook's kernel: a sum of two column-times-row pairs."""
    return np.outer([1, 2, 1], [1, 0, -1]) + np.outer([1, 0, -1], [1, 1, 1])


def _spatial_params() -> int:
    from .layers import SpatiallySeparableConv
    return _params(SpatiallySeparableConv(64, 64, 5, rank=16, bias=False))


def _dw_saved() -> int:
    from .analysis import profile
    from .layers import DepthwiseSeparableConv, make_conv
    std = profile(make_conv(256, 256, 3, bias=False), (256, 28, 28)).macs
    ds = profile(DepthwiseSeparableConv(256, 256, 3, norm=None, act_layer=None, bias=False), (256, 28, 28)).macs
    return std - ds


def _mbconv_params() -> int:
    from .blocks import MBConv
    return _params(MBConv(24, 24, expand_ratio=6, kernel_size=3))


def _mbconv_residual():
    from .blocks import MBConv
    return tuple(MBConv(i, o, stride=s).use_residual for i, o, s in ((24, 24, 1), (24, 32, 1), (32, 32, 2)))


def _convnext_params() -> int:
    from .blocks import ConvNeXtBlock
    return _params(ConvNeXtBlock(96))


def _convnext_dw_share() -> float:
    from .analysis import profile
    from .blocks import ConvNeXtBlock
    block = ConvNeXtBlock(96)
    total = profile(block, (96, 56, 56)).macs
    dw = profile(block.dwconv, (96, 56, 56)).macs
    return dw / total


def _resolution(name: str) -> int:
    from .registry import get_pretrained_cfg_value
    return int(get_pretrained_cfg_value(name, "input_size")[-1])


def _compound_macs(phi: int) -> float:
    from .scaling.law import compound
    return compound(phi).predicted_macs_ratio


def _rf(layers) -> int:
    from .analysis import receptive_field
    return receptive_field(layers)[-1].receptive_field


def _out(i, k, s=1, p=0, d=1) -> int:
    from .analysis import conv_output_size
    return conv_output_size(i, k, s=s, p=p, d=d)


def _out_t(i, k, s=1, p=0) -> int:
    from .analysis import conv_transpose_output_size
    return conv_transpose_output_size(i, k, s=s, p=p)


def _one_filter_per_channel(a) -> bool:
    """groups=a on a 32 -> 32 conv gives each output channel one input channel (weight 32x1x3x3)."""
    from torch import nn
    try:
        return tuple(nn.Conv2d(32, 32, 3, groups=a).weight.shape) == (32, 1, 3, 3)
    except (TypeError, ValueError, RuntimeError):
        return False


def _transposed_macs() -> int:
    from torch import nn

    from .analysis import profile
    return profile(nn.ConvTranspose2d(8, 4, 3, stride=2, bias=False), (8, 5, 5)).macs


def _output_padding(a) -> bool:
    from .analysis import conv_transpose_output_size
    try:
        return conv_transpose_output_size(7, 3, s=2, p=1, output_padding=a) == 14
    except (TypeError, ValueError):
        return False


def _midplanes() -> int:
    from .layers import midplanes
    return midplanes(3, 64, t=3, d=3)


def _conv3d_params() -> int:
    from .layers import make_conv
    return _params(make_conv(3, 64, 3, dims=3, bias=False))


EXERCISES: dict[str, Exercise] = {
    "sobel.rank_disk": Exercise(_equals(lambda: int(np.linalg.matrix_rank(_disk()))), 3),
    "sobel.macs_7x7": Exercise(_equals(lambda: (7 * 7, 7 + 7)), (49, 14)),
    "sobel.sobel_y_factors": Exercise(_sobel_y_factors, ([-1, 0, 1], [1, 2, 1])),
    "spatial.params": Exercise(_equals(_spatial_params), 10240),
    "spatial.rank_exact": Exercise(_equals(lambda: int(np.linalg.matrix_rank(_two_pair_kernel()))), 2),
    "depthwise.groups": Exercise(_one_filter_per_channel, 32),
    "depthwise.macs_saved": Exercise(_equals(_dw_saved), 409_235_456),
    "depthwise.ratio": Exercise(lambda a: _close(1 / 512 + 1 / 9, 0.01)(a), 0.1131),
    "mbconv.hidden": Exercise(_equals(lambda: 24 * 6), 144),
    "mbconv.residual": Exercise(_equals(_mbconv_residual), (True, False, False)),
    "mbconv.params": Exercise(_equals(_mbconv_params), 8_832),
    "effnet.macs_phi3": Exercise(lambda a: _close(_compound_macs(3), 0.02)(a), 7.08),
    "effnet.b3_resolution": Exercise(_equals(lambda: _resolution("efficientnet_b3")), 300),
    "convnext.params": Exercise(_equals(_convnext_params), 79_296),
    "convnext.dw_share": Exercise(lambda a: _close(_convnext_dw_share(), 0.05)(a), 0.06),
    "dilated.keep_37": Exercise(_keeps_37, (1, 2)),
    "dilated.rf": Exercise(_equals(lambda: _rf([(3, 1, 1), (3, 1, 2), (3, 1, 4)])), 15),
    "dilated.effective_k": Exercise(_equals(lambda: _rf([(5, 1, 3)])), 13),
    "transposed.output_padding": Exercise(_output_padding, 1),
    "transposed.size": Exercise(_equals(lambda: _out_t(5, 4, s=2, p=1)), 10),
    "transposed.macs": Exercise(_equals(_transposed_macs), 7200),
    "conv1d.m5_out": Exercise(_equals(lambda: _out(8000, 80, s=4)), 1981),
    "conv1d.rf_ms": Exercise(lambda a: _close(80 / 8000 * 1000, 0.01)(a), 10),
    "conv3d.params": Exercise(_equals(_conv3d_params), 5184),
    "conv3d.midplanes": Exercise(_equals(_midplanes), 23),
}

_MSG = {"en": ("correct", "not answered yet: set `answer` above and run this cell again",
               "not right - try again (the hidden solution is below)"),
        "es": ("correcto", "aún sin responder: asigna `answer` arriba y vuelve a ejecutar esta celda",
               "no es correcto - inténtalo de nuevo (la solución oculta está debajo)")}


def check(exercise: str, answer: Any, lang: str = "en") -> bool:
    """Judge ``answer`` to ``exercise``: True if right, False (and a reminder) if None, else raise."""
    if exercise not in EXERCISES:
        raise KeyError(f"unknown exercise {exercise!r}; expected one of {sorted(EXERCISES)}")
    ok, todo, wrong = _MSG.get(lang, _MSG["en"])
    if answer is None:
        print(f"{exercise}: {todo}")
        return False
    if not EXERCISES[exercise].judge(answer):
        raise WrongAnswer(f"{exercise}: {answer!r} is {wrong}")
    print(f"{exercise}: {answer!r} - {ok}")
    return True
