"""convzoo.export: BN folding, optimize, static padding and ONNX Runtime parity.

Oracles: the eager model itself *before* any transformation (BN as PyTorch's own nn.BatchNormNd with
random running statistics) and ONNX Runtime executing the exported graph.
"""
from __future__ import annotations

import os

import onnx
import pytest
import torch
from torch import nn

import convzoo
from convzoo.export import (MemoryEfficientSiLU, example_input_for, fold_batchnorm, fold_bn_into,
                            optimize, to_onnx, verify_onnx)
from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv, reparameterize_model
from convzoo.layers import Conv2Plus1d, ConvNormAct, DepthwiseSeparableConv, SqueezeExcite
from convzoo.models.base import ClassifierHead, ConvNet

TOL = 1e-4   # max abs difference relative to the output scale
# The slow tier (every param-heavy model exported, inductor compiling) takes ~2 min with two workers
# on an idle 2-core machine and is part of `make test`; CONVZOO_TEST_HEAVY=0 skips it on a loaded one.
RUN_HEAVY = os.environ.get("CONVZOO_TEST_HEAVY", "1") != "0"


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters (a fresh BN folds to ~identity)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.3)
    return model.eval()


def n_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


# --------------------------------------------------------------------------- single conv + BN pairs

CONV_CASES = [
    # (dims, transposed, in, out, groups, bias, stride)
    (1, False, 4, 6, 1, True, 2), (2, False, 4, 6, 1, False, 1), (3, False, 4, 6, 1, False, 2),
    (2, False, 6, 6, 6, False, 1),      # depthwise
    (2, False, 6, 12, 6, False, 2),     # depthwise, depth multiplier 2
    (2, False, 6, 9, 3, True, 1),       # grouped
    (1, True, 4, 6, 1, False, 2), (2, True, 4, 6, 1, True, 2), (3, True, 4, 6, 1, False, 2),
    (2, True, 6, 9, 3, False, 2),       # grouped transposed: weight (in, out/g, k, k)
    (3, True, 6, 6, 6, True, 1),        # depthwise transposed 3D
]


@pytest.mark.parametrize("dims,transposed,cin,cout,groups,bias,stride", CONV_CASES)
def test_fold_bn_into_conv_matches_conv_then_bn(dims, transposed, cin, cout, groups, bias, stride):
    cls = {(1, False): nn.Conv1d, (2, False): nn.Conv2d, (3, False): nn.Conv3d,
           (1, True): nn.ConvTranspose1d, (2, True): nn.ConvTranspose2d, (3, True): nn.ConvTranspose3d}
    conv = cls[dims, transposed](cin, cout, 3, stride, 1, groups=groups, bias=bias)
    bn = randomize_bn([nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d][dims - 1](cout))
    x = torch.randn(2, cin, *([7] * dims))
    with torch.no_grad():
        ref = bn(conv(x))
        folded = fold_bn_into(conv, bn)
        out = folded(x)
    assert folded.bias is not None
    assert rel_err(out, ref) < 1e-5


def test_fold_matches_torch_fuse_conv_bn_eval():
    """Cross-check against PyTorch's own fusion utility for a plain conv."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    conv, bn = nn.Conv2d(3, 8, 3, bias=False), randomize_bn(nn.BatchNorm2d(8))
    ref = fuse_conv_bn_eval(conv.eval(), bn)
    ours = fold_bn_into(conv, bn)
    assert torch.allclose(ours.weight, ref.weight, atol=1e-6) and torch.allclose(ours.bias, ref.bias, atol=1e-6)


def test_fold_linear_and_bad_inputs():
    lin, bn = nn.Linear(5, 4), randomize_bn(nn.BatchNorm1d(4))
    x = torch.randn(3, 5)
    with torch.no_grad():
        ref = bn(lin(x))
        assert rel_err(fold_bn_into(lin, bn)(x), ref) < 1e-5
    with pytest.raises(ValueError, match="running statistics"):
        fold_bn_into(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(ValueError, match="4 output channels"):
        fold_bn_into(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(5))
    with pytest.raises(TypeError, match="conv"):
        fold_bn_into(nn.ReLU(), nn.BatchNorm2d(4))


# --------------------------------------------------------------------------- a small ConvNet of our own

class ToyNet(ConvNet):
    """Every foldable pattern the layers offer, on a ConvNet: TF-same stem, MBConv with SE, FusedMBConv,
    depthwise-separable, a transposed conv + BN, ConvNeXt block, BN1d head norm after pooling."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.stem = ConvNormAct(3, 16, 3, 2, padding="tf_same", act_layer=nn.SiLU)
        self.stages = nn.Sequential(
            nn.Sequential(MBConv(16, 16, expand_ratio=4, se_ratio=0.25, kernel_size=5),
                          FusedMBConv(16, 24, expand_ratio=2, stride=2)),
            nn.Sequential(DepthwiseSeparableConv(24, 32, 3, 2, padding="tf_same"),
                          nn.ConvTranspose2d(32, 24, 2, 2, groups=4, bias=False), nn.BatchNorm2d(24)),
            nn.Sequential(ConvNeXtBlock(24, layer_scale_init=0.5)),
        )
        self.neck = ConvNormAct(24, 40, 1, act_layer=nn.SiLU)
        self.head = ClassifierHead(40, num_classes, norm=nn.BatchNorm1d(40))
        self.num_classes = num_classes
        self.default_cfg = {"input_size": (3, 33, 31), "num_classes": num_classes}


def test_fold_batchnorm_toynet_removes_bn_and_keeps_outputs():
    model = randomize_bn(ToyNet())
    x = torch.randn(2, 3, 33, 31)
    with torch.no_grad():
        ref = model(x)
    folded = fold_batchnorm(model)
    assert n_bn(model) == 11                      # original untouched
    # the head's BN1d follows a mean-pool, not a conv: it stays (and is reported)
    assert folded.unfolded_bn == ["head.norm"]
    assert not folded.training
    with torch.no_grad():
        assert rel_err(folded(x), ref) < TOL


def test_fold_without_example_input_uses_sequential_neighbours():
    """A plain nn.Sequential has no default_cfg: pairs come from neighbouring children."""
    model = randomize_bn(nn.Sequential(ConvNormAct(3, 8), ConvNormAct(8, 8, groups=8, padding="tf_same"),
                                       nn.ConvTranspose2d(8, 4, 2, 2), nn.BatchNorm2d(4)))
    x = torch.randn(1, 3, 9, 9)
    with torch.no_grad():
        ref = model(x)
        folded = fold_batchnorm(model)
        assert n_bn(folded) == 0 and rel_err(folded(x), ref) < TOL


def test_fold_conv2plus1d_3d():
    model = randomize_bn(nn.Sequential(Conv2Plus1d(3, 8, mid_channels=5), nn.BatchNorm3d(8), nn.ReLU()))
    x = torch.randn(2, 3, 4, 8, 8)
    with torch.no_grad():
        ref = model(x)
        folded = fold_batchnorm(model, x)
        assert n_bn(folded) == 0 and rel_err(folded(x), ref) < TOL


def test_fold_refuses_conv_output_read_twice():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.other = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + self.other(y)   # y feeds BN *and* ReLU: folding would change ReLU's input

    model = randomize_bn(Branchy())
    x = torch.randn(1, 3, 8, 8)
    folded = fold_batchnorm(model, x)
    assert isinstance(folded.bn, nn.BatchNorm2d)
    with torch.no_grad():
        assert rel_err(folded(x), model(x)) < 1e-6


def test_fold_detects_conv_output_reused_by_a_functional_op():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y      # no module reads y a second time: only the output check sees it

    with pytest.raises(RuntimeError, match="also used elsewhere"):
        fold_batchnorm(randomize_bn(Residual()), torch.randn(1, 3, 8, 8))


def test_optimize_channels_last_and_memory_efficient_off():
    model = randomize_bn(ToyNet())
    model.set_memory_efficient(True)
    x = torch.randn(2, 3, 33, 31)
    with torch.no_grad():
        ref = model(x)
        fast = optimize(model, channels_last=True)
        out = fast(x)
    assert not any(isinstance(m, MemoryEfficientSiLU) for m in fast.modules())
    assert any(isinstance(m, MemoryEfficientSiLU) for m in model.modules())   # caller's model unchanged
    assert fast.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)   # TF SAME conv: plain keys
    assert rel_err(out, ref) < TOL


def test_optimize_compile_traces_as_one_graph():
    """fullgraph=True fails on any graph break; the "eager" backend checks tracing without inductor."""
    model = randomize_bn(ToyNet())
    x = torch.randn(2, 3, 33, 31)
    with torch.no_grad():
        ref = model(x)
        out = optimize(model, compile=True, compile_backend="eager")(x)
    assert rel_err(out, ref) < TOL


@pytest.mark.slow
@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="oneDNN weight packing is CPU/oneDNN only")
def test_optimize_compile_freezes_weights_for_onednn():
    """inductor's freezing must really be on: torch 2.14 ignores ``options={"freezing": True}``, which
    left every conv as a plain aten.convolution (no oneDNN pre-packing, 1.5x slower)."""
    import torch._inductor.config as inductor_config
    from torch._dynamo.utils import counters
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 4, 1)).eval()
    x = torch.randn(1, 3, 12, 12)
    counters.clear()
    before = inductor_config.freezing
    fast = optimize(model, compile=True, compile_options={})    # no cpp_wrapper: compiles faster
    out = fast(x)
    assert counters["inductor"]["mkldnn_conv_weight_pack_matcher_count"] == 2
    assert inductor_config.freezing == before                   # the global switch is restored
    with torch.no_grad():
        ref = model(x)
    assert not out.requires_grad and rel_err(out, ref) < TOL
    assert set(fast.state_dict()) == {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}


@pytest.mark.slow
@pytest.mark.skipif(not RUN_HEAVY, reason="slow tier skipped: CONVZOO_TEST_HEAVY=0")
def test_optimize_compile_inductor_matches_eager():
    model = randomize_bn(nn.Sequential(ConvNormAct(3, 8, act_layer=nn.SiLU), MBConv(8, 8, expand_ratio=2,
                                                                                  se_ratio=0.25)))
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        ref = model(x)
        out = optimize(model, compile=True)(x)
    assert rel_err(out, ref) < TOL


def test_optimize_onednn_graph_fuses_and_matches_eager():
    """compile="onednn": outputs equal eager, and the executed graph really holds oneDNN fusion groups
    (a plain TorchScript run would pass the equality check too)."""
    model = randomize_bn(nn.Sequential(ConvNormAct(3, 16, act_layer=nn.ReLU6),
                                       MBConv(16, 16, expand_ratio=4, act_layer=nn.ReLU6),
                                       MBConv(16, 24, expand_ratio=4, se_ratio=0.25, stride=2)))
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        ref = model(x)
    fast = optimize(model, compile="onednn", example_input=x)
    out = fast(x)
    graph = torch.jit.last_executed_optimized_graph()
    assert "prim::oneDNNFusionGroup" in str(graph)    # nested in the fuser's shape-guard blocks
    assert rel_err(out, ref) < TOL and not out.requires_grad
    assert not torch._C._jit_llga_enabled()          # the fuser switch is restored after each call
    assert set(fast.state_dict()) == {f"model.{k}" for k in fast.model.state_dict()}


def test_optimize_rejects_bad_compile_choices():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    with pytest.raises(ValueError, match="pass example_input"):
        optimize(model, compile="onednn")
    with pytest.raises(ValueError, match='compile must be False, True/"inductor" or "onednn"'):
        optimize(model, compile="tensorrt")


# --------------------------------------------------------------------------- ONNX on the toy net

def _ort_optimized_ops(path, tmp_path) -> dict:
    """Op counts of the graph ONNX Runtime actually runs (ORT_ENABLE_ALL, CPU)."""
    import collections

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)


def test_blocked_layout_export_removes_ort_layout_conversions(tmp_path):
    """The ort_rewrites graph: same outputs, and ORT's NCHWc pass no longer converts layouts around
    squeeze-excite and pooling (the plain graph of the same model is the oracle for "before")."""
    model = randomize_bn(nn.Sequential(ConvNormAct(3, 32, act_layer=nn.SiLU),
                                       MBConv(32, 32, expand_ratio=4, se_ratio=0.25),
                                       MBConv(32, 48, expand_ratio=4, se_ratio=0.25, stride=2)))
    model.default_cfg = {"input_size": (3, 24, 24)}
    x = torch.randn(2, 3, 24, 24)
    kw = dict(dynamic_batch=False, batch=2)
    blocked = to_onnx(model, tmp_path / "blocked.onnx", **kw)
    plain = to_onnx(model, tmp_path / "plain.onnx", blocked_layout=False, **kw)
    assert verify_onnx(model, blocked, x) <= TOL
    ops = {n.op_type for n in onnx.load(blocked).graph.node}
    assert {"GlobalAveragePool", "Resize"} <= ops and "ReduceMean" not in ops
    before, after = _ort_optimized_ops(plain, tmp_path), _ort_optimized_ops(blocked, tmp_path)
    if before["ReorderInput"] == 0:
        pytest.skip("this CPU has no NCHWc kernels (no AVX2/AVX-512): ORT does not block the layout")
    assert after["ReorderInput"] == 0 and after["ReorderOutput"] < before["ReorderOutput"]




def test_to_onnx_toynet_static_padding_and_parity(tmp_path):
    model = randomize_bn(ToyNet())
    model.set_memory_efficient(True)     # export must turn it off by itself
    path = to_onnx(model, tmp_path / "toy.onnx", verify=True)
    graph = onnx.load(path).graph
    producer = {o: n for n in graph.node for o in n.output}

    def from_input(name: str) -> bool:   # does this value depend on the graph's input (e.g. via Shape)?
        if name == "input":
            return True
        n = producer.get(name)
        return n is not None and any(from_input(i) for i in n.input if i)

    pads = [n for n in graph.node if n.op_type == "Pad"]
    assert len(pads) == 2 and not any(from_input(n.input[1]) for n in pads)   # TF-same pads: constants
    assert "Shape" not in {n.op_type for n in graph.node}
    ops = {n.op_type for n in graph.node}
    assert "BatchNormalization" in ops     # only the head's BN1d (after pooling) is left
    assert sum(n.op_type == "BatchNormalization" for n in graph.node) == 1
    # dynamic batch: batch 3 runs and matches
    verify_onnx(model, path, torch.randn(3, 3, 33, 31))
    assert not list(tmp_path.glob("*.tmp"))


def test_to_onnx_fixed_batch_and_bad_input_size(tmp_path):
    model = randomize_bn(ToyNet())
    path = to_onnx(model, tmp_path / "toy.onnx", dynamic_batch=False, input_size=(40, 40), batch=2)
    shape = [d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
    assert shape == [2, 3, 40, 40]
    with pytest.raises(ValueError, match="input_size"):
        example_input_for(model, (3, 4, 5, 6))


def test_verify_onnx_catches_a_wrong_model(tmp_path):
    model = randomize_bn(ToyNet())
    path = to_onnx(model, tmp_path / "toy.onnx")
    other = randomize_bn(ToyNet(), seed=1)
    with pytest.raises(RuntimeError, match="differs from eager"):
        verify_onnx(other, path, torch.randn(1, 3, 33, 31))


# --------------------------------------------------------------------------- every registered model

# Param-heavy models (tens to hundreds of millions of weights): building, folding and exporting them
# takes seconds each on an idle 2-core machine (convnext_xlarge: 23 s) but minutes under load
# (~400 s). They run in the slow tier, which CONVZOO_TEST_HEAVY=0 skips.
HEAVY = {"c3d", "r3d_18", "r2plus1d_18", "convnext_small", "convnext_base", "convnext_large",
         "convnext_xlarge", "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
         "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l", "convnextv2_base",
         "convnextv2_large", "convnextv2_huge", "mobilenetv4_conv_large"}
HEAVY |= {f"tf_{n}" for n in HEAVY} | {"repvgg_b1", "repvgg_b1g4", "repvgg_b2", "repvgg_b2g4", "repvgg_b3",
                                      "repvgg_b3g4"}
# One ONNX export per structural kind in the fast tier; the other models' exports are in the slow
# tier. A family this list does not know yet is exported in the fast tier.
ONNX_FAST = {"efficientnet_b0", "tf_efficientnet_b0", "mobilenet_v1", "mobilenet_v2", "convnext_tiny",
             "waveform_m3", "waveform_m11_dws", "waveform_m34_res", "c3d_small", "r2plus1d_small",
             "frame2d_small", "stack2d_small", "variant_conv", "variant_convnext", "variant_dwsep",
             "variant_fused", "variant_mbconv", "variant_spatial", "variant_uib", "variant_convnextv2",
             "mobilenetv4_conv_small", "convnextv2_atto", "repvgg_a0", "mobileone_s0", "mobileone_s4"}
KNOWN_FAMILIES = ("efficientnet", "tf_efficientnet", "mobilenet", "convnext", "waveform", "variant",
                  "c3d", "r3d", "r2plus1d", "repvgg", "mobileone")
# Folded above, not exported: one ONNX protobuf holds at most 2 GB of weights.
ONNX_TOO_BIG = {"convnextv2_huge": "660M float32 weights (2.6 GB) exceed the 2 GB ONNX protobuf limit"}
SPATIAL_CAP = {1: (2000,), 2: (32, 32), 3: (8, 32, 32)}


def small_input_size(model) -> tuple:
    """``default_cfg["input_size"]`` shrunk to at most SPATIAL_CAP, never below ``min_input_size``;
    the full size when the model refuses the small one (e.g. C3D's fc6 fixes 16 x 112 x 112)."""
    cfg = model.default_cfg
    size = tuple(cfg["input_size"])
    low = tuple(cfg.get("min_input_size") or (1,) * len(size))
    small = size[:1] + tuple(max(lo, min(s, c)) for s, lo, c in
                             zip(size[1:], low[1:], SPATIAL_CAP[model.dims]))
    try:
        model.check_input(torch.empty(1, *small, device="meta"))
    except ValueError:
        return size
    return small


def build(name: str):
    try:
        model = convzoo.create_model(name)
    except ValueError as e:   # e.g. "searched" needs a spec file: nothing to build by default
        pytest.skip(f"{name} cannot be built with defaults: {e}")
    return randomize_bn(model)


def check_fold(name: str):
    # re-parameterizable nets (RepVGG, MobileOne) fuse their branches first, as export does: an
    # identity-branch BN follows no conv, it folds only into the fused conv (tests/test_reparam.py)
    model = reparameterize_model(build(name), inplace=True)
    x = torch.randn(2, *small_input_size(model))
    with torch.no_grad():
        ref = model(x)
        folded = fold_batchnorm(model)
        out = folded(x)
    assert folded.unfolded_bn == [], f"{name}: BatchNorm left unfolded: {folded.unfolded_bn}"
    assert rel_err(out, ref) <= TOL, name
    return model


def check_onnx(name: str, tmp_path, model=None):
    model = model if model is not None else build(name)
    size = small_input_size(model)
    path = to_onnx(model, tmp_path / f"{name}.onnx", input_size=size)
    # two samples through the dynamic batch axis; verify_onnx raises if above TOL
    assert verify_onnx(model, path, torch.randn(2, *size), rtol=TOL) <= TOL
    os.remove(path)      # param-heavy exports are up to 1.4 GB: pytest keeps tmp folders of 3 runs
    if any(isinstance(m, SqueezeExcite) and m.dims == 2 for m in model.modules()):
        # a static batch also broadcasts squeeze-excite with a Resize (ort_rewrites)
        path = to_onnx(model, tmp_path / f"{name}_b2.onnx", input_size=size, dynamic_batch=False, batch=2)
        assert verify_onnx(model, path, torch.randn(2, *size), rtol=TOL) <= TOL
        os.remove(path)


def _tier(names, heavy):
    return [n for n in names if (n in HEAVY) == heavy]


@pytest.mark.parametrize("name", _tier(convzoo.list_models(), heavy=False))
def test_registry_fold_and_onnx_match_eager(name, tmp_path):
    model = check_fold(name)
    if name in ONNX_FAST or not name.startswith(KNOWN_FAMILIES):
        check_onnx(name, tmp_path, model)


@pytest.mark.parametrize("name", _tier(convzoo.list_models(), heavy=False))
def test_registry_optimize_eager_matches(name):
    """optimize() (fold + channels_last per tensor rank) on every model: a video model may hold 2D
    convs (frame-wise nets), which a model-wide channels_last_3d conversion used to reject."""
    model = build(name)
    x = torch.randn(2, *small_input_size(model))
    with torch.no_grad():
        assert rel_err(optimize(model, example_input=x[:1])(x), model(x)) <= TOL, name


@pytest.mark.parametrize("name,size", [("mobilenet_v2", (3, 64, 64)), ("tf_efficientnet_b0", (3, 64, 64)),
                                       ("r2plus1d_small", None), ("frame2d_small", None),
                                       ("waveform_m5", None), ("convnext_tiny", (3, 64, 64)),
                                       ("mobilenet_v2", (3, 32, 32))])
def test_optimize_onednn_on_models_or_one_line_refusal(name, size):
    """The oneDNN Graph path either matches eager or refuses with one line naming the model (the
    fuser in torch 2.14 fails on ConvNeXt and on nets whose last maps are 1 x 1, e.g. 32 x 32
    inputs to a /32 network)."""
    if name not in convzoo.list_models():
        pytest.skip(f"{name} not registered")
    model = build(name)
    x = torch.randn(2, *(size or small_input_size(model)))
    try:
        fast = optimize(model, compile="onednn", example_input=x)
    except RuntimeError as e:
        assert str(e).startswith(f"oneDNN Graph cannot run {type(model).__name__} (")
        assert "\n" not in str(e) and "use compile=True" in str(e)
        return
    with torch.no_grad():
        assert rel_err(fast(x), model(x)) <= TOL


@pytest.mark.slow
@pytest.mark.skipif(not RUN_HEAVY, reason="slow tier skipped: CONVZOO_TEST_HEAVY=0")
@pytest.mark.parametrize("name", [n for n in convzoo.list_models()
                                  if n not in ONNX_FAST and n.startswith(KNOWN_FAMILIES)])
def test_registry_heavy_fold_and_onnx_match_eager(name, tmp_path):
    model = check_fold(name) if name in HEAVY else build(name)
    if name in ONNX_TOO_BIG:
        pytest.skip(ONNX_TOO_BIG[name])
    check_onnx(name, tmp_path, model)
