"""convzoo deploy: every engine x precision built, checked against fp32 eager (the oracle: top-1 on
the run's test split, agreement on generated inputs without labels), the fastest that holds written
with deploy.json; load_deployed, eval and bench take the folder. Speed itself is not asserted (a
shared machine); the choice is checked against the report's own measurements."""
import json

import pytest
import torch

import convzoo
from convzoo.export import deploy, load_deployed, relative_error
from convzoo.export import precision as prec

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
pytest.importorskip("nncf")

KEYS = {"engine", "precision", "images_per_s", "accuracy", "agreement", "rejected"}


def _check_report(rep):
    assert {"candidates", "chosen", "checked_on", "timing", "input_size", "batch"} <= set(rep)
    for c in rep["candidates"]:
        assert KEYS <= set(c)
        assert c["rejected"] is not None or c["images_per_s"] is not None
        if c["images_per_s"] is not None:
            assert c["images_per_s_q1"] <= c["images_per_s"] <= c["images_per_s_q3"]
    held = [c for c in rep["candidates"] if c["rejected"] is None or c["rejected"].startswith("cannot save")]
    best = max(held, key=lambda c: c["images_per_s"])
    assert (rep["chosen"]["engine"], rep["chosen"]["precision"]) == (best["engine"], best["precision"])


@pytest.mark.slow
def test_deploy_bare_model_on_generated_inputs(tmp_path):
    torch.manual_seed(0)
    m = convzoo.create_model("variant_conv", num_classes=10).eval()
    rep = deploy(m, tmp_path / "d", input_size=(1, 16, 16), batch=2, engines=["eager", "onnxruntime"],
                 runs=4, rounds=2, progress=False, source={"model": "variant_conv"})
    _check_report(rep)
    assert "generated inputs (no labels)" in rep["checked_on"]
    rows = {(c["engine"], c["precision"]): c for c in rep["candidates"]}
    assert rows[("eager", "fp32")]["agreement"] == 100.0 and rows[("eager", "fp32")]["accuracy"] is None
    if prec.cpu_precision_support()["int8"]:
        assert ("onnxruntime", "int8") not in rows          # the registry declares no int8 for ORT
    saved = json.loads((tmp_path / "d" / "deploy.json").read_text())
    assert saved == json.loads(json.dumps(rep))
    r = load_deployed(tmp_path / "d")
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert relative_error(r(x), m(x)) <= 1e-4
    assert r.engine == rep["chosen"]["engine"]
    with pytest.raises(ValueError, match="already exists and holds files"):
        deploy(m, tmp_path / "d", input_size=(1, 16, 16), engines=["eager"], progress=False)
    with pytest.raises(FileNotFoundError, match="not a deploy folder"):
        load_deployed(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(prec.cpu_precision_support()["int8"] is None, reason="CPU without int8 instructions")
def test_deploy_cli_on_trained_run_then_eval_and_bench(tmp_path, capsys):
    from convzoo.cli import main
    run, out = tmp_path / "run", tmp_path / "dep"
    assert main(["train", "--out", str(run), "--epochs", "2", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["deploy", str(run), "--out", str(out), "--engines", "eager", "openvino", "--batch", "4",
                 "--precisions", "fp32", "int8", "--runs", "4", "--calibration", "64", "--check-samples",
                 "120", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    _check_report(rep)
    assert rep["checked_on"] == "120 labelled samples" and rep["fp32_accuracy"] > 50
    int8 = next(c for c in rep["candidates"] if c["precision"] == "int8")
    assert int8["accuracy"] is not None and (int8["rejected"] is None) == (int8["drop_points"] <= 1.0)
    assert main(["eval", str(out), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert (ev["engine"], ev["precision"]) == (rep["chosen"]["engine"], rep["chosen"]["precision"])
    assert ev["accuracy"] > 0.5
    assert main(["bench", str(out), "--runs", "2", "--warmup", "1", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert (b["engine"], b["precision"]) == (rep["chosen"]["engine"], rep["chosen"]["precision"])


def test_a_candidate_that_cannot_be_written_falls_back_to_the_next(tmp_path, monkeypatch):
    """The fastest holder whose save fails is marked rejected with the reason; the next is written."""
    import importlib

    from convzoo.export import Runner
    deploy_mod = importlib.import_module("convzoo.export.deploy")   # the module, not the function

    class Fake(Runner):
        def __init__(self, ok):
            super().__init__()
            self.ok = ok

        def save(self, out_dir):
            if not self.ok:
                raise RuntimeError("exporter says no")
            (out_dir / "model.bin").write_bytes(b"x")
            return {"file": "model.bin", "format": "fake"}
    monkeypatch.setattr(deploy_mod, "_reloads_equal", lambda *a: None)     # the reload is tested above
    runners = {"fast fp32": Fake(False), "slow fp32": Fake(True)}
    rows = [dict(engine="fast", precision="fp32", images_per_s=10.0, rejected=None),
            dict(engine="slow", precision="fp32", images_per_s=5.0, rejected=None)]
    chosen = deploy_mod._save_fastest(runners, rows, tmp_path, torch.randn(1, 1, 4, 4))
    assert chosen["engine"] == "slow" and chosen["file"] == "model.bin"
    assert rows[0]["rejected"] == "cannot save: exporter says no" and rows[1]["rejected"] is None


def test_deploy_lists_executorch_fp32_and_int8_with_speed_and_accuracy(tmp_path):
    """XNNPACK's int8 needs no VNNI: both precisions are built, checked, timed; the folder reloads."""
    pytest.importorskip("executorch")
    torch.manual_seed(0)
    m = convzoo.create_model("variant_conv", num_classes=10, widths=(8, 16), depth=1).eval()
    xs, ys = torch.randn(48, 1, 16, 16), torch.randint(0, 10, (48,))
    rep = deploy(m, tmp_path / "d", input_size=(1, 16, 16), data=(xs, ys), calibration_data=xs,
                 engines=["executorch"], max_drop=100, runs=4, rounds=2, progress=False)
    rows = {c["precision"]: c for c in rep["candidates"]}
    assert set(rows) == {"fp32", "int8"}
    for c in rows.values():
        assert c["rejected"] is None and c["images_per_s"] > 0 and c["accuracy"] is not None, c
    assert rows["fp32"]["agreement"] == 100.0
    _check_report(rep)
    assert rep["chosen"]["file"] == "model.pte" and rep["chosen"]["format"] == "executorch"
    r = load_deployed(tmp_path / "d")
    assert (r.engine, r.precision) == ("executorch", rep["chosen"]["precision"])


@pytest.mark.skipif(prec.cpu_precision_support()["int8"] is None, reason="CPU without int8 instructions")
def test_deploy_writes_pt2e_int8_as_a_package_that_reloads_without_compiling(tmp_path):
    """compile int8 (PT2E) is written as its AOTInductor package; load_deployed runs it with no Dynamo or
    inductor compile, within the int8 bar of the fp32 eager model (the oracle) and agreeing on top-1."""
    import sys
    from pathlib import Path

    from torch._dynamo.utils import counters
    sys.path.insert(0, str(Path(__file__).parent))
    from _helpers import randomize_bn
    torch.manual_seed(0)
    m = randomize_bn(convzoo.create_model("variant_conv", num_classes=10, widths=(8, 16), depth=1))
    xs = torch.randn(32, 1, 16, 16)
    rep = deploy(m, tmp_path / "d", input_size=(1, 16, 16), batch=4, data=xs, calibration_data=xs,
                 engines=["compile"], precisions=["int8"], max_drop=100, runs=4, rounds=2, progress=False)
    c = rep["chosen"]
    assert (c["engine"], c["precision"], c["file"], c["package"]) == ("compile", "int8", "model.pt2", "aotinductor")
    counters.clear()
    r = load_deployed(tmp_path / "d")
    x = torch.randn(6, 1, 16, 16)                  # not deploy's batch: a static package pads / chunks
    with torch.no_grad():
        out, ref = r(x), m(x)
    assert not {k: v for k, v in counters.items() if v}
    assert (r.engine, r.precision) == ("compile", "int8")
    assert relative_error(out, ref) <= 0.05 and bool((out.argmax(1) == ref.argmax(1)).all())
