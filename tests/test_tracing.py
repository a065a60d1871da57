"""Every registered model goes through the tools users run on timm/torchvision models and gives the
eager output (relative error max|y - ref| / max|ref| <= 1e-5): ``torch.fx.symbolic_trace``,
torchvision's ``create_feature_extractor`` (the last node and a module in the middle, checked against
a forward hook in eager mode), ``torch.jit.script``, ``torch.export.export`` and
``torch.compile(fullgraph=True)``, and the FX graph scripted (timm's ``fx_torchscript`` check).

Inputs are small (the default size shrunk as in test_models.py, never below ``min_input_size``) and
``num_classes=3``. ``torch.compile`` uses ``backend="aot_eager"`` with ``fullgraph=True``: full-graph
capture is what proves the model traces without a graph break (dynamo raises on the first one) and
AOT autograd traces the captured graph, while inductor's code generation, which says nothing about
traceability, would cost minutes per model (it is run on the deployment paths, tests/test_export.py).
The six checks of one model share one build and one pytest-xdist worker (``xdist_group``, run with
``--dist loadgroup`` as the Makefile does), so the big nets are built once.
"""
from __future__ import annotations

import functools
import warnings

import pytest
import torch
from torch import nn

import convzoo
from convzoo.search.space import SHAPES_SPACE
from _helpers import rel_err
from _tiers import SAME_CODE, tiered
from test_models import _build, _small_size

TOL = 1e-5
NAMES = convzoo.list_models()


def _searched_spec() -> dict:
    choice = {f"s{i}_{k}": v for i in range(4) for k, v in
              dict(block="mbconv" if i % 2 else "fused", kernel=3, expand=4, layers=1, se=0.25,
                   width=SHAPES_SPACE.stages[i].widths[0]).items()}
    return SHAPES_SPACE.spec(choice, 3)


def _kwargs(name: str) -> dict:
    return dict(num_classes=3, spec=_searched_spec()) if name == "searched" else dict(num_classes=3)


@functools.lru_cache(maxsize=2)
def _case(name: str):
    """(model in eval mode, input, eager output); cached so the six checks of a model build it once."""
    model, big = _build(name, **_kwargs(name))
    model.eval()
    size = _small_size(model.default_cfg, model.default_cfg["modality"], big)
    x = torch.randn(1, model.default_cfg["input_size"][0], *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)
    return model, x, ref



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
    assert out["mid"].shape == seen["mid"].shape and rel_err(out["mid"], seen["mid"]) <= TOL, middle
    return out["out"]


def _script(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch.jit.script is deprecated, still used by both suites
        return torch.jit.script(model)(x)


def _fx_script(model, x):
    """timm's fx_torchscript check: the FX graph (as the feature extractor builds it) scripted."""
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
    train_nodes, eval_nodes = get_graph_node_names(model)
    fx = create_feature_extractor(model, train_return_nodes=[train_nodes[-1]], eval_return_nodes=[eval_nodes[-1]])
    out = _script(fx, x)
    return out[eval_nodes[-1]]


def _export(model, x):
    return torch.export.export(model, (x,)).module()(x)


def _compile(model, x):
    torch._dynamo.reset()
    return torch.compile(model, backend="aot_eager", fullgraph=True)(x)


# Family members that are another member's code at other widths and depths (the registered cfg's
# same_code, tests/_tiers.py): the two slow tools (export, dynamo + AOT compile: 10-100 s a model
# under load) run on the representative, the cheap ones (FX, feature extraction, TorchScript, FX +
# TorchScript) on every model. All of them passed every tool once (docs/models.md).
SLOW_TOOLS = ("export", "compile_fullgraph")

TOOLS = {"fx": _fx, "feature_extractor": _feature_extractor, "torchscript": _script,
         "fx_torchscript": _fx_script, "export": _export, "compile_fullgraph": _compile}


# name is the outer parameter, so the six tools of one model run one after another on one build
@pytest.mark.parametrize("tool", list(TOOLS))
@pytest.mark.parametrize("name", tiered(NAMES, group=True))   # other widths/depths: slow tier
def test_tool_reproduces_eager(name, tool):
    if tool in SLOW_TOOLS and name in SAME_CODE:
        pytest.skip(f"{name} is {SAME_CODE[name]}'s code at other widths; {tool} runs on that one")
    model, x, ref = _case(name)
    with torch.no_grad():
        y = TOOLS[tool](model, x)
    assert rel_err(y, ref) <= TOL, f"{name} through {tool}: relative error {rel_err(y, ref):.2e}"
