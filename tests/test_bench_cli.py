"""``convzoo bench`` and ``convzoo export`` end to end through the CLI entry point, plus the
benchmark helper's bookkeeping. No timing is asserted (numbers belong in bench/), only that the
report is complete, the exported file is correct and bad input gives one-line errors."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

import convzoo
from convzoo.cli import main
from convzoo.export import benchmark, ort_session

MODEL = "waveform_m3"   # the smallest registered model with BN: fast to build, export and run
pytestmark = pytest.mark.skipif(MODEL not in convzoo.list_models(), reason=f"{MODEL} not registered")


@pytest.mark.parametrize("engine,extra", [("eager", []), ("eager", ["--fold-bn", "--amp"]),
                                          ("onednn", ["--fold-bn"]), ("onnxruntime", [])])
def test_bench_cli_reports_latency_throughput_memory(engine, extra, capsys):
    rc = main(["bench", MODEL, "--engine", engine, "--batch", "2", "--input-size", "1", "2000",
               "--runs", "3", "--warmup", "1", "--threads", "1", "--json", *extra])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["engine"] == engine and info["batch"] == 2 and info["input_size"] == [1, 2000]
    assert info["runs"] == 3 and info["latency_ms"] > 0 and info["latency_p90_ms"] >= info["latency_ms"]
    assert info["throughput"] == pytest.approx(2 / (info["latency_ms"] / 1e3))
    assert info["peak_memory_mb"] is None or info["peak_memory_mb"] >= 0


@pytest.mark.slow
def test_bench_cli_all_engines_names_the_fastest(capsys):
    """--engine all: one row per engine (compile included: inductor builds the 1D net), the fastest
    named, an engine that cannot run listed with its reason instead of failing the command."""
    rc = main(["bench", MODEL, "--engine", "all", "--input-size", "1", "2000", "--runs", "2",
               "--warmup", "0", "--threads", "1", "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    rows = {r["engine"]: r for r in info["engines"]}
    # one place decides: --engine all runs exactly what the engine registry lists for the device (the
    # ExecuTorch engine, added later, came in without this test or bench changing)
    from convzoo.export import list_engines
    assert [r["engine"] for r in info["engines"]] == list_engines("cpu")
    assert {"eager", "compile", "onednn", "onnxruntime", "openvino"} <= set(rows)
    assert info["threads"] == 1 and info["omp_wait_policy"]
    ok = {e: r for e, r in rows.items() if "error" not in r}
    assert {"eager", "onnxruntime"} <= set(ok) and all(r["runs"] == 2 for r in ok.values())
    assert info["fastest"] == max(ok, key=lambda e: ok[e]["throughput"])


def test_bench_cli_all_engines_keep_the_precision(capsys):
    """--engine all --precision bf16 measures bf16 (it used to measure fp32 whatever was asked): the
    PyTorch engines run it, ONNX Runtime (fp32 only) is listed with its reason."""
    from convzoo.export import cpu_precision_support
    if cpu_precision_support()["bf16"] is None:
        pytest.skip("CPU without native bf16")
    rc = main(["bench", "variant_conv", "--engine", "all", "--precision", "bf16", "--input-size", "1", "16", "16",
               "--runs", "1", "--warmup", "0", "--threads", "1", "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    rows = {r["engine"]: r for r in info["engines"]}
    assert info["precision"] == "bf16" and "runs fp32" in rows["onnxruntime"]["error"]
    assert all(rows[e].get("precision") == "bf16" for e in ("eager", "onednn")), rows


def test_bench_cli_text_output(capsys):
    assert main(["bench", MODEL, "--input-size", "1,2000", "--runs", "2", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    for word in ("latency", "median of 2 runs", "throughput", "samples/s", "peak memory"):
        assert word in out


@pytest.mark.parametrize("argv,msg", [
    (["bench", "waveform_mm3"], "did you mean: waveform_m3"),
    (["bench", MODEL, "--batch", "0"], "argument --batch: expected an integer in [1, 1048576], got '0'"),
    (["bench", MODEL, "--weights", "/nonexistent/w.safetensors"], "weights file not found"),
    (["bench", MODEL, "--input-size", "3", "2000"], "expected 1 input channels, got 3"),
    (["bench", MODEL, "--engine", "onnxruntime", "--amp"], "--amp applies to the PyTorch engines"),
    (["bench", MODEL, "--engine", "onednn", "--amp"], "runs on the CPU, without --amp"),
    (["export", "mobilenet_v7", "--onnx", "x.onnx"], "unknown model 'mobilenet_v7'"),
    (["export", MODEL, "--onnx", "x.onnx", "--weights", "/nonexistent/w.safetensors"],
     "weights file not found"),
])
def test_bad_input_is_one_line_error(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("cmd", [["export", MODEL, "--onnx", "x.onnx"], ["bench", MODEL]])
def test_corrupt_weights_file_is_one_line_error(cmd, tmp_path, capsys):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": trunc")
    assert main(cmd + ["--weights", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "corrupt or not a safetensors file" in err and len(err.splitlines()) == 1


def test_export_cli_accepts_torchvision_layout_weights(tmp_path, capsys):
    # a torchvision state dict (features.N.conv... keys) exports without conversion by hand, and
    # the graph computes what torchvision's model computes with those weights
    import torchvision
    from safetensors.torch import save_file
    torch.manual_seed(0)
    tv = torchvision.models.mobilenet_v2(num_classes=7).eval()
    save_file({k: v.contiguous() for k, v in tv.state_dict().items()}, str(tmp_path / "tv.safetensors"))
    out = tmp_path / "m.onnx"
    assert main(["export", "mobilenet_v2", "--onnx", str(out), "--weights", str(tmp_path / "tv.safetensors"),
                 "--num-classes", "7", "--input-size", "3", "64", "64"]) == 0
    x = torch.randn(2, 3, 64, 64)
    got = ort_session(out, threads=1).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = tv(x).numpy()
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_export_cli_with_weights_matches_model(tmp_path, capsys):
    from safetensors.torch import save_file
    model = convzoo.create_model(MODEL, num_classes=5)
    with torch.no_grad():   # non-trivial BN statistics so that folding matters
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.2, 2.0)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    out = tmp_path / "m.onnx"
    rc = main(["export", MODEL, "--onnx", str(out), "--weights", str(tmp_path / "w.safetensors"),
               "--num-classes", "5", "--input-size", "1", "3000"])
    assert rc == 0 and "verified with ONNX Runtime" in capsys.readouterr().out
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 3000]
    x = torch.randn(3, 1, 3000)
    sess = ort_session(out, threads=1)
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_benchmark_helper_counts_runs_and_rejects_bad_engine():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    x = torch.randn(2, 3, 16, 16)
    res = benchmark(model, x, "eager", warmup=0, runs=4, fold_bn=True, channels_last=True)
    assert res.runs == 4 and res.batch == 2 and res.input_size == (3, 16, 16)
    with pytest.raises(ValueError, match="engine must be one of"):
        benchmark(model, x, "tensorrt")
    with pytest.raises(ValueError, match="runs >= 1"):
        benchmark(model, x, runs=0)


def test_bench_and_export_are_library_calls(tmp_path):
    """``convzoo.runs.bench`` and ``convzoo.runs.export_source``, the calls behind the commands: the
    file export writes is what bench then times on its own engine (an engine option for it refused),
    and the export row's check is ONNX Runtime's own error, below its bound."""
    from convzoo.runs import ExportCheckError, bench, export_source
    rows = export_source(MODEL, {"onnx": tmp_path / "m.onnx"}, input_size=(1, 2000))
    assert [(r["format"], r["input"], r["checked_on"]) for r in rows] == [("onnx", [1, 2000], "random inputs")]
    assert 0 <= rows[0]["max_abs_diff"] <= 1e-4 and issubclass(ExportCheckError, ValueError)
    info = bench(tmp_path / "m.onnx", batch=2, runs=2, warmup=1, threads=1)
    assert (info["engine"], info["batch"], info["input_size"], info["threads"]) == ("onnxruntime", 2, (1, 2000), 1)
    with pytest.raises(ValueError, match=r"--engine do\(es\) not apply to .*m.onnx \(ONNX file\)"):
        bench(tmp_path / "m.onnx", engine="eager")
    with pytest.raises(ValueError, match=r"--onnx .*m.onnx already exists"):
        export_source(MODEL, {"onnx": tmp_path / "m.onnx"})
    with pytest.raises(ValueError, match=r"export writes onnx, ir, pte, tflite; got pdf"):
        export_source(MODEL, {"pdf": tmp_path / "m.pdf"})


def test_an_ir_that_fails_its_check_is_set_aside(tmp_path, monkeypatch):
    """The IR is checked as the edge files are (edge_file.check_against_eager): an OpenVINO output off by
    1e-2 of the scale (the bound on random inputs is 1e-4) is refused in one line, exit 1, and neither name
    asked for is left behind."""
    from convzoo.export.openvino import OpenVINOModule
    from convzoo.runs import ExportCheckError, export_source
    real = OpenVINOModule.forward
    monkeypatch.setattr(OpenVINOModule, "forward", lambda self, x: real(self, x) * 1.01)
    with pytest.raises(ExportCheckError, match=r"the OpenVINO IR output differs from eager PyTorch: max abs diff is "
                                               r"\S+ of the output scale \(allowed 1e-04\); the IR is kept as .*"
                                               r"model.xml.failed-check"):
        export_source(MODEL, {"ir": tmp_path / "ir"}, input_size=(1, 2000))
    assert sorted(p.name for p in (tmp_path / "ir").iterdir()) == ["convzoo.json", "model.bin.failed-check",
                                                                    "model.xml.failed-check"]
    assert main(["export", MODEL, "--openvino", str(tmp_path / "ir2"), "--input-size", "1,2000"]) == 1
