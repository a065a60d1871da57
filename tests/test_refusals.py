"""What convzoo refuses: every bad input ends in one line naming what was expected and what came,
exit code 2 (1 for a fault met while running), and nothing written or corrupted.

Run folders (lock, --resume), numeric flags (a fuzz over every one of train/compare/eval/export/
bench), finiteness of weights (saved, loaded, trained), data integrity (image folders, CIFAR-10
arrays, metadata paths) and export (opset, batch, disk full, stale temp files)."""
from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import convzoo
from convzoo.cli import build_parser, main
from convzoo.cli._common import LazyChoice

from _helpers import assert_one_line_error, run_cli

TINY = ["--model", "variant_conv", "--model-arg", "widths=(4,8)", "--model-arg", "depth=1",
        "--batch-size", "32", "--no-progress", "--limit-test", "32"]




# ------------------------------------------------------------------------------ the run lock
def _env(**extra):
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)


def test_second_trainer_on_a_folder_is_refused_and_the_first_is_unharmed(tmp_path, capsys):
    args = ["train", *TINY, "--limit-train", "128", "--epochs", "2", "--lr", "1e-2", "--deterministic"]
    shared = tmp_path / "shared"
    proc = subprocess.Popen([sys.executable, "-m", "convzoo", *args, "--out", str(shared)],
                            env=_env(CONVZOO_STEP_SLEEP="0.25"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = shared / ".convzoo.lock"
    deadline = time.time() + 120
    while not ((shared / "config.json").is_file() and lock.is_file() and lock.read_text().strip()):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    code, _, err = run_cli(capsys, *args, "--out", shared)
    assert_one_line_error(code, err, rf"{re.escape(str(shared))} is in use by PID {proc.pid}")
    code, _, err = run_cli(capsys, "train", "--resume", shared, "--no-progress")
    assert_one_line_error(code, err, rf"in use by PID {proc.pid}")
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    assert not lock.exists()

    torch.set_num_threads(1)
    alone = tmp_path / "alone"
    assert main([*args, "--out", str(alone)]) == 0
    rows = [[{k: v for k, v in json.loads(line).items() if k != "time_s"}
             for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (shared, alone)]
    assert [r["epoch"] for r in rows[0]] == [1, 2] and rows[0] == rows[1]
    from safetensors.torch import load_file
    a, b = load_file(shared / "model.safetensors"), load_file(alone / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lock_is_reentrant_in_one_process_and_removed_after(tmp_path):
    from convzoo.train.lock import LOCK_NAME, run_lock
    with run_lock(tmp_path):
        with run_lock(tmp_path):
            assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()


# --------------------------------------------------------------------------------- --resume
def test_resume_refuses_contradictions_applies_epochs_and_keeps_a_finished_run(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY, "--limit-train", 64, "--epochs", 1, "--out", run)
    assert code == 0, err
    report = (run / "report.json").read_bytes()
    code, _, err = run_cli(capsys, "train", "--resume", "")
    assert_one_line_error(code, err, r"--resume expects a run folder, got ''")
    code, _, err = run_cli(capsys, "train", "--resume", run, "--lr", "0.5", "--epochs", 5)
    assert_one_line_error(code, err, r"--lr 0.5 contradicts the run's lr = 0.001")
    code, _, err = run_cli(capsys, "train", "--resume", run, "--model", "variant_dwsep")
    assert_one_line_error(code, err, r"--model cannot change on --resume")
    code, _, err = run_cli(capsys, "train", "--resume", run, "--no-progress")
    assert code == 0 and "already finished (1 of 1 epochs); nothing to do" in err
    assert (run / "report.json").read_bytes() == report
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", 2, "--no-progress")
    assert code == 0 and "resume: epochs 1 -> 2" in err
    assert [json.loads(r)["epoch"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2


def test_resume_run_is_the_library_call_behind_resume(tmp_path, capsys):
    """``convzoo.runs.resume_run``: the same refusals as typed values (key, given, recorded), nothing
    written when refused, the finished run's own report returned, more epochs trained on."""
    from convzoo.runs import ResumeConflict, read_report, resume_run
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY, "--limit-train", 64, "--epochs", 1, "--out", run)
    assert code == 0, err
    config = (run / "config.json").read_bytes()
    with pytest.raises(ResumeConflict) as e:
        resume_run(run, {"lr": 0.5, "epochs": 2})
    assert (e.value.key, e.value.given, e.value.recorded, e.value.run_key) == ("lr", 0.5, 0.001, False)
    with pytest.raises(ResumeConflict, match=r"model cannot change on resume \(the run's model is variant_conv\)"):
        resume_run(run, run={"model": "variant_dwsep"})
    with pytest.raises(ValueError, match="run key 'lr' is not one of model"):
        resume_run(run, run={"lr": 0.1})
    assert (run / "config.json").read_bytes() == config
    assert resume_run(run, {"lr": 0.001}, run={"model": "variant_conv"}, progress=False) == read_report(run)
    report = resume_run(run, {"epochs": 2}, progress=False)
    assert report["epochs"] == 2 and report == read_report(run)
    assert "resume: epochs 1 -> 2" in capsys.readouterr().err


def test_resume_without_checkpoint_restarts(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY, "--limit-train", 64, "--epochs", 1, "--out", run)
    assert code == 0, err
    killed = tmp_path / "killed"                   # what a kill before the first checkpoint leaves
    killed.mkdir()
    (killed / "config.json").write_bytes((run / "config.json").read_bytes())
    (killed / "metrics.jsonl").write_text("")
    (killed / "checkpoints").mkdir()
    (killed / "checkpoints" / ".epoch_0001.safetensors.abc123.tmp").write_bytes(b"half")
    code, _, err = run_cli(capsys, "train", "--resume", killed, "--no-progress")
    assert code == 0 and "has no checkpoint yet" in err, err
    assert json.loads((killed / "checkpoints" / "last.json").read_text())["epoch"] == 1
    assert not list((killed / "checkpoints").glob("*.tmp"))
    assert (killed / "report.json").is_file()


# ----------------------------------------------------------------------- numeric flag fuzz
# flags where 0 is a meaningful value (off, none, no warm-up); every other numeric flag refuses it
ZERO_OK = {"--weight-decay", "--momentum", "--warmup-epochs", "--min-lr", "--label-smoothing", "--randaugment",
           "--mixup", "--cutmix", "--drop-rate", "--drop-path-rate", "--progressive", "--seed", "--workers",
           "--warmup", "--clutter", "--noise"}
BAD = ["-1", "0", "1e30", "inf", "nan", ""]
POSITIONAL = {"export": ["variant_conv", "--onnx", "never.onnx"], "bench": ["variant_conv"], "eval": [],
              "train": [], "compare": []}


def _numeric_flags():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for cmd in ("train", "compare", "eval", "export", "bench"):
        for action in sub.choices[cmd]._actions:
            if isinstance(action.type, LazyChoice):      # a name, not a number (tests/test_cli_ranges.py)
                continue
            if action.option_strings and (action.type is not None or action.dest == "input_size"):
                yield cmd, max(action.option_strings, key=len)


@pytest.mark.parametrize("cmd,flag", list(_numeric_flags()))
def test_every_numeric_flag_refuses_out_of_range(cmd, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in BAD:
        if value == "0" and flag in ZERO_OK:
            continue
        if flag.startswith("--prog-"):
            value = f"{value}:{value}" if value not in ("", "0") else value or ":"
        code = main([cmd, *POSITIONAL[cmd], flag, value])
        err = capsys.readouterr().err
        assert_one_line_error(code, err, r"error: .*(expected|got)")
    assert not list(tmp_path.iterdir())           # nothing written


def test_train_config_ranges_name_the_field():
    from convzoo.train import TrainConfig
    for bad in (dict(clip_grad=-1), dict(min_lr=-0.01), dict(step_decay=-1), dict(lr=float("inf")),
                dict(limit_test=-1), dict(limit_train=-5), dict(step_epochs=0), dict(num_workers=1000),
                dict(seed=-1), dict(size_range=(300, 128)), dict(min_lr=1.0, lr=0.1)):
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name):
            TrainConfig(**bad)


# ------------------------------------------------------------------------------- finiteness
class _InfGrad(torch.autograd.Function):
    """Identity forward, infinite gradient: the step breaks the weights while the loss stays finite."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return torch.full_like(g, float("inf"))


class _Breaks(nn.Module):
    num_classes = 3

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return _InfGrad.apply(self.fc(x.flatten(1)))


def _toy_data(n=8, label_shift=0):
    from torch.utils.data import TensorDataset
    ds = TensorDataset(torch.randn(n, 4), (torch.arange(n) % 3 + label_shift).long())
    ds.num_classes = 3
    return ds


def test_weights_broken_by_the_last_step_are_never_saved(tmp_path):
    from convzoo.train import TrainConfig, TrainingDiverged, fit
    cfg = TrainConfig(epochs=1, batch_size=8, optimizer="sgd", lr=0.1, latency_runs=1, warmup_epochs=0)
    with pytest.raises(TrainingDiverged, match=r"weight fc\.\w+ became NaN/inf at step 1 \(epoch 1\); "
                                               r"training stopped, no epoch had finished"):
        fit(_Breaks(), _toy_data(), None, cfg, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "model.safetensors").exists()
    assert not list((tmp_path / "checkpoints").glob("*")) if (tmp_path / "checkpoints").exists() else True


def test_out_of_range_labels_are_our_error():
    from convzoo.train import TrainConfig, fit
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"training set: label 3 is outside 0..2"):
        fit(model, _toy_data(label_shift=1), None, TrainConfig(epochs=1, batch_size=8), progress=False)


def test_weights_of_the_wrong_kind_are_refused(tmp_path):
    from safetensors.torch import save_file
    model = nn.Linear(3, 2)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for label, tensor, pattern in (("int8", sd["weight"].to(torch.int8), "is int8, the model's is float32"),
                                   ("bool", sd["weight"] > 0, "is bool"),
                                   ("nan", torch.full_like(sd["weight"], float("nan")), "NaN/inf"),
                                   ("inf", torch.full_like(sd["weight"], float("inf")), "NaN/inf")):
        path = tmp_path / f"{label}.safetensors"
        save_file({**sd, "weight": tensor}, str(path))
        with pytest.raises(ValueError, match=pattern):
            convzoo.load_weights(model, path)
        assert torch.equal(model.weight, sd["weight"])          # untouched
    convzoo.load_weights(model, tmp_path / "nan.safetensors", allow_nonfinite=True)
    assert torch.isnan(model.weight).all()
    with pytest.raises(ValueError, match="refusing to save .* holds NaN/inf"):
        convzoo.save_weights(model, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_export_refuses_a_classifier_it_cannot_load(tmp_path, capsys):
    convzoo.save_weights(convzoo.create_model("variant_conv", in_chans=1), tmp_path / "w.safetensors")
    base = ["export", "variant_conv", "--onnx", tmp_path / "m.onnx", "--weights", tmp_path / "w.safetensors",
            "--num-classes", 3, "--in-chans", 1, "--no-verify"]
    code, _, err = run_cli(capsys, *base)
    assert_one_line_error(code, err, r"checkpoint classifier has 10 outputs, the model has 3: head.fc cannot be "
                                     r"loaded; pass --num-classes to match it, or --allow-new-head")
    assert not (tmp_path / "m.onnx").exists()
    with pytest.warns(UserWarning, match="left at its fresh initialisation"):
        code, _, err = run_cli(capsys, *base, "--allow-new-head")
    assert code == 0 and (tmp_path / "m.onnx").is_file(), err


# ------------------------------------------------------------------------------------- data
def _png(path: Path, value=100, size=(6, 6)):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)


def test_imagefolder_classes_come_from_train_and_odd_entries_are_handled(tmp_path):
    from convzoo.data import get_dataset
    for c in ("a", "b", "c"):
        _png(tmp_path / "train" / c / "0.png")
    _png(tmp_path / "test" / "a" / "0.png")
    _png(tmp_path / "test" / "c" / "0.png", value=7)                 # the test split lacks "b"
    _png(tmp_path / "train" / ".ipynb_checkpoints" / "x.png")        # hidden: not a class
    _png(tmp_path / "train" / "a" / ".hidden.png")
    os.symlink(tmp_path / "train" / "a", tmp_path / "train" / "a" / "loop")   # a link loop
    te = get_dataset("imagefolder", "test", root=str(tmp_path), size=4)
    assert te.classes == ["a", "b", "c"] and te.num_classes == 3 and [y for _, y in te.samples] == [0, 2]
    tr = get_dataset("imagefolder", "train", root=str(tmp_path), size=4)
    assert len(tr) == 3 and tr.classes == ["a", "b", "c"]
    _png(tmp_path / "test" / "d" / "0.png")
    with pytest.raises(ValueError, match=r"class folder\(s\) \['d'\] that the class list lacks"):
        get_dataset("imagefolder", "test", root=str(tmp_path), size=4)


def test_imagefolder_fifo_bomb_and_truncated_files_are_our_errors(tmp_path, monkeypatch):
    from PIL import Image
    from convzoo.data.imagefolder import ImageFolderDataset, open_image
    _png(tmp_path / "train" / "a" / "ok.png")
    os.mkfifo(tmp_path / "train" / "a" / "pipe.png")
    with pytest.raises(ValueError, match=r"pipe.png is not a regular file"):
        ImageFolderDataset(tmp_path, "train", size=4)
    os.unlink(tmp_path / "train" / "a" / "pipe.png")
    big = tmp_path / "big.png"
    _png(big, size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match=r"cannot read image .*big.png: refused as a possible decompression bomb"):
        open_image(big, "RGB")
    monkeypatch.undo()
    cut = tmp_path / "cut.png"
    cut.write_bytes(big.read_bytes()[:60])
    with pytest.raises(ValueError, match=r"cannot read image .*cut.png"):
        open_image(cut, "RGB")


def test_cifar10_labels_and_dtypes_are_checked(tmp_path):
    import pickle
    from convzoo.data import get_dataset
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()

    def write(data, labels):
        (d / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    write(np.zeros((2, 3072), dtype=np.uint8), [3, -100])
    with pytest.raises(ValueError, match=r"test_batch: label -100 is outside 0..9"):
        get_dataset("cifar10", "test", root=str(tmp_path))
    write(np.full((2, 3072), 0.5), [1, 2])
    with pytest.raises(ValueError, match=r"pixels are float64 in \[0.5, 0.5\], expected uint8 0..255"):
        get_dataset("cifar10", "test", root=str(tmp_path))


def test_metadata_paths_may_not_leave_the_root(tmp_path):
    from convzoo.data.ucf101 import UCF101
    from convzoo.data.urbansound import UrbanSound8K
    meta = tmp_path / "us" / "metadata"
    meta.mkdir(parents=True)
    head = "slice_file_name,fsID,start,end,salience,fold,classID,class\n"
    (meta / "UrbanSound8K.csv").write_text(head)
    with pytest.raises(ValueError, match="has a header but no rows"):
        UrbanSound8K(str(tmp_path / "us"), "test")
    (meta / "UrbanSound8K.csv").write_text(head + "../../../x.wav,1,0,1,1,10,3,dog_bark\n")
    with pytest.raises(ValueError, match=r"path '../../../x.wav' leaves"):
        UrbanSound8K(str(tmp_path / "us"), "test")
    (meta / "UrbanSound8K.csv").write_text(head + "a.wav,1,0,1,1,10,12,dog_bark\n")
    with pytest.raises(ValueError, match=r"classID 12 outside"):
        UrbanSound8K(str(tmp_path / "us"), "test")
    lists = tmp_path / "ucf" / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Archery\n")
    (lists / "testlist01.txt").write_text("Archery/../../../etc/passwd\n")
    with pytest.raises(ValueError, match=r"leaves"):
        UCF101(str(tmp_path / "ucf"), "test")


# ----------------------------------------------------------------------------------- export
def test_export_ranges_disk_full_and_stale_temp_files(tmp_path, monkeypatch):
    from convzoo.export import to_onnx
    from convzoo.io import atomic_write
    model = convzoo.create_model("variant_conv", widths=(4, 8), depth=1, in_chans=1)
    with pytest.raises(ValueError, match=r"opset must be an integer in \[13, 20\], got 5"):
        to_onnx(model, tmp_path / "m.onnx", opset=5)
    with pytest.raises(ValueError, match=r"batch must be an integer in \[1, .*\], got 0"):
        to_onnx(model, tmp_path / "m.onnx", batch=0)
    stale = tmp_path / ".m.onnx.k3j2.tmp"
    stale.write_bytes(b"left by a kill")
    os.utime(stale, (time.time() - 7200,) * 2)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(torch.onnx, "export", full)
    with pytest.raises(OSError, match=r"^no space left on \S+ \(needed ~[\d.]+ MB to write .*m.onnx\)$"):
        to_onnx(model, tmp_path / "m.onnx")
    assert not stale.exists() and not list(tmp_path.iterdir())

    def torn(tmp):   # torch.save's message for a full disk
        open(tmp, "wb").write(b"x" * 2_000_000)
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 234112 vs 234000")
    with pytest.raises(OSError, match=r"no space left on .* \(needed ~2.0 MB"):
        atomic_write(tmp_path / "state.pt", torn)
    assert not list(tmp_path.iterdir())
