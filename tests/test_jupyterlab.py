"""`make notebooks` opens JupyterLab on the course notebooks: the recipe runs ``jupyter lab`` on
docs/notebooks, and JupyterLab started that way, headless on 127.0.0.1 with a token, serves the lab page
and a notebook over its contents API. Skipped without jupyterlab (the 'docs' extra) except under CI."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from _tools import tool_missing

REPO = Path(__file__).resolve().parents[1]


def test_make_notebooks_runs_jupyterlab_on_the_notebooks():
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^notebooks: setup\n\t(.+)$", makefile, re.M)
    assert recipe, "the Makefile has no `notebooks: setup` target"
    assert "jupyter lab --notebook-dir=docs/notebooks" in recipe.group(1)
    docs_extra = re.search(r"^docs = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.S | re.M)
    assert docs_extra and '"jupyterlab"' in docs_extra.group(1), "jupyterlab is not in the docs extra"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def test_jupyterlab_serves_a_notebook_over_127_0_0_1(tmp_path):
    """About 7 s on a busy 2-core machine."""
    if importlib.util.find_spec("jupyterlab") is None:
        tool_missing("jupyterlab is not installed (the 'docs' extra brings it: make notebooks)")
    port, token = _free_port(), secrets.token_hex(16)
    # its config, data and runtime files in tmp_path, none in the user's home
    env = {**os.environ, **{f"JUPYTER_{k}_DIR": str(tmp_path / k.lower()) for k in ("CONFIG", "DATA", "RUNTIME")}}
    cmd = [sys.executable, "-m", "jupyterlab", "--notebook-dir=docs/notebooks", "--no-browser",
           "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")           # CI containers run as root; JupyterLab refuses without it
    log = (tmp_path / "jupyterlab.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}"
            try:
                if _get(f"{base}/api/status", token)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
            time.sleep(0.5)
        status, body = _get(f"{base}/api/contents/01-separable-filters.ipynb?content=1", token)
        model = json.loads(body)
        assert status == 200 and model["type"] == "notebook"
        assert model["content"]["cells"][0]["source"].startswith("# Separable filters")
        status, page = _get(f"{base}/lab", token)
        assert status == 200 and b"JupyterLab" in page
        with pytest.raises(urllib.error.HTTPError, match="403"):      # the token is required
            urllib.request.urlopen(f"{base}/api/contents/01-separable-filters.ipynb", timeout=10)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
