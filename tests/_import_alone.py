"""The child of ``test_structure.test_every_module_imports_alone``: a module of its own that imports
nothing, so a child forked from the forkserver (torch and NumPy preloaded) pays only for ``name``."""
import sys


def import_alone(name: str, conn) -> None:
    for mod in [m for m in sys.modules if m == "convzoo" or m.startswith("convzoo.")]:
        del sys.modules[mod]
    try:
        __import__(name)
        conn.send("")
    except BaseException as e:  # noqa: BLE001 - report whatever broke the import
        conn.send(f"{type(e).__name__}: {e}")
