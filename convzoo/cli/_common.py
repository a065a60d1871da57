"""Helpers shared by the CLI's commands (and only by them)."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

from . import CLIError


def default_out(command: str, base: str = "runs") -> Path:
    """``runs/<command>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` ... when it exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p, i = Path(base) / f"{command}-{stamp}", 1
    while p.exists():
        i += 1
        p = Path(base) / f"{command}-{stamp}-{i}"
    return p


@contextlib.contextmanager
def study_errors():
    """A missing extra or an unreachable database server as one line (exit 2, server down: 1)."""
    from .._extras import MissingExtraError
    from ..scaling.storage import StorageUnreachable
    try:
        yield
    except MissingExtraError as e:
        raise CLIError(str(e)) from None
    except StorageUnreachable as e:
        raise CLIError(str(e), code=1) from None
