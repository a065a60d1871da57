"""Compression by the lecture's factorisations: a trained network's convs replaced by cheaper split
forms (spatial / (2+1)D, channel, Tucker-2, CP, depthwise-separable, separable depthwise).

    >>> from convzoo.compress import compress
    >>> small, report = compress(model, "spatial", macs_ratio=2.0, example_input=x)   # 2x fewer MACs
    >>> report["macs_before"] / report["macs_after"]
    >>> fast, report = compress(model, "spatial", speedup=2.0, example_input=x)      # 2x measured (ONNX Runtime)

See docs/compress.md for which method when, and where a factorised form is slower than the dense conv.
"""
import sys
import types

from .._lazy import lazy_exports
from .errors import NothingToCompress, SpeedupNotReached

__all__ = ["compress", "apply_spec", "METHODS", "NothingToCompress", "SpeedupNotReached"]
# loaded on first use: `convzoo compress --help` reads the default recipe (.recipe) without loading torch
__getattr__, __dir__ = lazy_exports(__name__, {"compress": ".api", "apply_spec": ".api", "METHODS": ".api"})


class _CallableModule(types.ModuleType):
    """``convzoo.compress(model, ...)`` must work after ``import convzoo.compress`` too, when the name
    is this package rather than the function (Python binds a subpackage over the lazy attribute)."""

    def __call__(self, *args, **kwargs):
        from .api import compress
        return compress(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
