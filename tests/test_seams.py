"""The seam matrix: every producer (train a classifier, train a segmenter, compress, quantize, export
ONNX, export IR, export ExecuTorch, export LiteRT, deploy) x every consumer (eval, predict, bench, deploy,
compress, quantize, ``train --resume``) either works -- and eval reproduces the accuracy its producer recorded, to the
sample -- or refuses in one line naming why. No consumer changes a file of the folder it reads.
(The producer fine-tuned from a real checkpoint is in tests/test_seams_real.py, slow tier.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import CLS, INT8, NO_INT8, SEG, cli, ok, refused

PRODUCERS = ("run", "compress", "quantize", "onnx", "ir", "pte", "tflite", "deploy", "segrun", "seg_onnx")
CONSUMERS = ("eval", "predict", "bench", "deploy", "compress", "quantize", "resume")
ARTIFACTS = ("quantize", "onnx", "ir", "pte", "tflite", "deploy", "seg_onnx")

# what a consumer does with a producer's output: "ok", or the one-line refusal it must print
REFUSE = {
    **{(p, c): "already an artifact" for p in ARTIFACTS for c in ("deploy", "quantize")},
    **{(p, "compress"): r"compress takes a run folder \(convzoo train\); .* is not one" for p in ARTIFACTS},
    **{(p, "resume"): r"not a convzoo run folder|run folder not found" for p in ARTIFACTS},
    ("compress", "compress"): "already a compressed run",
    ("compress", "resume"): r"no checkpoint to resume from but holds .*model.safetensors.*nothing was changed",
    ("segrun", "deploy"): "deploy checks top-1 of classifiers; .* is a segmentation run",
    ("segrun", "quantize"): "quantize reports top-1 of classifiers; .* is a segmentation run",
    ("segrun", "compress"): "compress fine-tunes and scores classifiers; .* is a segmentation run",
    ("seg_onnx", "predict"): r"seg.onnx fixes its input to 1x\d+x\d+; image .*0.png gives 1x20x24",
}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """Every producer's output, built once for the module (a classifier run and what is made of it, a
    segmenter run and its ONNX file), plus a folder of images for predict."""
    import numpy as np
    from PIL import Image
    root = tmp_path_factory.mktemp("seams")
    run, seg = root / "run", root / "segrun"
    ok("train", *CLS, "--out", run)
    ok("compress", run, "--method", "channel", "--rank", "4", "--finetune-epochs", "0", "--out", root / "compress")
    if INT8:
        ok("quantize", run, "--out", root / "quantize", "--runs", "2", "--calibration", "32", "--bench-batch", "2")
    ok("export", run, "--onnx", root / "m.onnx", "--openvino", root / "ir")
    if _has("executorch"):
        ok("export", run, "--executorch", root / "m.pte")
    if _has("litert_torch"):
        ok("export", run, "--litert", root / "m.tflite")
    ok("deploy", run, "--out", root / "deploy", "--engines", "eager", "onnxruntime", "--precisions", "fp32",
       "--runs", "2", "--check-samples", "500")
    ok("train", *SEG, "--out", seg)
    ok("export", seg, "--onnx", root / "seg.onnx")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8)).save(images / f"{i}.png")
    return {"run": run, "compress": root / "compress", "quantize": root / "quantize", "onnx": root / "m.onnx",
            "ir": root / "ir", "pte": root / "m.pte", "tflite": root / "m.tflite", "deploy": root / "deploy",
            "segrun": seg,
            "seg_onnx": root / "seg.onnx", "images": images, "root": root}


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def _state(path: Path) -> dict:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def _consume(consumer: str, src: Path, made: dict, out: Path, producer: str):
    art = producer in ARTIFACTS
    if consumer == "eval":
        return cli("eval", src, "--json")
    if consumer == "predict":
        extra = ["--out", out] if producer.startswith("seg") else []
        return cli("predict", made["images"], "--artifact" if art else "--run", src, "--json", *extra)
    if consumer == "bench":
        return cli("bench", src, "--runs", "2", "--warmup", "0", "--json")
    if consumer == "deploy":
        return cli("deploy", src, "--out", out, "--engines", "eager", "--precisions", "fp32", "--runs", "2")
    if consumer == "compress":
        return cli("compress", src, "--method", "channel", "--rank", "4", "--finetune-epochs", "0", "--out", out)
    if consumer == "quantize":
        return cli("quantize", src, "--out", out, "--runs", "2", "--calibration", "16", "--bench-batch", "2")
    return cli("train", "--resume", src, "--no-progress")


def _recorded_accuracy(producer: str, made: dict) -> float:
    """What the producer measured; an export records no accuracy: its run's."""
    folder = {"onnx": "run", "ir": "run", "pte": "run", "tflite": "run", "seg_onnx": "segrun"}.get(producer, producer)
    if producer == "deploy":
        rep = json.loads((made["deploy"] / "deploy.json").read_text())
        row = next(r for r in rep["candidates"] if r["engine"] == rep["chosen"]["engine"])
        return row["accuracy"] / 100
    rep = json.loads((made[folder] / "report.json").read_text())
    return rep["results"]["int8"]["accuracy"] if producer == "quantize" else rep["accuracy"]


@pytest.mark.xdist_group("seams")
@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("producer", PRODUCERS)
def test_seam(producer, consumer, made, tmp_path):
    src = made[producer]
    if producer == "quantize" and not INT8:
        pytest.skip(f"{NO_INT8}: no int8 folder to consume (the quantize consumer cells check the refusal)")
    if producer == "pte":
        pytest.importorskip("executorch")
    if producer == "tflite":
        pytest.importorskip("litert_torch")
    before = _state(src)
    code, out, err = _consume(consumer, src, made, tmp_path / "out", producer)
    assert _state(src) == before, "a consumer changed its source"
    why = REFUSE.get((producer, consumer))
    if why is None and consumer == "quantize" and not INT8:
        why = NO_INT8
    if why is not None:
        refused((code, out, err), why)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        return
    assert code == 0, err
    if consumer == "eval":
        res = json.loads(out)
        want = _recorded_accuracy(producer, made)
        if producer in ("onnx", "ir", "pte", "tflite", "seg_onnx"):   # no record of its own: the run's, same test set
            assert res["samples"] * abs(res["accuracy"] - want) <= 1 + 1e-9, (res, want)
        else:
            assert res["agrees_with_report"] is True, res
            assert round(res["samples"] * res["accuracy"]) == round(res["samples"] * want)   # to the sample
    if consumer == "bench" and producer in ("quantize", "deploy", "onnx", "ir", "pte", "tflite"):
        res = json.loads(out)
        assert res["engine"] == {"quantize": "openvino", "onnx": "onnxruntime", "ir": "openvino",
                                 "pte": "executorch", "tflite": "litert"}.get(
            producer, json.loads((src / "deploy.json").read_text())["chosen"]["engine"] if producer == "deploy"
            else None)


@pytest.mark.xdist_group("seams")
def test_fp32_artifacts_predict_what_their_run_predicts(made):
    """The same images, the same top-1, whether from the run or from its fp32 files (no data flags)."""
    def top1(flag, src):
        return [r["top"][0]["label"] for r in json.loads(ok("predict", made["images"], flag, src, "--json"))]
    want = top1("--run", made["run"])
    for name in ("onnx", "ir", "deploy") + (("pte",) if _has("executorch") else ()) + \
            (("tflite",) if _has("litert_torch") else ()):
        assert top1("--artifact", made[name]) == want, name


@pytest.mark.xdist_group("seams")
def test_the_commands_are_the_library_calls(made):
    """``convzoo predict`` / ``convzoo eval`` print what ``convzoo.predict`` / ``convzoo.evaluate`` return."""
    import convzoo
    assert convzoo.predict(made["deploy"], [made["images"]]) == \
        json.loads(ok("predict", made["images"], "--artifact", made["deploy"], "--json"))
    assert convzoo.evaluate(made["deploy"]) == json.loads(ok("eval", made["deploy"], "--json"))


@pytest.mark.xdist_group("seams")
def test_a_deploy_folder_written_before_the_data_spec_still_evaluates(made, tmp_path):
    """deploy.json of an older convzoo kept dataset, data_root, data_kwargs and image_size at the top."""
    import shutil
    old = tmp_path / "old"
    shutil.copytree(made["deploy"], old)
    rep = json.loads((old / "deploy.json").read_text())
    data = rep.pop("data")
    rep.update(dataset=data["dataset"], data_root=data["root"], data_kwargs=data["kwargs"], image_size=None)
    (old / "deploy.json").write_text(json.dumps(rep))
    assert json.loads(ok("eval", old, "--json"))["agrees_with_report"] is True
