"""Every registered model against its registered cfg, as torchvision checks each weight's
``meta["num_params"]``: the twin facts a family writes once (``convzoo.models._specs.twin_cfg``) hold.

* ``twins``: each named timm / torchvision model, built on the meta device, has the model's parameter
  count, and the model reads that library's weight layout; the timm names are unique;
* ``num_params``: the model's own count, written out (so a bug shared with the twin cannot hide);
* ``same_code``: a registered model of the same family module that is its own representative;
* ``paper``: a citation, and a positive figure where the paper prints one.

Outputs are compared where they were (tests/test_image_models_reference.py, the family tests), from
tables read off these cfgs. Everything here runs on the meta device: the whole registry costs seconds.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import convzoo
from convzoo import hub
from convzoo.models._specs import TWIN_KEYS
from convzoo.registry import get_pretrained_cfg, model_entrypoint, twin_names
from _tiers import tiered
from _twins import build_twin

NAMES = convzoo.list_models(task=None)
LIBRARIES = ("timm", "torchvision")


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", tiered(NAMES))   # other widths/depths: slow tier
def test_registered_model_matches_its_cfg(name):
    cfg = get_pretrained_cfg(name)
    family = model_entrypoint(name).__module__
    if "same_code" in cfg:
        rep = cfg["same_code"]
        assert model_entrypoint(rep).__module__ == family, (name, rep)
        assert "same_code" not in get_pretrained_cfg(rep), f"{rep} is not its own representative"
    if "paper" in cfg:
        assert cfg["paper"]["source"] and (cfg["paper"]["gmacs"] is None or cfg["paper"]["gmacs"] > 0)
    if name == "searched":   # built from a spec file: no fixed architecture to count
        assert not set(TWIN_KEYS) & set(cfg)
        return
    with torch.device("meta"):
        model = convzoo.create_model(name)
    twins = cfg.get("twins", {})
    assert set(twins) <= set(getattr(model, "weight_layouts", ())), (twins, model.weight_layouts)
    assert not set(TWIN_KEYS) & set(model.default_cfg), "twin facts stay in the registry"
    n = _count(model)
    if "num_params" in cfg:
        assert n == cfg["num_params"], f"{name}: {n:,} parameters, its cfg says {cfg['num_params']:,}"
    for library in LIBRARIES:
        if library in twins:
            with torch.device("meta"):
                ref = build_twin(library, twins[library])
            assert _count(ref) == n, f"{name}: {n:,} parameters, {library} {twins[library]}: {_count(ref):,}"


def test_a_cfg_copy_leaves_the_registry_as_it_was():
    get_pretrained_cfg("mobilenet_v2")["twins"]["timm"] = "edited"
    assert get_pretrained_cfg("mobilenet_v2")["twins"]["timm"] == "mobilenetv2_100"


def test_twin_names_are_unique_and_hub_reads_them():
    for library in LIBRARIES:
        theirs = list(twin_names(library).values())
        assert len(theirs) == len(set(theirs)), library
    assert hub.TIMM_NAMES == {n: t for n, t in twin_names("timm").items() if n != t}
    assert hub.TIMM_NAMES["mobilenet_v2"] == "mobilenetv2_100"
    assert hub.FROM_TIMM == {t: n for n, t in hub.TIMM_NAMES.items()}
    assert hub.timm_name("efficientnet_b0") == "efficientnet_b0" and hub.timm_name("nope") == "nope"
    with pytest.raises(AttributeError):
        getattr(hub, "NO_SUCH_TABLE")


def test_a_model_is_not_its_own_representative():
    def _test_self():
        return torch.nn.Identity()

    with pytest.raises(ValueError, match="names itself as same_code"):
        convzoo.registry.register_model(cfg={"same_code": "_test_self"})(_test_self)
    assert not convzoo.registry.is_model("_test_self")


_NO_BUILD = """
import json, torch
built = []
init = torch.nn.Module.__init__
def counting(self, *a, **k):
    built.append(type(self).__name__)
    init(self, *a, **k)
torch.nn.Module.__init__ = counting
import convzoo
from convzoo.registry import get_pretrained_cfg, twin_names
names = convzoo.list_models(task=None)
cfgs = [get_pretrained_cfg(n) for n in names]
twin_names("timm")
print(json.dumps({"names": len(names), "built": built}))
"""


def test_the_registry_lists_names_and_cfgs_without_building_a_module():
    out = subprocess.run([sys.executable, "-c", _NO_BUILD], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["names"] == len(NAMES) and result["built"] == []
