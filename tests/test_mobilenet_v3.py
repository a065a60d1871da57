"""MobileNetV3-Large (Howard et al. 2019, arXiv:1905.02244, Table 1) against timm and torchvision.

The table is one new file on the shared MB machinery (per-row activation and SE style, the block
registry's key maps); these tests hold it to the references: the same parameters, the same outputs
once loaded with a random reference state dict (BN statistics included, layout detected), the same
multiply-adds as a hook count on the reference and within 5 % of the paper's Table 3.
"""
from __future__ import annotations

import dataclasses
import functools

import pytest
import timm
import torch
from timm.layers import make_divisible as timm_make_divisible
from torchvision.models._utils import _make_divisible as tv_make_divisible

import convzoo
from convzoo.analysis import profile
from convzoo.blocks.se_width import se_channels
from convzoo.models._block_types import block_type
from convzoo.models.mobilenet_v3 import MOBILENET_V3_LARGE, MobileNetV3
from convzoo.models.searched import stage_to_dict
from convzoo.registry import get_pretrained_cfg
from test_image_models_reference import hook_macs, randomize_
from _twins import build_twin, twin

# timm's mobilenetv3_large_100 = torchvision's mobilenet_v3_large, and the paper's Table 3 (Large 1.0
# at 224 px): the registered cfgs' twin facts
PARAMS = get_pretrained_cfg("mobilenetv3_large_100")["num_params"]
PAPER = get_pretrained_cfg("mobilenetv3_large_100")["paper"]
PAPER_MACS, PAPER_PARAMS = PAPER["gmacs"] * 1e9, PAPER["mparams"] * 1e6
CASES = [(name, lib, functools.partial(build_twin, lib, twin(name, lib)))
         for name, lib in (("mobilenetv3_large_100", "timm"), ("mobilenet_v3_large", "torchvision"))]


def _real(fn):
    with torch.device("meta"):
        return fn().to_empty(device="cpu").eval()


def _errors(ours, ref, x) -> tuple[float, float, float]:
    """Relative max errors of the logits, of the input-dependent part of the logits (sample 0 minus
    sample 1: a deep random net's logits are mostly bias, this part is what the input decides) and of
    the last feature map (the 960 conv)."""
    with torch.no_grad():
        e, g = ref(x), ours(x)
        ref_features = getattr(ref, "forward_features", None) or ref.features   # torchvision: features
        fe, fg = ref_features(x), ours.forward_features(x)
    assert e.std() > 1e-2, "degenerate reference output: the comparison would be vacuous"
    de, dg = e[0] - e[1], g[0] - g[1]
    return tuple(((a - b).abs().max() / b.abs().max()).item() for a, b in ((g, e), (dg, de), (fg, fe)))


@pytest.mark.parametrize("name,lib,ref_fn", CASES, ids=[c[1] for c in CASES])
def test_outputs_equal_reference_after_loading_its_weights(name, lib, ref_fn):
    ref = randomize_(_real(ref_fn)).eval()
    ours = _real(lambda: convzoo.create_model(name))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == PARAMS
    result = convzoo.load_weights(ours, ref.state_dict())        # layout detected through the hook
    assert result.layout == lib and not (result.head_reset or result.first_conv_adapted)
    for size in (224, 97):
        logits, varying, features = _errors(ours, ref, torch.randn(2, 3, size, size))
        assert logits <= 1e-5 and features <= 1e-5, (name, lib, size, logits, features)
        assert varying <= 1e-2, (name, lib, size, varying)      # float noise over a small part


def test_a_wrong_activation_column_is_caught_by_the_output_check():
    """The oracle can fail: hard-swish in the ReLU rows changes no parameter, only outputs."""
    ref = randomize_(_real(CASES[0][2])).eval()
    table = tuple(dataclasses.replace(r, act=torch.nn.Hardswish) for r in MOBILENET_V3_LARGE)
    ours = _real(lambda: MobileNetV3(table))
    convzoo.load_weights(ours, ref.state_dict())
    logits, varying, features = _errors(ours, ref, torch.randn(2, 3, 65, 65))
    assert logits > 1e-4 and varying > 0.1 and features > 1e-3, (logits, varying, features)


def test_macs_equal_a_hook_count_on_timm_and_the_paper():
    with torch.device("meta"):
        ours = convzoo.create_model("mobilenetv3_large_100").eval()
        ref = timm.create_model("mobilenetv3_large_100").eval()
    macs = profile(ours, (3, 224, 224)).macs
    assert macs == hook_macs(ref, torch.empty(1, 3, 224, 224, device="meta")) == 216_589_760
    assert abs(macs / PAPER_MACS - 1) <= 0.05                   # -1.1 %
    assert abs(PARAMS / PAPER_PARAMS - 1) <= 0.05               # the paper rounds to 5.4M


def test_se_width_rules_equal_the_references():
    """"expanded" is MobileNetV3's squeeze (torchvision's _make_divisible(exp // 4, 8), timm's
    round_channels(exp * 0.25)); "in" is EfficientNet's max(1, int(in * ratio))."""
    for exp in range(8, 1200, 4):
        ours = se_channels("expanded", 0, exp, 0.25)
        assert ours == tv_make_divisible(exp // 4, 8) == timm_make_divisible(exp * 0.25, 8), exp
    assert [se_channels("in", c, 6 * c, 0.25) for c in (16, 24, 3, 1)] == [4, 6, 1, 1]
    with pytest.raises(ValueError, match="SE width rule must be one of"):
        se_channels("hidden", 16, 64, 0.25)
    # "nearest8" is timm's MobileOne SEModule: make_divisible(C / 16, 8, round_limit=0)
    for c in range(8, 2100, 8):
        assert se_channels("nearest8", c, c, 1 / 16) == timm_make_divisible(c / 16, 8, round_limit=0.0), c


def test_every_block_builds_its_se_with_se_layer():
    # one factory: MBConv, FusedMBConv and MobileOneBlock give the SE that se_layer gives for their style
    from convzoo.blocks import FusedMBConv, MBConv, MobileOneBlock
    from convzoo.blocks.se_width import SE_MOBILENET_V3, SE_MOBILEONE, se_layer
    for cls in (MBConv, FusedMBConv):
        b = cls(24, 40, expand_ratio=4, se_ratio=0.25, se_width="expanded", se_act_layer=torch.nn.ReLU,
                se_gate_layer=torch.nn.Hardsigmoid)
        ref = se_layer(96, 24, 0.25, SE_MOBILENET_V3, act_layer=torch.nn.SiLU)
        assert repr(b.se) == repr(ref) and b.se.reduce.out_channels == 24
        assert isinstance(cls(24, 40, se_ratio=0.0).se, torch.nn.Identity)
    mo = MobileOneBlock(256, 256, se=True)
    assert repr(mo.attn) == repr(se_layer(256, 256, 1 / 16, SE_MOBILEONE)) and mo.attn.reduce.out_channels == 16


def test_the_table_and_the_registry():
    assert len(MOBILENET_V3_LARGE) == 15                        # the bneck lines of Table 1
    assert [block_type(r.block).name for r in MOBILENET_V3_LARGE] == ["mbconv"] * 15
    model = convzoo.create_model("mobilenetv3_large_100", num_classes=10)
    hidden = [b.dw.conv.out_channels for s in model.stages for b in s]
    assert hidden == [16, 64, 72, 72, 120, 120, 240, 200, 184, 184, 480, 672, 672, 960, 960]
    assert model.head.hidden.out_features == 1280 and model.get_classifier().out_features == 10
    with pytest.raises(ValueError, match=r"this row also sets \['act'\]"):
        stage_to_dict(MOBILENET_V3_LARGE[0])                    # a spec file cannot hold classes
    with pytest.raises(ValueError, match="block must be one of"):
        block_type("ir")
