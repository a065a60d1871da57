"""Memory-efficient training: per-stage activation checkpointing and the memory-efficient SiLU.

Oracles: the same model without the switch (gradients, BN running statistics, outputs) and
``torch.autograd.gradcheck`` / PyTorch's own ``F.silu`` for the custom autograd function.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convzoo
from convzoo.export import (MemoryEfficientSiLU, has_custom_autograd, memory_efficient_silu,
                            set_memory_efficient)


def train_step(model, x, seed=1):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)                 # same DropPath / dropout masks in both runs
    out = model(x)
    (out.square().mean() + out.logsumexp(1).mean()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    bufs = {n: b.clone() for n, b in model.named_buffers()}
    return out.detach(), grads, bufs


def first_conv(module):
    return next(m for m in module.modules() if isinstance(m, nn.modules.conv._ConvNd))


def saved_bytes(model, x) -> int:
    """Bytes autograd keeps for backward (outside checkpointed regions)."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return total[0]


@pytest.mark.parametrize("name", ["efficientnet_b0", "convnext_tiny", "waveform_m18", "r2plus1d_small"])
def test_grad_checkpointing_gives_identical_gradients(name):
    if name not in convzoo.list_models():
        pytest.skip(f"{name} not registered")
    kw = {"drop_path_rate": 0.2} if name.startswith(("efficientnet", "convnext")) else {}
    torch.manual_seed(0)
    ref_model = convzoo.create_model(name, **kw).train()
    ck_model = convzoo.create_model(name, **kw).train()
    ck_model.load_state_dict(ref_model.state_dict())
    ck_model.set_grad_checkpointing(True)
    size = {1: (1, 2000), 2: (3, 32, 32), 3: None}[ref_model.dims] or ref_model.default_cfg["input_size"]
    x = torch.randn(2, *size)

    calls = [0]
    first_conv(ck_model.stages[0]).register_forward_pre_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    out_r, g_r, b_r = train_step(ref_model, x)
    out_c, g_c, b_c = train_step(ck_model, x)
    assert calls[0] == 2            # forward once, recomputed once in backward: checkpointing is on
    assert torch.equal(out_r, out_c)
    assert g_r.keys() == g_c.keys() and len(g_r) == sum(1 for _ in ref_model.parameters())
    for k in g_r:
        torch.testing.assert_close(g_c[k], g_r[k], rtol=0, atol=0, msg=k)
    for k in b_r:                   # BN statistics updated once, not twice by the recomputation
        torch.testing.assert_close(b_c[k], b_r[k], rtol=0, atol=0, msg=k)


def test_grad_checkpointing_off_in_eval_and_saves_activations():
    if "efficientnet_b0" not in convzoo.list_models():
        pytest.skip("efficientnet_b0 not registered")
    model = convzoo.create_model("efficientnet_b0").train()
    x = torch.randn(2, 3, 64, 64)
    full = saved_bytes(model, x)
    model.set_grad_checkpointing(True, granularity="stage")
    per_stage = saved_bytes(model, x)
    model.set_grad_checkpointing(True)
    per_block = saved_bytes(model, x)
    assert per_stage < per_block < 0.4 * full   # only the stem and stage (block) inputs are kept
    with pytest.raises(ValueError, match="granularity"):
        model.set_grad_checkpointing(True, granularity="layer")
    model.eval()
    calls = [0]
    first_conv(model.stages[0]).register_forward_pre_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    model(x).sum().backward()
    assert calls[0] == 1            # eval: plain forward, no recomputation


def test_memory_efficient_silu_matches_silu_and_gradcheck():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(memory_efficient_silu, (x,))
    y = torch.randn(3, 8, 5, 5, requires_grad=True)
    y2 = y.detach().clone().requires_grad_(True)
    a, b = MemoryEfficientSiLU()(y), F.silu(y2)
    torch.testing.assert_close(a, b)
    g = torch.randn_like(a)
    a.backward(g)
    b.backward(g)
    torch.testing.assert_close(y.grad, y2.grad)


def test_memory_efficient_silu_saves_only_its_input():
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    by_hand = saved_bytes(lambda t: t * torch.sigmoid(t), x)      # x and sigmoid(x)
    ours = saved_bytes(MemoryEfficientSiLU(), x)
    assert ours == x.numel() * 4 and by_hand >= 2 * ours


def test_set_memory_efficient_swaps_and_restores():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU(inplace=True), nn.Sequential(nn.SiLU()), nn.ReLU())
    x = torch.randn(1, 3, 8, 8)
    ref = model(x)
    set_memory_efficient(model, True)
    assert has_custom_autograd(model) and isinstance(model[2][0], MemoryEfficientSiLU)
    torch.testing.assert_close(model(x), ref)
    set_memory_efficient(model, False)
    assert not has_custom_autograd(model)
    assert type(model[1]) is nn.SiLU and model[1].inplace and not model[2][0].inplace
    assert isinstance(model[3], nn.ReLU)
