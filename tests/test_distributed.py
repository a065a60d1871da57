"""``torchrun --nproc_per_node 2 -m convzoo train`` (gloo on CPU) trains the same model as one process
on the same global batch.

The model has no BatchNorm (``norm=None``): with BN each process would normalise with its own half
batch's statistics, so 2 x 16 would legitimately differ from 1 x 32 (SyncBatchNorm, ``--sync-bn``,
is the fix for that in real runs). Each of the 2 processes gets every 2nd sample of the same
permutation, so its 16-sample batches together are exactly the single process's 32-sample batch, and
DDP's gradient average equals the full-batch mean.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from convzoo.cli import main

ARGS = ["train", "--model", "variant_conv", "--model-arg", "norm=None", "--model-arg", "widths=(4,8)",
        "--model-arg", "depth=1", "--limit-train", "192", "--limit-test", "32", "--batch-size", "32",
        "--epochs", "2", "--lr", "1e-2", "--no-progress", "--device", "cpu"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_processes_stay_in_sync_and_match_one_process(tmp_path):
    ddp = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "convzoo", *ARGS, "--out", str(ddp)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((ddp / "report.json").read_text())
    assert report["world_size"] == 2
    # all-reduced max - min of every weight across the two processes: bit-identical
    assert report["rank_max_param_diff"] == 0.0
    # only rank 0 wrote: one summary on stdout, one line per epoch in the log
    assert res.stdout.count("test accuracy") == 1
    assert len((ddp / "metrics.jsonl").read_text().splitlines()) == 2

    torch.set_num_threads(1)
    single = tmp_path / "single"
    assert main([*ARGS, "--out", str(single)]) == 0
    a, b = load_file(ddp / "model.safetensors"), load_file(single / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    # and they did train: the weights moved away from the shared initialisation
    assert json.loads((single / "report.json").read_text())["steps"] == 12
