"""convzoo.export: BN folding, optimize, static padding and ONNX Runtime parity.

Oracles: the eager model itself *before* any transformation (BN as PyTorch's own nn.BatchNormNd with
random running statistics) and ONNX Runtime executing the exported graph.
"""
from __future__ import annotations


import onnx
import pytest
import torch
from torch import nn

from convzoo.export import (MemoryEfficientSiLU, example_input_for, fold_batchnorm, fold_bn_into,
                            optimize, to_onnx, verify_onnx)
from convzoo.blocks import ConvNeXtBlock, FusedMBConv, MBConv
from convzoo.layers import Conv2Plus1d, ConvNormAct, DepthwiseSeparableConv
from convzoo.models.base import ClassifierHead, ConvNet

from _export_checks import RUN_HEAVY, TOL, n_bn
from _helpers import randomize_bn, rel_err


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
