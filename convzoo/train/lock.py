"""An exclusive lock per run folder: one writer at a time.

``with run_lock(folder): ...`` takes an ``flock`` on ``folder/.convzoo.lock`` (the kernel drops it
when the process dies, so a killed run leaves no stale lock) and writes the holder's PID into it. A
second process asking for the same folder is refused at once with :class:`RunLockedError` naming
that PID, instead of interleaving its epochs with the first one's. The lock is re-entrant within a
process (the CLI takes it before it validates the folder, the trainer again for the run).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".convzoo.lock"

_held: dict[str, list] = {}     # resolved folder -> [fd, depth]


class RunLockedError(RuntimeError):
    """Another process holds the folder's lock; the message is one line naming its PID."""


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "another process"


def acquire(folder: os.PathLike | str) -> None:
    """Take the lock of ``folder`` (created if absent); RunLockedError if another process holds it."""
    import fcntl
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    if key in _held:
        _held[key][1] += 1
        return
    path = folder / LOCK_NAME
    for _ in range(3):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(f"{folder} is in use by {_holder(path)} (another convzoo run writes "
                                 f"there); wait for it to finish or choose another folder") from None
        try:   # the holder we raced may have removed the file after we opened it: lock the new one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise RunLockedError(f"cannot lock {path}: it keeps being replaced by another process")
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[key] = [fd, 1]


def release(folder: os.PathLike | str) -> None:
    """Give the lock of ``folder`` back (the lock file is removed while still held)."""
    key = str(Path(folder).resolve())
    entry = _held.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[key]
    with contextlib.suppress(OSError):
        os.unlink(Path(folder) / LOCK_NAME)
    os.close(entry[0])


@contextlib.contextmanager
def run_lock(folder: os.PathLike | str) -> Iterator[None]:
    acquire(folder)
    try:
        yield
    finally:
        release(folder)


def is_lock_file(path: Path) -> bool:
    return path.name == LOCK_NAME


__all__ = ["run_lock", "acquire", "release", "RunLockedError", "LOCK_NAME", "is_lock_file"]
