"""The seam matrix's real-checkpoint row, as a new user meets it: EfficientNet-Lite0 fine-tuned from its
ImageNet file on an image folder at 96 px -> deploy -> eval / predict / bench of the deploy folder with
no data flags reproduce what deploy recorded (top-1 to the sample; the same engine, precision and
order of speed)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from _cli import ok

pytestmark = pytest.mark.slow


def _photos(root: Path) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
    from transfer import write_imagefolder
    names = write_imagefolder("shapes", root, 6, "train", size=96)
    write_imagefolder("shapes", root, 5, "test", size=96)
    return names


def test_finetuned_lite0_deployed_then_evaluated_predicted_and_benched_without_flags(tmp_path, lite0_file):
    start = tmp_path / "efficientnet-lite0.pth"
    shutil.copy(lite0_file, start)
    names = _photos(tmp_path / "photos")
    run, dep = tmp_path / "runs" / "ft", tmp_path / "deployed" / "ft"
    ok("train", "--model", "efficientnet_lite0", "--pretrained", start, "--dataset", "imagefolder", "--data-root",
       tmp_path / "photos", "--data-arg", "size=96", "--freeze", "backbone", "--epochs", "2", "--batch-size", "8",
       "--lr", "0.01", "--no-progress", "--out", run)
    rep = json.loads(ok("deploy", run, "--out", dep, "--engines", "eager", "onnxruntime", "openvino",
                        "--precisions", "fp32", "--runs", "6", "--json"))
    chosen = next(r for r in rep["candidates"] if (r["engine"], r["precision"]) ==
                  (rep["chosen"]["engine"], rep["chosen"]["precision"]))
    ev = json.loads(ok("eval", dep, "--json"))             # no --data-root, --image-size, --data-arg
    assert (ev["engine"], ev["precision"]) == (chosen["engine"], chosen["precision"])
    assert ev["samples"] == rep["check_samples"] == 5 * len(names)
    assert round(ev["accuracy"] * ev["samples"]) == round(chosen["accuracy"] / 100 * ev["samples"])
    assert ev["agrees_with_report"] is True
    rows = json.loads(ok("predict", tmp_path / "photos" / "test", "--artifact", dep, "--json"))
    assert len(rows) == ev["samples"] and all(r["top"][0]["label"] in names for r in rows)
    truth = [Path(r["image"]).parent.name for r in rows]
    hits = sum(r["top"][0]["label"] == t for r, t in zip(rows, truth))
    assert hits == round(ev["accuracy"] * ev["samples"])      # predict's labels are eval's top-1
    b = json.loads(ok("bench", dep, "--runs", "10", "--json"))
    assert (b["engine"], b["precision"], b["batch"]) == (chosen["engine"], chosen["precision"], rep["batch"])
    assert b["threads"] == rep["timing"]["threads"]
    assert b["activation_peak_bytes"] is None                 # the engine's memory is not PyTorch's
    ratio = b["throughput"] / chosen["images_per_s"]
    assert 0.2 < ratio < 5, (b["throughput"], chosen["images_per_s"])   # the same order of speed
