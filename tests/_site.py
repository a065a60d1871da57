"""The documentation site built once per test process (``mkdocs build --strict`` into a temporary
folder), shared by tests/test_site.py and tests/test_site_i18n.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_BUILT: dict = {}


def _build(out: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("mkdocs", reason="mkdocs is in the 'docs' extra: pip install -e '.[docs]'")
    pytest.importorskip("material", reason="mkdocs-material is in the 'docs' extra")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}     # mkdocs-material's banner about MkDocs 2.0
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                           str(REPO / "mkdocs.yml"), "-d", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


def built_site(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """(site folder, the build's process result); built on first use."""
    if "site" not in _BUILT:
        out = tmp_path_factory.mktemp("site")
        proc = _build(out)
        assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
        _BUILT["site"] = (out, proc)
    return _BUILT["site"]
