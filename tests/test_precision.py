"""bf16 and int8 inference against the fp32 model (the oracle), int8 on a trained net, clean errors.

Tolerances (relative to the output scale, max |out - ref| / max |ref|):
* bf16 (weights and activations, 8-bit mantissa): <= 0.05 for every family.
* int8 on a trained net (the default task, digits): accuracy within 3 points of fp32 (360 test
  images: 1 image = 0.28 points) and top-1 agreement >= 95 %.
Speed is never tested here (bench/precision.py measures it).
"""
import json

import pytest
import torch

import convzoo
from convzoo.export import optimize, relative_error
from convzoo.export import precision as prec

pytest.importorskip("openvino")
pytest.importorskip("nncf")

HAS_BF16 = prec.cpu_precision_support()["bf16"] is not None
HAS_INT8 = prec.cpu_precision_support()["int8"] is not None

FAMILIES_2D = ["mobilenet_v2", "efficientnet_b0", "tf_efficientnet_b0", "convnext_tiny", "variant_conv"]
OTHER = [("waveform_m5", (2, 1, 800)), ("c3d_small", (2, 3, 8, 32, 32))]


def _model(name, **kw):
    torch.manual_seed(0)
    return convzoo.create_model(name, num_classes=10, **kw).eval()


@pytest.mark.skipif(not HAS_BF16, reason="CPU without native bf16")
@pytest.mark.parametrize("name,shape", [(n, (2, 3, 32, 32)) for n in FAMILIES_2D] + OTHER)
def test_bf16_close_to_fp32(name, shape):
    m = _model(name, in_chans=shape[1])
    x = torch.randn(shape)
    with torch.no_grad():
        ref = m(x)
        out = optimize(m, precision="bf16")(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert relative_error(out, ref) <= 0.05


@pytest.mark.skipif(not HAS_BF16, reason="CPU without native bf16")
@pytest.mark.parametrize("name", FAMILIES_2D)
def test_onednn_graph_bf16_close_to_fp32(name):
    """TorchScript + oneDNN Graph with bf16 weights: float32 out, within the bf16 bar of the fp32
    eager model, the fused partitions really ran, and squeeze-excite pooled with avg_pool2d (only the
    head's mean is left); ConvNeXt, which the fuser cannot run, is refused in one line. 64 x 64: at
    32 x 32 the last maps of these /32 nets are 1 x 1, which the fuser refuses in float32."""
    m = _model(name, in_chans=3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = m(x)
    try:
        fast = optimize(m, compile="onednn", precision="bf16", example_input=x)
    except RuntimeError as e:
        assert name == "convnext_tiny" and "\n" not in str(e), str(e)
        assert str(e).startswith("oneDNN Graph cannot run ConvNeXt")
        return
    out = fast(x)
    graph = str(torch.jit.last_executed_optimized_graph())
    assert "prim::oneDNNFusionGroup" in graph and graph.count("aten::mean") <= 1
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert relative_error(out, ref) <= 0.05
    assert name != "convnext_tiny"


@pytest.mark.skipif(not HAS_INT8, reason="CPU without int8 instructions")
def test_quantize_cli_on_trained_run(tmp_path, capsys):
    """The default task trained for a few seconds, quantized by the CLI, then eval and bench on it."""
    from convzoo.cli import main
    run, out = tmp_path / "run", tmp_path / "int8"
    assert main(["train", "--out", str(run), "--epochs", "4", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["quantize", str(run), "--out", str(out), "--runs", "2", "--calibration", "64", "--json"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert json.loads(capsys.readouterr().out) == rep      # stdout holds the report only (no progress bars)
    assert rep["int8"]["overflow_fix"] is False
    fp32, int8 = rep["results"]["fp32"], rep["results"]["int8"]
    assert fp32["accuracy"] > 0.5                          # trained, far above chance (0.1)
    assert int8["accuracy"] >= fp32["accuracy"] - 0.03 and int8["agreement"] >= 0.95, rep["results"]
    assert (out / "model.xml").is_file() and (out / "quantize.json").is_file()
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert abs(ev["accuracy"] - int8["accuracy"]) < 1e-6
    assert main(["bench", str(out), "--runs", "2", "--warmup", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "int8"


def test_float_only_cpu_is_refused(monkeypatch):
    monkeypatch.setattr(prec, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    m = _model("variant_conv")
    with pytest.raises(ValueError, match="no native bf16 support"):
        optimize(m, precision="bf16")
    with pytest.raises(ValueError, match="no native int8 support"):
        optimize(m, precision="int8", calibration_data=torch.randn(4, 3, 32, 32))


def test_quantize_clean_errors():
    from convzoo.export import quantize
    m = _model("variant_conv")
    with pytest.raises(ValueError, match="needs calibration_data"):
        quantize(m, None)
    with pytest.raises(ValueError, match="empty"):
        quantize(m, [])
    with pytest.raises(ValueError, match="2D image models"):
        quantize(_model("waveform_m5"), torch.randn(4, 1, 800))
    with pytest.raises(ValueError, match="precision must be one of"):
        optimize(m, precision="fp8")
    with pytest.raises(ValueError, match="precision must be one of"):
        optimize(m, precision="fp16")          # fp16 is CUDA-only (AMP)


def test_overflow_fix_is_an_nncf_option():
    m = _model("variant_conv")
    with pytest.raises(ValueError, match="overflow_fix applies to backend='openvino'"):
        convzoo.export.quantize(m, torch.randn(4, 1, 8, 8), backend="pt2e", overflow_fix=True)


def test_cli_errors(tmp_path, capsys):
    from convzoo.cli import main
    assert main(["quantize", "variant_conv", "--out", str(tmp_path)]) == 2
    assert "RUN folder" in capsys.readouterr().err
    assert main(["bench", "variant_conv", "--engine", "onnxruntime", "--precision", "bf16"]) == 2
    assert "runs fp32" in capsys.readouterr().err
    assert main(["export", "variant_conv"]) == 2
    assert "--openvino" in capsys.readouterr().err


_FRESH = """
import json, sys, time, torch
from torch._dynamo.utils import counters
from convzoo.export import load_quantized
t0 = time.perf_counter()
q = load_quantized(sys.argv[1])
x = torch.load(sys.argv[2], weights_only=True)
out = q(x)
torch.save(out, sys.argv[3])
print(json.dumps({"load_s": time.perf_counter() - t0, "compiled": {k: dict(v) for k, v in counters.items() if v}}))
"""


@pytest.fixture(scope="module")
def pt2e_saved(tmp_path_factory):
    """A small net with non-trivial BN statistics (a fresh one's logits are near ties), quantized by
    PT2E and saved: (folder, fp32 model, inputs, outputs of the in-process int8 model before saving)."""
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from _helpers import randomize_bn
    torch.manual_seed(0)
    m = randomize_bn(convzoo.create_model("variant_conv", num_classes=10, widths=(8, 16), depth=1))
    q = convzoo.export.quantize(m, torch.randn(64, 1, 16, 16), backend="pt2e")
    x = torch.randn(64, 1, 16, 16)
    before = q(x)
    out = tmp_path_factory.mktemp("pt2e") / "int8"
    assert q.saveable
    files = q.save(out)
    assert files["file"] == "model.pt2" and files["package"] == "aotinductor"
    return out, m, x, before


@pytest.mark.skipif(not HAS_INT8, reason="CPU without int8 instructions")
def test_pt2e_int8_saved_reloads_in_a_fresh_process_without_compiling(pt2e_saved, tmp_path):
    """The AOTInductor package computes in a new process exactly what the in-process int8 model did
    (it is the same compiled code), compiles nothing there (Dynamo/inductor counters stay empty), and
    agrees with the fp32 eager model (the oracle) on top-1."""
    import subprocess
    import sys
    out, m, x, before = pt2e_saved
    torch.save(x, tmp_path / "x.pt")
    res = subprocess.run([sys.executable, "-c", _FRESH, str(out), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["compiled"] == {}, info
    after = torch.load(tmp_path / "y.pt", weights_only=True)
    assert relative_error(after, before) <= 1e-6
    with torch.no_grad():
        ref = m(x)
    assert relative_error(after, ref) <= 0.05
    assert (after.argmax(1) == ref.argmax(1)).float().mean() >= 0.95
    rec = json.loads((out / "quantize.json").read_text())
    assert rec["backend"] == "pt2e" and rec["file"] == "model.pt2"


@pytest.mark.skipif(not HAS_INT8, reason="CPU without int8 instructions")
def test_pt2e_int8_damaged_or_missing_package_is_one_line(pt2e_saved, tmp_path):
    import shutil

    from convzoo.export import load_quantized
    folder = tmp_path / "int8"
    shutil.copytree(pt2e_saved[0], folder)
    data = (folder / "model.pt2").read_bytes()
    for damaged in (data[: len(data) // 2], b"not a package"):
        (folder / "model.pt2").write_bytes(damaged)
        with pytest.raises(ValueError, match=r"model\.pt2: not a readable aotinductor package") as e:
            load_quantized(folder)
        assert "\n" not in str(e.value)
    (folder / "model.pt2").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.pt2: the AOTInductor package is missing") as e:
        load_quantized(folder)
    assert "\n" not in str(e.value)


@pytest.mark.skipif(not HAS_INT8, reason="CPU without int8 instructions")
def test_pt2e_int8_package_reads_strided_and_channels_last_inputs_as_their_samples():
    """The compiled package indexes its input as a dense row-major tensor: a strided view (every other
    sample) or a channels_last batch must give each sample's own outputs, those of the int8 graph run
    eagerly (the oracle; on photos the unguarded package read x[1::2] as other samples, 182 % off)."""
    from convzoo.export.compiled import PACKAGE_RTOL
    torch.manual_seed(0)
    m = convzoo.create_model("variant_conv", num_classes=10, in_chans=3, widths=(8, 16), depth=1).eval()
    q = convzoo.export.quantize(m, torch.randn(32, 3, 16, 16), backend="pt2e")
    x = torch.randn(12, 3, 16, 16)
    with torch.no_grad():
        dense = q(x[1::2].contiguous())
        assert relative_error(dense, q.runner.model(x[1::2].contiguous())) <= PACKAGE_RTOL
        assert relative_error(q(x[1::2]), dense) <= 1e-6
        assert relative_error(q(x.to(memory_format=torch.channels_last))[1::2], dense) <= 1e-6


@pytest.mark.skipif(not HAS_INT8, reason="CPU without int8 instructions")
def test_an_int8_package_off_its_eager_graph_must_compute_what_torch_compile_computes(monkeypatch):
    """oneDNN's int8 kernels round requantization their own way (a fine-tuned Lite0: 8.9e-2 of the output
    scale from the eager q/dq ops, for torch.compile and the package alike): past PACKAGE_RTOL, an int8
    package is kept when it equals torch.compile of the graph, and refused in one line when it does not."""
    import convzoo.export.compiled as compiled
    from convzoo.export.quantize import pt2e_graph
    torch.manual_seed(0)
    m = convzoo.create_model("variant_conv", num_classes=10, in_chans=3, widths=(8, 16), depth=1).eval()
    x = torch.randn(8, 3, 16, 16)
    graph = pt2e_graph(m, [torch.randn(32, 3, 16, 16)])
    monkeypatch.setattr(compiled, "PACKAGE_RTOL", -1.0)          # every eager check fails: the fallback decides
    runner = compiled.package_program(graph, x[:1], "int8", check=x, batch=4)
    with torch.no_grad():
        assert relative_error(runner(x), compiled.compile_program(graph, "int8")(x)) <= compiled.SAME_AS_COMPILE

    class Off(torch.nn.Module):                                     # a "torch.compile" that computes otherwise
        def forward(self, t):
            return graph(t) * 1.5
    monkeypatch.setattr(compiled, "compile_program", lambda module, precision: Off())
    with pytest.raises(RuntimeError, match=r"from PyTorch's q/dq ops \(allowed -1\.0\) and .* from torch\.compile "
                                           r"of it \(allowed 0\.0001\)") as e:
        compiled.package_program(graph, x[:1], "int8", check=x, batch=4)
    assert "\n" not in str(e.value)
