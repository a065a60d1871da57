"""File helpers: atomic writes, JSON and JSON-lines; the one place convzoo writes files that must
never be left half-written.

Every writer goes through :func:`atomic_write`: the content goes to a temp file in the target's
folder, is flushed to disk, and is renamed over the target with ``os.replace`` (atomic on POSIX), so
a crash or SIGKILL at any moment leaves either the old file or the new one, never a torn one.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional, Union

PathLike = Union[str, os.PathLike]


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, then rename the temp file onto ``path``; returns ``path``.

    The temp file is removed if ``write`` fails. The result gets the usual permissions (``0666`` less
    the umask) rather than ``mkstemp``'s private ``0600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    return atomic_write(path, write)


def atomic_write_text(path: PathLike, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    return atomic_write(path, write)


def cache_dir(root: Optional[str] = None) -> Path:
    """The cache folder: ``root``, else ``$CONVZOO_CACHE``, else ``~/.cache/convzoo``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CONVZOO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "convzoo"


def write_json(path: PathLike, obj) -> None:
    """``obj`` as indented JSON, written atomically."""
    atomic_write_text(Path(path), json.dumps(obj, indent=2, sort_keys=False) + "\n")


def append_jsonl(path: PathLike, row: dict) -> None:
    """Append one JSON line and flush (a log that a kill can cut only at its last line)."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()


def read_jsonl(path: PathLike) -> list[dict]:
    """Rows of a JSON-lines file; a missing file is empty, a line cut short by a kill is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "write_json", "append_jsonl",
           "read_jsonl", "cache_dir"]
