"""The registry split into the default tier and the slow tier, for the registry-wide tests.

Every registered model runs every registry-wide test; the question is only in which tier. A model
whose code is another member's at other widths or depths (EfficientNet-B1..B7 are B0's code, the
larger ConvNeXts are ConvNeXt-T's, ...) runs in the slow tier (``make test-slow``, which CI runs
too), its representative in the default tier (``make test``). A model not listed here is its own
representative, so a new family is tested in the default tier the moment it is registered.
"""
from __future__ import annotations

import re

import pytest

# (pattern of the members, the representative that covers their code in the default tier)
SAME_CODE = (
    (r"efficientnet_b[1-7]", "efficientnet_b0"),
    (r"tf_efficientnet_b[1-7]", "tf_efficientnet_b0"),
    (r"efficientnet_lite[1-4]", "efficientnet_lite0"),
    (r"tf_efficientnet_lite[1-4]", "tf_efficientnet_lite0"),
    (r"efficientnet_v2_[ml]", "efficientnet_v2_s"),
    (r"tf_efficientnet_v2_[ml]", "tf_efficientnet_v2_s"),
    (r"convnext_(small|base|large|xlarge)", "convnext_tiny"),
    (r"convnextv2_(femto|pico|nano)", "convnextv2_atto"),
    (r"convnextv2_(base|large|huge)", "convnextv2_tiny"),
    (r"mobilenetv3_small_0(50|75)|mobilenet_v3_small", "mobilenetv3_small_100"),
    (r"mobilenetv4_conv_large", "mobilenetv4_conv_medium"),
    (r"repvgg_(a1|a2|b0|b1|b2|b3)", "repvgg_a0"),
    (r"repvgg_b[23]g4", "repvgg_b1g4"),
    (r"mobileone_s[123]", "mobileone_s0"),     # s4 (squeeze-excite) is its own
    (r"waveform_m18", "waveform_m11"),
    (r"waveform_m18_dws", "waveform_m11_dws"),
)


def representative(name: str) -> str:
    for pattern, rep in SAME_CODE:
        if re.fullmatch(pattern, name):
            return rep
    return name


def tiered(names, group: bool = False) -> list:
    """``names`` as pytest params: representatives in the default tier, the rest marked ``slow``;
    ``group=True`` also puts each model's cases in one pytest-xdist group (one build per model)."""
    out = []
    for n in names:
        marks = [pytest.mark.xdist_group(n)] if group else []
        if representative(n) != n:
            marks.append(pytest.mark.slow)
        out.append(pytest.param(n, marks=marks))
    return out
