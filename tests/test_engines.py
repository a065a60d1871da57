"""The engine registry: every engine × precision it declares builds a runner that equals the eager
float32 model (the oracle) to its precision's tolerance (that `bench --engine all` runs exactly what
the registry lists is asserted in tests/test_bench_cli.py); the export library refuses bad
arguments in its own words; convzoo.runs.load_source labels files with their real precision."""
import os

import pytest
import torch
from torch import nn

from convzoo.export import REGISTRY, Runner, candidates, list_engines, relative_error, to_onnx, verify_onnx
from convzoo.export import precision as prec
from convzoo.export.engines import get_engine

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

HAS = prec.cpu_precision_support()
TOL = {"fp32": 1e-4, "bf16": 0.05}


def _net():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 5))
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    return m.eval()


def test_registry_declares_each_engine_once_with_devices_and_precisions():
    assert list_engines() == ["eager", "compile", "onednn", "onnxruntime", "openvino", "executorch", "litert"]
    for name, eng in REGISTRY.items():
        assert eng.name == name and "cpu" in eng.devices and "fp32" in eng.precisions["cpu"]
        assert eng.missing() is None             # every optional dependency is installed in the suite
    assert ("openvino", "int8") in candidates("cpu") and ("onnxruntime", "bf16") not in candidates("cpu")
    assert list_engines("cuda") == ["eager", "compile"]
    with pytest.raises(ValueError, match="engine must be one of"):
        get_engine("tensorrt")


@pytest.mark.parametrize("name,precision", [c for c in candidates("cpu", ("fp32", "bf16")) if c[0] != "compile"])
def test_every_engine_builds_a_runner_equal_to_eager(name, precision):
    if precision == "bf16" and HAS["bf16"] is None:
        pytest.skip("CPU without native bf16")
    m, x = _net(), torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = m(x)
    r = get_engine(name).build(m, x, precision)
    assert isinstance(r, Runner) and r.engine == name and r.precision == precision
    with torch.inference_mode():
        out = r(x)
    assert out.dtype == torch.float32 and relative_error(out, ref) <= TOL[precision]
    assert r.bind(x)() is not None


def test_to_onnx_and_verify_onnx_refuse_bad_arguments(tmp_path):
    m = _net()
    with pytest.raises(ValueError, match="is an existing directory"):
        to_onnx(m, tmp_path, input_size=(3, 16, 16))
    with pytest.raises(FileNotFoundError, match="no ONNX file at"):
        verify_onnx(m, tmp_path / "missing.onnx", torch.randn(1, 3, 16, 16))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ValueError, match="not an ONNX graph ONNX Runtime can load"):
        verify_onnx(m, garbage, torch.randn(1, 3, 16, 16))
    path = to_onnx(m, tmp_path / "m.onnx", input_size=(3, 16, 16))
    with pytest.raises(ValueError, match="at least one sample"):
        verify_onnx(m, path, torch.randn(0, 3, 16, 16))
    with pytest.raises(ValueError, match=r"takes inputs of shape \(N, 3, 16, 16\), got \(1, 3, 20, 20\)"):
        verify_onnx(m, path, torch.randn(1, 3, 20, 20))


def test_failed_check_leaves_no_file_under_the_name_and_names_the_flag(tmp_path):
    class Drifts(nn.Module):           # the exported graph differs from eager: verification must fail
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x.flatten(1)) + (0.0 if torch.jit.is_tracing() else 10.0)
    m = Drifts().eval()
    m.default_cfg = {"input_size": (1, 2, 2)}
    m.dims = 2
    with pytest.raises(RuntimeError, match=r"no-verify"):
        to_onnx(m, tmp_path / "d.onnx", verify=True, fold_bn=False)
    assert not (tmp_path / "d.onnx").exists() and (tmp_path / "d.onnx.failed-check").exists()


def test_verify_onnx_bound_follows_fp32_error_and_checks_given_images(tmp_path):
    from convzoo.export.onnx import fp32_error_bound
    m = _net()
    x = torch.randn(4, 3, 16, 16)
    assert fp32_error_bound(m, x) == 1e-4                  # an untrained net: the floor
    with torch.no_grad():                                  # weights scaled: fp32's own error grows
        for p in m.parameters():
            p.mul_(1e3)
    assert fp32_error_bound(m, x, floor=0) > 0
    path = to_onnx(m, tmp_path / "m.onnx", input_size=(3, 16, 16))
    assert verify_onnx(m, path, inputs=x, rtol=None) <= fp32_error_bound(m, x)


def test_load_source_labels_artifacts_with_real_precision(tmp_path):
    from convzoo.runs import load_source
    from convzoo.export.openvino import default_precision, to_openvino
    m = _net()
    m.default_cfg = {"input_size": (3, 16, 16)}
    to_openvino(m, tmp_path / "ir")
    r = load_source(tmp_path / "ir").model
    assert r.engine == "openvino" and r.precision == default_precision() != "int8"
    onnx_path = to_onnx(m, tmp_path / "m.onnx", input_size=(3, 16, 16), dynamic_batch=False, batch=2)
    r = load_source(onnx_path).model
    assert (r.engine, r.precision, r.default_cfg["input_size"]) == ("onnxruntime", "fp32", (3, 16, 16))
    with torch.no_grad():
        x = torch.randn(3, 3, 16, 16)                      # 3 samples through a batch-2 graph: chunked
        assert relative_error(r(x), m(x)) <= 1e-4
    assert not os.path.exists(tmp_path / "m.onnx.failed-check")


def test_compile_engine_reads_a_package_by_deploy_json_and_refuses_a_damaged_one_in_one_line(tmp_path):
    """deploy.json's ``"package": "aotinductor"`` sends the compile engine's model.pt2 to the AOTInductor
    loader (no torch.export load, no compile); a damaged or missing file is one line naming it."""
    import json

    from convzoo.export import load_deployed
    engine = get_engine("compile")
    chosen = dict(engine="compile", precision="int8", file="model.pt2", format=engine.format, package="aotinductor",
                  package_batch=None)
    (tmp_path / "deploy.json").write_text(json.dumps({"chosen": chosen, "input_size": [3, 16, 16]}))
    (tmp_path / "model.pt2").write_bytes(b"PK\x03\x04 not a package")
    with pytest.raises(ValueError, match=r"model\.pt2: not a readable torch\.export\+inductor program") as e:
        load_deployed(tmp_path)
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"the AOTInductor package is missing"):
        engine.load(tmp_path / "gone.pt2", chosen)
    (tmp_path / "model.pt2").unlink()
    with pytest.raises(FileNotFoundError, match="names model.pt2, which is missing"):
        load_deployed(tmp_path)
