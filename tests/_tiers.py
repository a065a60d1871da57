"""The registry split into the default tier and the slow tier, for the registry-wide tests.

Every registered model runs every registry-wide test; the question is only in which tier. A model
whose code is another member's at other widths or depths (EfficientNet-B1..B7 are B0's code, the
larger ConvNeXts are ConvNeXt-T's, ...) runs in the slow tier (``make test-slow``, which CI runs
too), its representative in the default tier (``make test``). The representative is the registered
cfg's ``same_code`` (written once, in the family's module); a model without one is its own
representative, so a new family is tested in the default tier the moment it is registered.
"""
from __future__ import annotations

import pytest

import convzoo
from convzoo.registry import get_pretrained_cfg

# {member: the representative that covers its code in the default tier}, read off the registry
SAME_CODE = {n: get_pretrained_cfg(n)["same_code"] for n in convzoo.list_models(task=None)
             if "same_code" in get_pretrained_cfg(n)}


def representative(name: str) -> str:
    return SAME_CODE.get(name, name)


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
