"""``convzoo train`` / ``convzoo eval`` from the command line: every bad input is one line on stderr,
exit code 2, no traceback, and nothing already on disk is lost; report.json agrees with eval."""
from __future__ import annotations

import json
import pickle

import pytest

from convzoo.cli import main

from _helpers import assert_one_line_error, run_cli

TINY = ["--model", "variant_conv", "--model-arg", "widths=(8,16)", "--model-arg", "depth=1",
        "--batch-size", "32", "--no-progress"]




def test_report_agrees_with_eval_of_saved_weights(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", *TINY, "--epochs", 1, "--limit-train", 256, "--lr", "1e-2",
                                "--out", out)
    assert code == 0, err
    assert "test accuracy" in stdout and str(out) in stdout
    report = json.loads((out / "report.json").read_text())
    code, stdout, err = run_cli(capsys, "eval", out, "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["accuracy"] == report["accuracy"] and res["agrees_with_report"] is True
    assert res["loss"] == pytest.approx(report["loss"], rel=1e-5)
    assert res["samples"] == 360
    # the same through --model/--weights/--dataset
    code, stdout, err = run_cli(capsys, "eval", "--model", "variant_conv", "--model-arg", "widths=(8,16)",
                                "--model-arg", "depth=1", "--weights", out / "model.safetensors",
                                "--dataset", "digits")
    assert code == 0 and f"accuracy {report['accuracy']:.4f}" in stdout


def test_unknown_model_suggests_close_names(capsys):
    code, _, err = run_cli(capsys, "train", "--model", "variant_cnv", "--no-progress")
    assert_one_line_error(code, err, r"unknown model 'variant_cnv'; did you mean: .*variant_conv")


def test_unknown_dataset_suggests_close_names(capsys):
    code, _, err = run_cli(capsys, "train", "--model", "variant_conv", "--dataset", "digit", "--no-progress")
    assert_one_line_error(code, err, r"unknown dataset 'digit'; did you mean: digits")


def _audio_model_name():
    from convzoo import list_models, register_model
    names = list_models(modality="audio")
    if names:
        return names[0]
    import convzoo.registry as reg
    if "_test_audio_net" not in reg._MODELS:
        from torch import nn

        def _test_audio_net(num_classes=10, in_chans=1, **kw):
            m = nn.Sequential(nn.Conv1d(in_chans, 4, 3), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                              nn.Linear(4, num_classes))
            m.default_cfg, m.dims, m.in_chans, m.num_classes = {"modality": "audio"}, 1, in_chans, num_classes
            return m
        _test_audio_net.modality = "audio"
        register_model(_test_audio_net)
    return "_test_audio_net"


def test_audio_model_on_images_is_refused(tmp_path, capsys):
    name = _audio_model_name()
    code, _, err = run_cli(capsys, "train", "--model", name, "--out", tmp_path / "r", "--no-progress")
    assert_one_line_error(code, err, r"is an audio model but 'digits' is image data; pick an image model")
    assert not (tmp_path / "r").exists()


def test_wrong_channel_count_is_refused(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *TINY, "--model-arg", "in_chans=3", "--out", tmp_path / "r")
    assert_one_line_error(code, err, r"expects 3 input channels but 'digits' gives 1")


def test_missing_dataset_path(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *TINY, "--dataset", "cifar10", "--data-root", tmp_path / "nope")
    assert_one_line_error(code, err, r"CIFAR-10 folder not found: .*nope")
    code, _, err = run_cli(capsys, "train", *TINY, "--dataset", "cifar10")
    assert_one_line_error(code, err, r"is read from disk: pass its folder")


def test_corrupt_dataset_file(tmp_path, capsys):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(b"not a pickle at all")
    code, _, err = run_cli(capsys, "train", *TINY, "--dataset", "cifar10", "--data-root", tmp_path)
    assert_one_line_error(code, err, r"cannot read CIFAR-10 batch .*data_batch_1: corrupt")


def test_malicious_dataset_pickle_is_not_executed(tmp_path, capsys):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}))
    code, out, err = run_cli(capsys, "train", *TINY, "--dataset", "cifar10", "--data-root", d)
    assert_one_line_error(code, err, r"refusing to load builtins.print")
    assert "pwned" not in out


def test_cifar10_pickle_layout_is_read(tmp_path):
    import numpy as np
    from convzoo.data import get_dataset
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 3)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        (d / name).write_bytes(pickle.dumps({b"data": data, b"labels": list(range(n))}))
    tr, te = get_dataset("cifar10", "train", root=str(tmp_path)), get_dataset("cifar10", "test", root=str(d))
    assert (len(tr), len(te)) == (20, 3)
    x, y = te[2]
    raw = pickle.loads((d / "test_batch").read_bytes())[b"data"][2].reshape(3, 32, 32)
    assert x.shape == (3, 32, 32) and y == 2 and np.allclose(x.numpy() * 255, raw)


def test_missing_and_corrupt_checkpoint(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "absent")
    assert_one_line_error(code, err, r"run folder not found")
    code, _, err = run_cli(capsys, "eval", tmp_path / "absent")
    assert_one_line_error(code, err, r"absent does not exist \(expected a registered model name")
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY, "--epochs", 1, "--limit-train", 64, "--limit-test", 32,
                           "--out", run)
    assert code == 0, err
    ckpt = run / "checkpoints" / "epoch_0001.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    report = (run / "report.json").read_bytes()
    (run / "report.json").unlink()              # as if killed before the report: resume reads the state
    code, _, err = run_cli(capsys, "train", "--resume", run, "--no-progress")
    assert_one_line_error(code, err, r"cannot read checkpoint state .*epoch_0001.pt: corrupt")
    assert ckpt.read_bytes() == b"PK\x03\x04 truncated"            # left as found
    (run / "report.json").write_bytes(report)
    (run / "model.safetensors").write_bytes(b"\x01\x02")
    code, _, err = run_cli(capsys, "eval", run)
    assert_one_line_error(code, err, r"cannot read weights .*model.safetensors: corrupt")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, capsys):
    """A 'step' schedule that multiplies the lr by 1e12 after epoch 1 blows the weights up in epoch 2."""
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY, "--epochs", 3, "--limit-train", 128, "--limit-test", 32,
                           "--optimizer", "sgd", "--lr", "0.01", "--schedule", "step", "--step-decay", "1e12",
                           "--step-epochs", 1, "--warmup-epochs", 0, "--out", run)
    assert err.startswith("epoch 1/3 ")                   # --no-progress keeps the per-epoch lines ...
    err = "\n".join(line for line in err.splitlines() if not line.startswith("epoch "))   # ... the error is one
    assert_one_line_error(code, err, r"loss became (nan|inf) at step \d+ \(epoch 2\); training stopped, "
                                     r"last good checkpoint kept: epoch 1", exit_code=1)  # a fault, not bad input
    assert json.loads((run / "checkpoints" / "last.json").read_text())["epoch"] == 1
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1 and json.loads(rows[0])["epoch"] == 1
    assert (run / "config.json").is_file() and not (run / "report.json").exists()


def test_existing_run_folder_is_not_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", run)
    assert_one_line_error(code, err, r"already holds files; continue it with --resume")
    assert (run / "notes.txt").read_text() == "mine" and len(list(run.iterdir())) == 1


def test_help_explains_every_command(capsys):
    for cmd in ("train", "eval", "compare"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "example" in capsys.readouterr().out
