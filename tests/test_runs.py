"""convzoo.runs on its own: the data spec round trip and its overrides, what a path is, manifests that
never lead out of their folder, and new folders that are complete or absent (the commands' seams are
tests/test_seams.py)."""
from __future__ import annotations

import json

import pytest

from convzoo.runs import (DataSpec, check_new_folder, inside, new_folder, open_source, parse_kv, read_json,
                          read_run_config)


def _spec() -> DataSpec:
    return DataSpec("imagefolder", "photos", {"size": 96}, 112, (3, 96, 96), [0.5, 0.4, 0.3], [0.2, 0.2, 0.2],
                    ["cat", "dog"], 2, "classification")


def test_data_spec_round_trips_through_json():
    spec = _spec()
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.model_input_size() == (3, 112, 112)              # the sample, resized to the eval size
    assert DataSpec("digits", input_size=(1, 8, 8)).model_input_size() == (1, 8, 8)
    assert DataSpec("speech", input_size=(1, 16000), image_size=64).model_input_size() == (1, 16000)


def test_a_manifest_written_before_the_spec_still_names_its_data():
    old = {"dataset": "imagefolder", "data_root": "photos", "data_kwargs": {"size": 96}, "image_size": 96}
    assert DataSpec.from_dict(None, legacy=old) == DataSpec("imagefolder", "photos", {"size": 96}, 96)
    assert DataSpec.from_dict(None, legacy={"model": "x"}) is None and DataSpec.from_dict({}) is None


def test_overrides_keep_what_they_do_not_name_and_another_dataset_keeps_nothing():
    spec = _spec()
    assert spec.replace() == spec
    assert spec.replace(image_size=128).image_size == 128 and spec.replace(image_size=128).root == "photos"
    other = spec.replace(dataset="digits")
    assert (other.dataset, other.root, other.kwargs, other.input_size, other.class_names, other.image_size) == \
        ("digits", None, {}, None, None, 112)


def test_run_config_gives_the_spec_the_trainer_used():
    cfg = {"model": "variant_conv", "dataset": "digits", "data_root": None, "data_kwargs": {}, "train": {"task":
           "segmentation"}, "preprocess": {"input_size": [1, 8, 8], "image_size": None, "mean": [0.5],
                                           "std": [0.25], "num_classes": 10}, "class_names": ["a", "b"]}
    spec = DataSpec.from_run_config(cfg)
    assert (spec.task, spec.input_size, spec.num_classes, spec.mean, spec.class_names) == \
        ("segmentation", (1, 8, 8), 10, [0.5], ["a", "b"])


def test_parse_kv():
    assert parse_kv(["depth=3", "norm=None", "widths=(16,32)", "name=abc"]) == \
        {"depth": 3, "norm": None, "widths": (16, 32), "name": "abc"}
    with pytest.raises(ValueError, match="--model-arg must look like KEY=VALUE, got 'depth'"):
        parse_kv(["depth"], "--model-arg")


@pytest.mark.parametrize("name", ["../m.onnx", "/etc/passwd", "a/../../m.onnx"])
def test_a_manifest_path_never_leaves_its_folder(tmp_path, name):
    with pytest.raises(ValueError, match="which leaves the folder"):
        inside(tmp_path / "dep", name)
    assert inside(tmp_path / "dep", "sub/model.onnx") == (tmp_path / "dep" / "sub" / "model.onnx").resolve()


def test_new_folder_is_complete_or_absent(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with new_folder(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("killed half-way")
    assert not out.exists() and list(tmp_path.iterdir()) == []      # nothing under out, no temp left
    with new_folder(out) as tmp:
        (tmp / "a.txt").write_text("a")
    assert [p.name for p in out.iterdir()] == ["a.txt"] and list(tmp_path.iterdir()) == [out]
    with pytest.raises(ValueError, match=r"--out .*out already exists and holds files"):
        check_new_folder(out)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        check_new_folder(tmp_path / "file", "--openvino")
    (tmp_path / "empty").mkdir()
    assert check_new_folder(tmp_path / "empty") == tmp_path / "empty"


def test_open_source_says_what_a_path_is(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "variant_conv", "dataset": "digits", "train": {}}))
    dep = tmp_path / "dep"
    dep.mkdir()
    (dep / "deploy.json").write_text(json.dumps({"model": "variant_conv", "chosen": {}}))
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({"architecture": "variant_conv"}))
    (tmp_path / "m.onnx").write_bytes(b"not a graph")
    kinds = {p: open_source(p) for p in (run, dep, hub, tmp_path / "m.onnx")}
    assert [s.kind for s in kinds.values()] == ["run", "deploy", "hub", "onnx"]
    assert [s.is_artifact for s in kinds.values()] == [False, True, False, True]
    assert kinds[run].model_name == "variant_conv" and kinds[hub].model_name == "variant_conv"
    assert open_source("variant_conv").kind == "model"
    assert kinds[tmp_path / "m.onnx"].describe().endswith("m.onnx (ONNX file)")


@pytest.mark.parametrize("make, pattern", [
    (lambda p: None, r"does not exist \(expected a registered model name"),
    (lambda p: p.mkdir(), r"is not a run folder, a deploy or quantize folder"),
    (lambda p: p.write_text("x"), r"is a file convzoo does not run"),
])
def test_open_source_refuses_in_one_line(tmp_path, make, pattern):
    p = tmp_path / "thing"
    make(p)
    with pytest.raises((ValueError, FileNotFoundError), match=pattern):
        open_source(p)


def test_unknown_model_names_suggest_close_ones():
    with pytest.raises(ValueError, match="variant_conv"):
        open_source("variant_cnv")


def test_damaged_manifests_are_one_line(tmp_path):
    (tmp_path / "config.json").write_text("{ truncated")
    with pytest.raises(ValueError, match=r"corrupt run config .*config.json"):
        read_run_config(tmp_path)
    (tmp_path / "deploy.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"deploy.json: not a deploy report \(a JSON object was expected"):
        read_json(tmp_path / "deploy.json", "deploy report")
