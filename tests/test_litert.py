"""The LiteRT engine: a ``.tflite`` written by ``to_litert`` / the engine runs in the ai-edge-litert
interpreter equal to eager (fp32 to 1e-4 of the output scale, int8 by top-1 agreement), reloads as a
source of its own kind with the record stored in its metadata, and every bad input is one line: a
wrong shape, a truncated or foreign file, a missing interpreter.

A conversion of the tiny net takes ~5 s on a quiet machine and 20-70 s at load 7 (litert-torch's
import and MLIR lowering): the fp32 file of the module fixture is the normal tier's one conversion
(plus the engine's cell in tests/test_engines.py); int8, the engine's build, the failed check, deploy
and the CLI's path are ``slow``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from convzoo.export import LiteRTRunner, get_engine, load_tflite, relative_error, to_litert

pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")


from _export_checks import tiny_edge_net as _net  # noqa: E402


@pytest.fixture(scope="module")
def fp32_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tflite") / "m.tflite"
    return to_litert(_net(), path, batch=2, record={"model": "tiny"})


def test_a_file_reloads_with_its_record_shape_and_precision(fp32_file, tmp_path):
    from convzoo.runs import load_source, open_source
    src = open_source(fp32_file)
    assert src.kind == "tflite" and src.is_artifact and src.model_name == "tiny"
    assert src.manifest == {"model": "tiny", "precision": "fp32"}
    loaded = load_source(fp32_file)
    assert (loaded.engine, loaded.precision, loaded.fixed_input) == ("litert", "fp32", (3, 16, 16))
    x = torch.randn(3, 3, 16, 16)                  # 3 = a chunk of the file's batch 2, and one padded
    with torch.no_grad():
        assert relative_error(loaded.model(x), _net()(x)) <= 1e-4
    assert loaded.model.bind(x[:2])().dtype == np.float32 and loaded.model.bind(x)() is not None
    files = loaded.model.save(tmp_path / "dep")
    assert files == {"file": "model.tflite", "format": "litert"}
    assert (tmp_path / "dep" / "model.tflite").read_bytes() == open(fp32_file, "rb").read()


def test_the_record_is_tflite_metadata_a_file_without_one_still_runs(fp32_file, tmp_path):
    from convzoo.export.litert import RECORD_NAME, read_record, with_record
    data = open(fp32_file, "rb").read()
    again = with_record(data, {"model": "other"})           # replaced, not added twice
    from ai_edge_litert import schema_py_generated as s
    m = s.Model.GetRootAs(again, 0)
    names = [m.Metadata(i).Name() for i in range(m.MetadataLength())]
    assert names.count(RECORD_NAME.encode()) == 1
    (tmp_path / "again.tflite").write_bytes(again)
    assert read_record(tmp_path / "again.tflite") == {"model": "other"}
    r = load_tflite(tmp_path / "again.tflite", threads=1)
    assert (r.precision, r.program.threads) == ("fp32", 1)     # no precision recorded: the input's dtype
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert relative_error(r(x), _net()(x)) <= 1e-4
    assert read_record(tmp_path / "missing.tflite") == {}


def test_bad_inputs_are_one_line(fp32_file, tmp_path):
    from _export_checks import assert_edge_file_refusals
    assert_edge_file_refusals(load_tflite, to_litert, _net, fp32_file, tmp_path, suffix=".tflite", words="LiteRT model",
                              engine="LiteRT")


def test_a_missing_interpreter_is_one_line_naming_the_extra(fp32_file, tmp_path, monkeypatch):
    import sys
    from convzoo._extras import MissingExtraError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)   # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'convzoo\[litert\]'") as e:
        load_tflite(fp32_file)
    assert "\n" not in str(e.value)
    monkeypatch.setitem(sys.modules, "litert_torch", None)               # and no converter
    with pytest.raises(MissingExtraError, match=r"'litert_torch' is needed for LiteRT export .*convzoo\[litert\]"):
        to_litert(_net(), tmp_path / "never.tflite")
    assert not (tmp_path / "never.tflite").exists()


def test_the_engine_is_in_the_registry_with_its_own_thread_pool():
    eng = get_engine("litert")
    assert eng.supports("cpu", "int8") and not eng.native_precision and eng.threads and eng.folds_bn
    assert eng.extra == "litert" and eng.missing() is None
    assert LiteRTRunner.engine == eng.name


@pytest.mark.slow
def test_the_engine_builds_runners_equal_to_eager():
    m, x = _net(), torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = m(x)
    r = get_engine("litert").build(m, x, "fp32", threads=1)
    assert isinstance(r, LiteRTRunner) and (r.engine, r.precision) == ("litert", "fp32")
    with torch.inference_mode():
        assert relative_error(r(x), ref) <= 1e-4
    with pytest.raises(ValueError, match="takes no options"):
        get_engine("litert").build(m, x, "fp32", foo=1)


@pytest.mark.slow
def test_int8_file_records_its_precision_and_agrees_with_eager(tmp_path):
    m, calib = _net(), torch.randn(64, 3, 16, 16)
    path = to_litert(m, tmp_path / "q.tflite", precision="int8", calibration_data=calib)
    r = load_tflite(path)
    assert (r.engine, r.precision, r.input_shape) == ("litert", "int8", (1, 3, 16, 16))
    with torch.inference_mode():
        out = r(calib)
        agree = float((out.argmax(1) == m(calib).argmax(1)).float().mean())
    assert out.dtype == torch.float32 and agree >= 0.9, agree     # int8 in the file, float32 outside


@pytest.mark.slow
def test_a_failed_check_leaves_no_file_under_the_name(tmp_path):
    from _export_checks import drifting_net
    with pytest.raises(RuntimeError, match=r"differs from eager.*failed-check.*no-verify"):
        to_litert(drifting_net(), tmp_path / "d.tflite")
    assert not (tmp_path / "d.tflite").exists() and (tmp_path / "d.tflite.failed-check").exists()


@pytest.mark.slow
def test_the_cli_exports_a_run_and_every_command_takes_the_file(tmp_path):
    """export --litert from a run (its data spec inside the file), then eval / predict / bench of the
    file with no data flags, deploy --engines litert, and the refusals in one line."""
    from PIL import Image

    from _cli import CLS, cli, ok, refused
    run, path = tmp_path / "run", tmp_path / "m.tflite"
    ok("train", *CLS, "--out", run)
    out = ok("export", run, "--litert", path)
    assert "verified in the LiteRT interpreter on" in out and "same top-1" in out
    res = json.loads(ok("eval", path, "--json"))
    ref = json.loads(ok("eval", run, "--json"))
    assert res["samples"] == ref["samples"] and res["samples"] * abs(res["accuracy"] - ref["accuracy"]) <= 1
    assert json.loads(ok("bench", path, "--json", "--runs", "2"))["engine"] == "litert"
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    assert json.loads(ok("predict", tmp_path / "a.png", "--artifact", path, "--json"))[0]["top"]
    dep = tmp_path / "dep"
    ok("deploy", run, "--out", dep, "--engines", "litert", "--precisions", "fp32", "--runs", "2")
    assert json.loads((dep / "deploy.json").read_text())["chosen"]["file"] == "model.tflite"
    (dep / "model.tflite").write_bytes(path.read_bytes()[:400])
    refused(cli("predict", tmp_path / "a.png", "--artifact", dep), r"model.tflite: not a readable LiteRT model")
    refused(cli("export", run, "--litert", path), r"--litert .*m.tflite already exists")
    out = ok("export", run, "--litert", tmp_path / "q.tflite", "--precision", "int8")
    assert "top-1 agrees with eager on" in out and load_tflite(tmp_path / "q.tflite").precision == "int8"
    refused(cli("eval", path, "--image-size", "12"), r"m.tflite fixes its input to 1x8x8; the data gives 1x12x12")


def test_the_cli_says_a_bad_file_or_a_missing_interpreter_in_one_line(fp32_file, tmp_path, monkeypatch):
    import sys

    from _cli import cli, refused
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(open(fp32_file, "rb").read()[:400])
    refused(cli("bench", cut), r"cut.tflite: not a readable LiteRT model \(truncated, or another format\?\)")
    refused(cli("bench", tmp_path / "none.tflite"), r"none.tflite does not exist")
    other = tmp_path / "m.tfl"
    other.write_bytes(b"x")
    refused(cli("bench", other), r"expected an .onnx file, an OpenVINO .xml, an ExecuTorch .pte, a LiteRT .tflite")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)    # as if the litert extra were absent
    refused(cli("bench", fp32_file), r"'ai_edge_litert.interpreter' is needed for running .tflite files "
                                     r".*convzoo\[litert\]")


@pytest.mark.slow
def test_deploy_lists_litert_fp32_and_int8_with_speed_and_accuracy(tmp_path):
    """Both precisions built, checked and timed as deploy candidates; the folder reloads as LiteRT."""
    import convzoo
    from convzoo.export import deploy, load_deployed
    torch.manual_seed(0)
    m = convzoo.create_model("variant_conv", num_classes=10, widths=(8, 16), depth=1).eval()
    xs, ys = torch.randn(48, 1, 16, 16), torch.randint(0, 10, (48,))
    rep = deploy(m, tmp_path / "d", input_size=(1, 16, 16), data=(xs, ys), calibration_data=xs, threads=1,
                 engines=["litert"], max_drop=100, runs=4, rounds=2, progress=False)
    rows = {c["precision"]: c for c in rep["candidates"]}
    assert set(rows) == {"fp32", "int8"}
    for c in rows.values():
        assert c["rejected"] is None and c["images_per_s"] > 0 and c["accuracy"] is not None, c
    assert rows["fp32"]["agreement"] == 100.0
    assert rep["chosen"]["file"] == "model.tflite" and rep["chosen"]["format"] == "litert"
    r = load_deployed(tmp_path / "d", threads=1)
    assert (r.engine, r.precision, r.program.threads) == ("litert", rep["chosen"]["precision"], 1)
