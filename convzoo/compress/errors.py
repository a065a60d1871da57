"""The two refusals of :func:`convzoo.compress.compress` that carry more than their one line: nothing to
factor (``.layers``: why each conv stayed dense) and a measured speed-up target not reached (``.report``
and ``.model``: the best round, with its latencies, for a caller that wants to look at it). Both are
``ValueError``s, so the CLI prints the line and exits 2, and nothing is written."""
from __future__ import annotations

import re
from collections import Counter


class NothingToCompress(ValueError):
    """The method factors none of the model's convs (or none that saves MACs / time)."""

    def __init__(self, message: str, layers: list):
        super().__init__(message)
        self.layers = layers


class SpeedupNotReached(ValueError):
    """``speedup=S`` measured short of S after the search; ``.report`` and ``.model`` are the best round's."""

    def __init__(self, message: str, report: dict, model):
        super().__init__(message)
        self.report = report
        self.model = model


def _kind(reason: str) -> str:
    """A dense row's reason without its per-layer numbers: "not depthwise", "1x1 kernel", ..."""
    head = re.sub(r"\s*\(.*?\)", "", reason.split(":")[0])
    return re.sub(r" at rank \d+", "", head).strip()


def nothing_to_compress(method: str, rows: list) -> NothingToCompress:
    counts = Counter(_kind(r["reason"]) for r in rows)
    why = "; ".join(f"{n} x {k}" for k, n in counts.most_common())
    return NothingToCompress(f"method {method!r} factors none of the model's {len(rows)} convs, nothing compressed: "
                             f"{why}", rows)
