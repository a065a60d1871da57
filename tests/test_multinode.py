"""Two torchrun "nodes" on 127.0.0.1 (c10d rendezvous, one gloo process each) train the same weights
as one process, and a run whose every rank is killed resumes to the same weights.

The same setting as ``test_distributed.py`` (no BatchNorm, each rank every 2nd sample of the same
permutation, DDP's mean gradient = the full batch's), but launched as two agents that meet at a
rendezvous endpoint, as two machines would: ``--nnodes 2 --node_rank 0|1 --rdzv_backend c10d``.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from convzoo.cli import main

ARGS = ["train", "--model", "variant_conv", "--model-arg", "norm=None", "--model-arg", "widths=(4,8)",
        "--model-arg", "depth=1", "--limit-train", "96", "--limit-test", "32", "--batch-size", "32",
        "--epochs", "3", "--lr", "1e-2", "--no-progress", "--device", "cpu"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nodes(extra: list[str], env: dict) -> list[subprocess.Popen]:
    port = _port()
    return [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
         "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
         "--rdzv_id", f"convzoo-test-{port}", "--rdzv_conf", f"is_host={int(rank == 0)}",
         "-m", "convzoo", *ARGS, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for rank in (0, 1)]


def _wait(procs, timeout=300):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_nodes_match_one_process_and_resume_after_all_ranks_die(tmp_path):
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=root,
               GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    run = tmp_path / "two-nodes"
    # slow steps so there is time to kill both ranks after the first checkpoint
    procs = _nodes(["--out", str(run)], dict(env, CONVZOO_STEP_SLEEP="0.3"))
    last = run / "checkpoints" / "last.json"
    deadline = time.monotonic() + 240
    while not last.exists():
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
            procs[0].stderr.read()[-3000:] if procs[0].poll() is not None else "no checkpoint in time"
        time.sleep(0.1)
    for p in procs:                                      # every rank and its agent, at once
        os.killpg(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait()
    assert not (run / "report.json").exists()

    _wait(_nodes(["--resume", str(run)], env))
    torch.set_num_threads(1)
    single = tmp_path / "single"
    assert main([*ARGS, "--out", str(single)]) == 0
    a, b = load_file(run / "model.safetensors"), load_file(single / "model.safetensors")
    assert a.keys() == b.keys()
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert diff <= 1e-6, diff
