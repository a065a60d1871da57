"""Allowed ranges of numeric settings: one :class:`Range` per setting, checked in one place.

A range knows its kind (int or float), its bounds (open or closed) and whether ``None`` is allowed;
``Range.check(name, value)`` returns the value or raises one ``ValueError`` line naming the setting,
the range and what came. ``Range.parse`` does the same for a command-line string (argparse ``type=``).
Non-finite numbers (nan, inf) are outside every range.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Range:
    kind: type = float                    # int or float
    lo: Optional[float] = None            # None: unbounded below
    hi: Optional[float] = None            # None: unbounded above (but finite)
    lo_open: bool = False                 # True: lo itself is excluded
    hi_open: bool = False
    optional: bool = False                # None allowed (the setting is off / the default)

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        lo = "-inf" if self.lo is None else _fmt(self.lo)
        hi = "inf" if self.hi is None else _fmt(self.hi)
        left = "(" if self.lo_open or self.lo is None else "["
        right = ")" if self.hi_open or self.hi is None else "]"
        return f"{what} in {left}{lo}, {hi}{right}"

    def contains(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        if self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)):
            return False
        return True

    def check(self, name: str, value: Any) -> Any:
        """``value`` if it lies in the range (ints for int ranges), else a one-line ValueError."""
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{name} must be {self.describe()}, got None")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):   # numpy scalars count
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        if self.kind is int and not float(value).is_integer():
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        if not self.contains(float(value)):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        return int(value) if self.kind is int else float(value)

    def parse(self, text: str) -> Any:
        """A command-line string -> number in the range; raises ValueError (argparse prints it)."""
        s = str(text).strip()
        try:
            v: Any = int(s) if self.kind is int else float(s)
        except ValueError:
            raise ValueError(f"expected {self.describe()}, got {text!r}") from None
        if not self.contains(float(v)):
            raise ValueError(f"expected {self.describe()}, got {text!r}")
        return v

    def argtype(self) -> "ArgType":
        """An argparse ``type=`` callable (its error names the flag through argparse)."""
        return ArgType(self)


class ArgType:
    """argparse ``type=`` for a :class:`Range`: the command-line string as a number in the range, or
    ``argparse.ArgumentTypeError`` naming the range and what came. ``.range`` lets a test tell a
    checked flag from a raw ``type=int``."""

    def __init__(self, rng: Range):
        self.range = rng
        self.__name__ = rng.kind.__name__

    def __call__(self, text: str) -> Any:
        import argparse
        try:
            return self.range.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    def __repr__(self) -> str:
        return f"ArgType({self.range.describe()})"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def check_all(table: dict[str, Range], values: dict[str, Any], prefix: str = "") -> None:
    """Check every entry of ``values`` that ``table`` has a range for."""
    for name, rng in table.items():
        if name in values:
            rng.check(prefix + name, values[name])


# ``to_onnx(opset=)`` and ``convzoo export --opset``: the TorchScript exporter writes opsets 7..20; below 13
# our graphs lose ops they need (Squeeze with axes as an input, Resize modes), so that is the floor we test
# and allow. Here, not in export/onnx.py, so that the CLI's parser reads it without loading torch.
OPSET_RANGE = Range(int, 13, 20)


__all__ = ["ArgType", "Range", "check_all", "OPSET_RANGE"]
