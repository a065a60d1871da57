"""Each case the reliability probes found (issue "one home for runs"), as a regression test: a clear
one-line refusal (exit 2, nothing written, nothing lost) or the correct behaviour."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _cli import CLS, INT8, NO_INT8, cli, ok, refused


def files_of(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "run"
    ok("train", *CLS, "--out", out)
    return out


@pytest.fixture(scope="module")
def onnx_file(run) -> Path:
    path = run.parent / "m.onnx"
    ok("export", run, "--onnx", path)
    return path


def test_resume_of_a_compressed_run_without_checkpoints_keeps_every_file(run, tmp_path):
    comp = tmp_path / "comp"
    ok("compress", run, "--method", "channel", "--rank", "4", "--finetune-epochs", "0", "--out", comp)
    before = files_of(comp)
    refused(cli("train", "--resume", comp, "--no-progress"), r"no checkpoint to resume from but holds")
    assert files_of(comp) == before
    ok("eval", comp)


def test_resume_of_a_finished_run_whose_checkpoints_were_removed_keeps_every_file(tmp_path):
    out = tmp_path / "run"
    ok("train", *CLS, "--out", out)
    for f in (out / "checkpoints").iterdir():
        f.unlink()
    before = files_of(out)
    refused(cli("train", "--resume", out, "--no-progress"), r"no checkpoint to resume from but holds .*model")
    assert files_of(out) == before
    ok("eval", out)


def test_quantize_never_writes_into_a_run_or_a_used_folder(run, tmp_path):
    before = files_of(run)
    refused(cli("quantize", run, "--out", run), r"--out .*run already exists and holds files")
    assert files_of(run) == before
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    refused(cli("quantize", run, "--out", used), r"already exists and holds files")
    assert files_of(used) == {"notes.txt": b"mine"}


@pytest.mark.parametrize("size", [["1", "0", "0"], ["1", "8", "8"], ["3", "96", "96"]])
def test_deploy_of_a_run_refuses_an_input_size(run, tmp_path, size):
    refused(cli("deploy", run, "--out", tmp_path / "d", "--input-size", *size),
            r"--input-size does not apply to a run folder")
    assert not (tmp_path / "d").exists()


def test_predict_refuses_a_checkpoint_whose_head_does_not_fit(tmp_path):
    import convzoo
    from PIL import Image
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    five = tmp_path / "five.safetensors"
    convzoo.save_weights(convzoo.create_model("variant_conv", num_classes=5), five)
    refused(cli("predict", tmp_path / "a.png", "--model", "variant_conv", "--pretrained", five),
            r"classifier has 5 outputs, the model has 10")
    folder = tmp_path / "hub"
    convzoo.save_pretrained(convzoo.create_model("variant_conv", num_classes=5), folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_classes"] = 7
    (folder / "config.json").write_text(json.dumps(cfg))
    refused(cli("predict", tmp_path / "a.png", "--model", f"local-dir:{folder}"),
            r"classifier has 5 outputs, the model has 7")


def test_train_refuses_an_empty_pretrained(tmp_path):
    refused(cli("train", *CLS, "--pretrained", "", "--out", tmp_path / "r"), r"--pretrained expects .*got ''")
    assert not (tmp_path / "r").exists()


def test_damaged_artifacts_are_one_line_naming_the_file(run, onnx_file, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_file.read_bytes()[:200])
    refused(cli("bench", cut), r"cut.onnx: not a readable ONNX file \(truncated, or another format\?\)")
    text = tmp_path / "text.onnx"
    text.write_text("not a graph")
    refused(cli("eval", text, "--dataset", "digits"), r"text.onnx: not a readable ONNX file")
    ir = tmp_path / "ir"
    ok("export", run, "--openvino", ir)
    (ir / "model.bin").unlink()
    refused(cli("bench", ir), r"model.xml has no weights file beside it \(model.bin is missing\)")


def test_a_truncated_program_in_a_deploy_folder_is_one_line(run, tmp_path):
    dep = tmp_path / "dep"
    ok("deploy", run, "--out", dep, "--engines", "eager", "--precisions", "fp32", "--runs", "2")
    name = json.loads((dep / "deploy.json").read_text())["chosen"]["file"]
    (dep / name).write_bytes((dep / name).read_bytes()[:300])
    from PIL import Image
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    for argv in (["eval", dep], ["bench", dep], ["predict", tmp_path / "a.png", "--artifact", dep]):
        refused(cli(*argv), rf"{name}: not a readable torch.export program \(truncated, or another format\?\)")


def test_a_fixed_shape_artifact_fed_another_shape_is_refused_before_running(run, onnx_file):
    refused(cli("eval", onnx_file, "--image-size", "12"), r"m.onnx fixes its input to 1x8x8; the data gives 1x12x12")
    refused(cli("bench", onnx_file, "--input-size", "1", "9", "9"),
            r"m.onnx fixes its input to 1x8x8; --input-size gives 1x9x9")


def test_deploy_json_never_leads_out_of_its_folder(run, onnx_file, tmp_path):
    dep = tmp_path / "dep"
    ok("deploy", run, "--out", dep, "--engines", "onnxruntime", "--precisions", "fp32", "--runs", "2")
    rep = json.loads((dep / "deploy.json").read_text())
    rep["chosen"]["file"] = f"../{onnx_file.name}"
    os.replace(onnx_file, tmp_path / onnx_file.name)
    try:
        (dep / "deploy.json").write_text(json.dumps(rep))
        for argv in (["eval", dep], ["bench", dep]):
            refused(cli(*argv), r"names '\.\./m.onnx', which leaves the folder")
    finally:
        os.replace(tmp_path / onnx_file.name, onnx_file)


def test_truncated_shard_is_one_line(tmp_path):
    out = tmp_path / "shards"
    ok("shard", "--dataset", "shapes", "--data-arg", "resolution=16", "--data-arg", "size=24", "--out", out,
       "--per-shard", "6")
    shard = out / "train-000001.tar"
    shard.write_bytes(shard.read_bytes()[:1500])
    refused(cli("train", "--model", "variant_conv", "--model-arg", "widths=(4,8)", "--model-arg", "depth=1",
                "--model-arg", "num_classes=7", "--dataset", "webdataset", "--data-root",
                str(out / "train-{000000..000003}.tar"), "--epochs", "1", "--batch-size", "8", "--no-progress",
                "--out", tmp_path / "r"), r"train-000001.tar: truncated or damaged shard")


def test_flags_that_do_not_apply_to_an_artifact_are_refused(onnx_file, run):
    refused(cli("bench", onnx_file, "--precision", "int8", "--engine", "eager", "--weights", run / "model.safetensors"),
            r"--weights does not apply to .*m.onnx \(ONNX file\)")
    refused(cli("bench", onnx_file, "--precision", "int8", "--engine", "eager"),
            r"--engine, --precision do\(es\) not apply to .*m.onnx \(ONNX file\)")
    refused(cli("bench", onnx_file, "--weights", run / "model.safetensors"),
            r"--weights does not apply to .*m.onnx \(ONNX file\): an artifact holds its own weights")
    refused(cli("eval", run, "--model", "variant_conv"), r"give RUN_DIR or --model, not both")


def test_quantize_refuses_an_ignored_scope_that_matches_nothing(run, tmp_path):
    res = cli("quantize", run, "--out", tmp_path / "q", "--ignore", "NoSuchOp", "--runs", "2", "--calibration", "16")
    refused(res, r"ignored scope \['NoSuchOp'\]" if INT8 else NO_INT8)
    assert not (tmp_path / "q").exists()


BOOM = """
import runpy, sys
class Boom:                      # Ctrl-C arriving while Python imports {module!r}
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
sys.meta_path.insert(0, Boom())
sys.argv = ["convzoo", "list"]
runpy.run_module("convzoo", run_name="__main__")
"""


@pytest.mark.parametrize("module", ["convzoo.cli", "convzoo.cli.cmd_list", "torch"])
def test_ctrl_c_during_imports_says_interrupted_without_a_traceback(module):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run([sys.executable, "-c", BOOM.format(module=module)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 130 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines() == ["convzoo: interrupted"], p.stderr


def test_export_never_writes_over_a_file_or_into_a_used_folder(run, onnx_file, tmp_path):
    before = onnx_file.read_bytes()
    refused(cli("export", run, "--onnx", onnx_file), r"m.onnx already exists; convzoo does not write over it")
    assert onnx_file.read_bytes() == before
    (tmp_path / "ir").mkdir()
    (tmp_path / "ir" / "notes.txt").write_text("mine")
    refused(cli("export", run, "--openvino", tmp_path / "ir"), r"--openvino .*ir already exists and holds files")


def test_deploy_prints_no_dependency_warnings_unless_debug(run, tmp_path):
    """In a process of its own (pytest records warnings instead of printing them)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PYTHONWARNINGS": "default"}

    def deploy(*flags, out):
        p = subprocess.run([sys.executable, "-m", "convzoo", *flags, "deploy", str(run), "--out", str(out),
                            "--engines", "openvino", "--precisions", "fp32", "--runs", "2"],
                           capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stderr
    err = deploy(out=tmp_path / "d")
    assert "Warning" not in err and "No CUDA runtime" not in err, err
    assert "FutureWarning" in deploy("--debug", out=tmp_path / "e")     # torch.jit.trace's, shown with --debug


@pytest.mark.slow       # a QAT export and an AOTInductor compile: ~30 s
def test_quantize_qat_prints_no_torch_log_lines(run, tmp_path):
    """torch re-initialises its loggers when dynamo and inductor load, which undid the CLI's quiet level:
    "No CUDA runtime is found" and torch's other warnings printed under `quantize --qat-epochs`."""
    import re
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("TORCH_LOGS", None)
    p = subprocess.run([sys.executable, "-m", "convzoo", "quantize", str(run), "--out", str(tmp_path / "q"),
                        "--qat-epochs", "1", "--runs", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "No CUDA runtime" not in p.stderr and not re.search(r"^[WI]\d{4} ", p.stderr, re.M), p.stderr
    assert "qat: epoch 1/1" in p.stderr                                  # convzoo's own progress still prints


@pytest.fixture(scope="module")
def pte_file(run) -> Path:
    pytest.importorskip("executorch")
    path = run.parent / "m.pte"
    if not path.exists():
        ok("export", run, "--executorch", path)
    return path


def test_damaged_pte_files_are_one_line_naming_the_file(pte_file, tmp_path):
    from PIL import Image
    cut = tmp_path / "cut.pte"
    cut.write_bytes(pte_file.read_bytes()[:400])
    refused(cli("bench", cut), r"cut.pte: not a readable ExecuTorch program \(truncated, or another format\?\)")
    text = tmp_path / "text.pte"
    text.write_text("not a program")
    refused(cli("eval", text, "--dataset", "digits"), r"text.pte: not a readable ExecuTorch program")
    dep = tmp_path / "dep"
    ok("deploy", pte_file.parent / "run", "--out", dep, "--engines", "executorch", "--precisions", "fp32",
       "--runs", "2")
    (dep / "model.pte").write_bytes(cut.read_bytes())
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    refused(cli("predict", tmp_path / "a.png", "--artifact", dep), r"model.pte: not a readable ExecuTorch program")
    refused(cli("eval", pte_file, "--image-size", "12"), r"m.pte fixes its input to 1x8x8; the data gives 1x12x12")


def test_pte_export_refusals_are_one_line(run, pte_file, tmp_path):
    refused(cli("export", run, "--executorch", pte_file), r"--executorch .*m.pte already exists")
    refused(cli("export", run, "--onnx", tmp_path / "a.onnx", "--precision", "int8"),
            r"--precision int8 applies to --executorch")
    refused(cli("export", "variant_conv", "--executorch", tmp_path / "q.pte", "--precision", "int8"),
            r"--precision int8 calibrates on images: give a run folder .* or --calibration-data")
    assert not (tmp_path / "q.pte").exists()


def test_a_missing_executorch_runtime_is_one_line(pte_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "executorch.runtime", None)      # as if the edge extra were absent
    refused(cli("bench", pte_file), r"'executorch.runtime' is needed for running .pte files .*convzoo\[edge\]")
