"""External programs some tests need (espeak-ng, Chromium): skip with the reason on a bare machine,
fail under ``CI=true``, where ``.ci/run`` installs them, so those tests cannot silently stop running.
(PostgreSQL follows the same rule in ``_postgres.py``.)"""
from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def tool_missing(reason: str):
    """Skip (outside CI) or fail (CI) the calling test because ``reason``."""
    if IN_CI:
        pytest.fail(f"needed in CI (.ci/run installs it): {reason}")
    pytest.skip(reason)
