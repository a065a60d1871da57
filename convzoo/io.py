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


def atomic_write(path: PathLike, write: Callable[[str], None], size_hint: int = 0) -> Path:
    """Call ``write(tmp_path)``, then rename the temp file onto ``path``; returns ``path``.

    The temp file is removed if ``write`` fails; a full disk (ENOSPC, or torch's "unexpected pos")
    becomes one OSError "no space left on DEVICE (needed ~N MB ...)" (``size_hint``: the bytes the
    file needs, when known). The result gets the usual permissions (``0666`` less the umask) rather
    than ``mkstemp``'s private ``0600``.
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
    except BaseException as e:
        written = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        if os.path.exists(tmp):
            os.unlink(tmp)
        if _is_disk_full(e):
            raise disk_full_error(path, max(size_hint, written)) from None
        raise
    return path


def _is_disk_full(e: BaseException) -> bool:
    import errno
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(e)
    return "unexpected pos" in text or "No space left" in text


def disk_full_error(path: PathLike, needed_bytes: int) -> OSError:
    """OSError "no space left on DEVICE (needed ~N MB to write PATH)"; the device is the mount
    source of ``path``'s folder (from /proc/mounts where there is one)."""
    import errno
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    dev = folder
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[:2] for line in f if len(line.split()) >= 2]
        inside = [m for m in mounts if folder == m[1] or folder.startswith(m[1].rstrip("/") + "/")]
        if inside:
            dev = max(inside, key=lambda m: len(m[1]))[0]
    except OSError:
        pass
    err = OSError(f"no space left on {dev} (needed ~{max(needed_bytes / 1e6, 0.1):.1f} MB to write {path})")
    err.errno = errno.ENOSPC
    err.exit_code = 1  # type: ignore[attr-defined]  # a fault met while running, not bad input (the CLI's exit code)
    return err


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


def remove_stale_tmp(folder: PathLike, name: Optional[str] = None, older_than_s: float = 0.0) -> list[Path]:
    """Delete the temp files :func:`atomic_write` leaves when the process is killed mid-write
    (``.NAME.XXXX.tmp``; only those of ``name`` when given, only those older than ``older_than_s``).
    Call it where no other writer can be at work (under a run lock) or with an age limit."""
    import time
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for p in folder.glob(f".{name}.*.tmp" if name else ".*.tmp"):
        try:
            if p.is_file() and not p.is_symlink() and now - p.stat().st_mtime >= older_than_s:
                p.unlink()
                removed.append(p)
        except OSError:
            pass
    return removed


__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "write_json", "append_jsonl",
           "read_jsonl", "cache_dir", "disk_full_error", "remove_stale_tmp"]
