"""Killed with SIGKILL mid-epoch and resumed, a run ends with exactly the weights of an uninterrupted
run of the same seed (CPU, deterministic algorithms)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from convzoo.cli import main

ARGS = ["train", "--model", "variant_conv", "--model-arg", "widths=(4,8)", "--model-arg", "depth=1",
        "--limit-train", "256", "--limit-test", "32", "--batch-size", "32", "--epochs", "3", "--lr", "1e-2",
        "--ema-decay", "0.9", "--label-smoothing", "0.1", "--deterministic", "--no-progress"]


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def _last_epoch(run: Path) -> int:
    try:
        return json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    killed = tmp_path / "killed"
    # 8 steps per epoch at >= 0.2 s each: the kill below lands inside epoch 2 (>= 1.6 s long)
    proc = subprocess.Popen([sys.executable, "-m", "convzoo", *ARGS, "--out", str(killed)],
                            env=_env(CONVZOO_STEP_SLEEP="0.2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _last_epoch(killed) < 1:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    time.sleep(0.5)                        # ~2 steps into epoch 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _last_epoch(killed) == 1 and not (killed / "model.safetensors").exists()

    # resume in a fresh process, like a user would
    res = subprocess.run([sys.executable, "-m", "convzoo", "train", "--resume", str(killed), "--no-progress"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr

    torch.set_num_threads(1)
    straight = tmp_path / "straight"
    assert main([*ARGS, "--out", str(straight)]) == 0

    a, b = load_file(killed / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = [json.loads(l) for l in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (killed, straight))
    assert ra["accuracy"] == rb["accuracy"] and ra["resumed"] is True
