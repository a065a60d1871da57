"""Every registered model goes through the tools users run on timm/torchvision models and gives the
eager output (relative error max|y - ref| / max|ref| <= 1e-5): ``torch.fx.symbolic_trace``,
torchvision's ``create_feature_extractor`` (the last node and a module in the middle, checked against
a forward hook in eager mode), ``torch.jit.script``, ``torch.export.export`` and
``torch.compile(fullgraph=True)``.

Inputs are small (the default size shrunk as in test_models.py, never below ``min_input_size``) and
``num_classes=3``. ``torch.compile`` uses ``backend="aot_eager"`` with ``fullgraph=True``: full-graph
capture is what proves the model traces without a graph break (dynamo raises on the first one) and
AOT autograd traces the captured graph, while inductor's code generation, which says nothing about
traceability, would cost minutes per model. FX runs on every model. TorchScript, the feature
extractor, export and dynamo cost seconds per block on CPU (about 6 CPU-minutes for the whole
registry), so in the default run they cover every model up to ``FULL_CHECK_PARAMS`` parameters and
the smallest model of each builder module and padding mode (the larger members build the same blocks
from the same code, only more of them); ``CONVZOO_TRACE_ALL=1`` runs every tool on every model
(docs/models.md).
"""
from __future__ import annotations

import functools
import os
import warnings
from collections import defaultdict

import pytest
import torch
from torch import nn

import convzoo
from convzoo.search.space import SHAPES_SPACE
from test_models import _build, _small_size

FULL_CHECK_PARAMS = 1_000_000
# Fixed-size models too costly for dynamo/export in the default run (still run with CONVZOO_TRACE_ALL=1)
FIXED_BIG_INPUT = {"c3d": "fixed 16x112x112 clip (fc6 takes 8192 features): ~38 GMAC per pass"}
TOL = 1e-5
NAMES = convzoo.list_models()
SAME_CODE = {"convzoo.models.efficientnet_v2": "convzoo.models.efficientnet"}


def _searched_spec() -> dict:
    choice = {f"s{i}_{k}": v for i in range(4) for k, v in
              dict(block="mbconv" if i % 2 else "fused", kernel=3, expand=4, layers=1, se=0.25,
                   width=SHAPES_SPACE.stages[i].widths[0]).items()}
    return SHAPES_SPACE.spec(choice, 3)


def _kwargs(name: str) -> dict:
    return dict(num_classes=3, spec=_searched_spec()) if name == "searched" else dict(num_classes=3)


@functools.lru_cache(maxsize=None)
def _param_counts() -> dict[str, int]:
    out = {}
    for name in NAMES:
        with torch.device("meta"):
            out[name] = sum(p.numel() for p in convzoo.create_model(name, **_kwargs(name)).parameters())
    return out


@functools.lru_cache(maxsize=None)
def _heavy_checked() -> set[str]:
    """Models export/compile run on: the small ones, and the smallest of each (module, tf_) group."""
    if os.environ.get("CONVZOO_TRACE_ALL") == "1":
        return set(NAMES)
    counts = _param_counts()
    counts = {n: c for n, c in counts.items() if n not in FIXED_BIG_INPUT}
    groups = defaultdict(list)
    for name in NAMES:
        module = convzoo.registry.model_entrypoint(name).__module__
        # EfficientNetV2 is the same MBNet table code and blocks as EfficientNet (its FusedMBConv
        # stages are traced through variant_fused and the searched spec), so one group
        module = SAME_CODE.get(module, module)
        if name in counts:
            groups[(module, name.startswith("tf_"))].append(name)
    chosen = {n for n in counts if counts[n] <= FULL_CHECK_PARAMS}
    chosen |= {min(names, key=counts.get) for names in groups.values() if any(n in counts for n in names)}
    return chosen


@functools.lru_cache(maxsize=2)
def _case(name: str):
    """(model in eval mode, input, eager output); cached so the five checks of a model build it once."""
    model, big = _build(name, **_kwargs(name))
    model.eval()
    size = _small_size(model.default_cfg, model.default_cfg["modality"], big)
    x = torch.randn(1, model.default_cfg["input_size"][0], *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)
    return model, x, ref


def _rel(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1e-12))


def _heavy(name: str) -> None:
    if name not in _heavy_checked():
        pytest.skip(f"{name}: this tool runs on the smallest model of its family by default "
                    "(CONVZOO_TRACE_ALL=1 runs every model; see docs/models.md)")


def _fx(model, x):
    return torch.fx.symbolic_trace(model)(x)


def _feature_extractor(model, x):
    """Last node against the model's output, a module in the middle against an eager forward hook."""
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
    _, nodes = get_graph_node_names(model)
    modules = dict(model.named_modules())
    leaves = [n for n in nodes if n in modules and not isinstance(modules[n], nn.Identity)]
    middle = leaves[len(leaves) // 2]
    seen = {}
    handle = modules[middle].register_forward_hook(lambda m, a, out: seen.setdefault("mid", out))
    try:
        model(x)
    finally:
        handle.remove()
    out = create_feature_extractor(model, {nodes[-1]: "out", middle: "mid"})(x)
    assert out["mid"].shape == seen["mid"].shape and _rel(out["mid"], seen["mid"]) <= TOL, middle
    return out["out"]


def _script(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch.jit.script is deprecated, still used by both suites
        return torch.jit.script(model)(x)


def _export(model, x):
    return torch.export.export(model, (x,)).module()(x)


def _compile(model, x):
    torch._dynamo.reset()
    return torch.compile(model, backend="aot_eager", fullgraph=True)(x)


TOOLS = {"fx": _fx, "feature_extractor": _feature_extractor, "torchscript": _script,
         "export": _export, "compile_fullgraph": _compile}


# name is the outer parameter, so the five tools of one model run one after another on one build
@pytest.mark.parametrize("tool", list(TOOLS))
@pytest.mark.parametrize("name", NAMES)
def test_tool_reproduces_eager(name, tool):
    if tool != "fx":
        _heavy(name)
    model, x, ref = _case(name)
    with torch.no_grad():
        y = TOOLS[tool](model, x)
    assert _rel(y, ref) <= TOL, f"{name} through {tool}: relative error {_rel(y, ref):.2e}"
