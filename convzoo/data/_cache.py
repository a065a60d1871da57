"""On-disk cache for the generated datasets: one ``.npz`` per (dataset, version, parameters).

The folder is ``root`` if given, else ``$CONVZOO_CACHE``, else ``~/.cache/convzoo``. Writes are atomic
(a temp file in the same folder, then ``os.replace``), so an interrupted or concurrent generation
never leaves a half-written file that a later run would trust.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..io import atomic_write, atomic_write_bytes, cache_dir  # noqa: F401  (re-exported)


def cache_path(name: str, params: dict, root: Optional[str] = None) -> Path:
    """``<cache>/<name>/<name>-<hash of params>.npz``; the parameters are stored beside it as JSON."""
    key = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir(root) / name / f"{name}-{digest}.npz"


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (.npz, uncompressed) atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    atomic_write(path, write)


def cached_arrays(name: str, params: dict, generate: Callable[[], dict[str, np.ndarray]],
                  root: Optional[str] = None, cache: bool = True) -> dict[str, np.ndarray]:
    """Load the arrays for ``params`` from the cache, or ``generate()`` them and store them."""
    if not cache:
        return generate()
    path = cache_path(name, params, root)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass   # unreadable cache file: regenerate and overwrite it
    arrays = generate()
    save_arrays(path, arrays)
    atomic_write_bytes(path.with_suffix(".json"),
                       json.dumps(params, sort_keys=True, indent=1, default=str).encode())
    return arrays
