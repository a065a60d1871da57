"""Helpers shared by the CLI commands (and only by them): the ranges of flags that are not
TrainConfig fields, typed argparse flags built from the range tables, which flags the user actually
gave, default output folders, and study errors as one line.

Every numeric flag gets ``type=flag_type(NAME)``: argparse then refuses a value outside the range
in one line ("argument --lr: expected a number in (0, 10], got 'inf'") with exit code 2, before
the command does anything.
"""
from __future__ import annotations

import argparse
import re
import contextlib
from pathlib import Path

from ..ranges import Range
from . import CLIError

# CLI flags that are not TrainConfig fields (those come from convzoo.train.config.RANGES)
CLI_RANGES: dict[str, Range] = {
    "threads": Range(int, 1, 1024),
    "num_classes": Range(int, 1, 1_000_000),
    "in_chans": Range(int, 1, 4096),
    "static_batch": Range(int, 1, 1 << 20),
    "bench_batch": Range(int, 1, 1 << 20),
    "runs": Range(int, 1, 1_000_000),
    "warmup": Range(int, 0, 1_000_000),
    "max_rows": Range(int, 1, 1 << 30),
    "drop_path_rate": Range(float, 0, 1, hi_open=True),
    "seeds": Range(int, 1, 1000),
    "train_size": Range(int, 1, 10_000_000),
    "test_size": Range(int, 1, 10_000_000),
    "compare_workers": Range(int, 1, 64),
    "clutter": Range(int, 0, 64),
    "noise": Range(float, 0, 1),
    "topk": Range(int, 1, 1000),
    "per_shard": Range(int, 1, 1 << 30),
    "heartbeat": Range(int, 1, 86_400),                  # seconds
    "trials": Range(int, 1, 1_000_000),
    "target": Range(float, 0, None, lo_open=True),        # MACs or ms
    "calibration": Range(int, 1, 1 << 20),               # samples
    "check_samples": Range(int, 1, 1 << 30),
    "max_drop": Range(float, 0, 100, optional=True),     # points of top-1
    # compress: the factorisation target (one of the three) and its fine-tuning
    "speedup": Range(float, 1, None, lo_open=True),
    "energy": Range(float, 0, 1, lo_open=True),
    "rank": Range(int, 1, 1 << 20),
    "finetune_epochs": Range(int, 0, 100_000),
    # quantize: quantization-aware training
    "qat_epochs": Range(int, 0, 100_000),
    "qat_lr": Range(float, 0, 1, lo_open=True),
}


def flag_range(name: str) -> Range:
    from ..ranges import OPSET_RANGE
    from ..train.config import RANGES
    if name == "opset":
        return OPSET_RANGE
    return CLI_RANGES.get(name) or RANGES[name]


def flag_type(name: str):
    """argparse ``type=`` for the flag whose range is ``name`` in the tables."""
    return flag_range(name).argtype()


class LazyChoice:
    """argparse ``type=`` for a flag whose choices a library holds (an engine, a backend): they are read
    when the flag is parsed, not when the parser is built, so that building the parser, and ``--help``,
    load nothing; a name outside them is argparse's own "invalid choice" line. ``choices`` is a
    ``"module:attribute"`` path to a sequence, or to a function that returns one."""

    def __init__(self, choices: str, extra: tuple = ()):
        self.choices, self.extra = choices, tuple(extra)

    def read(self) -> list:
        """The library's choices, then ``extra`` (names the command adds, e.g. bench's "all")."""
        import importlib
        module, attr = self.choices.split(":")
        found = getattr(importlib.import_module(module), attr)
        return list(found() if callable(found) else found) + list(self.extra)

    def __call__(self, value: str) -> str:
        names = self.read()
        if value not in names:
            raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {', '.join(map(repr, names))})")
        return value

    def __repr__(self) -> str:
        return f"LazyChoice({self.choices!r})"


def _explicit_call(self, parser, namespace, values, option_string=None):
    super(type(self), self).__call__(parser, namespace, values, option_string)
    namespace.__dict__.setdefault("explicit_flags", set()).add(self.dest)


def record_explicit(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` note in ``args.explicit_flags`` the dest of every option given on the command
    line (so ``--resume`` can tell ``--lr 1e-3`` given from the default 1e-3)."""
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            cls = action.__class__
            action.__class__ = type(cls.__name__, (cls,), {"__call__": _explicit_call})


def explicit(args) -> set:
    return set(getattr(args, "explicit_flags", ()) or ())


def default_out(command: str, base: str = "runs") -> Path:
    """``runs/<command>-<YYYYmmdd-HHMMSS>`` (:func:`convzoo.runs.default_out_dir`'s rule), imported
    here on call: convzoo.runs imports torch, which the CLI must not load just to build its parser."""
    from ..runs import default_out_dir
    return default_out_dir(command, base=base)


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


def parse_input_size(values) -> tuple[int, ...]:
    parts = [v for item in values for v in re.split(r"[,x\s]+", item.strip().strip("()[]")) if v]
    try:
        size = tuple(int(v) for v in parts)
    except ValueError:
        raise CLIError(f"--input-size expects positive integers like 3 224 224, got "
                       f"{' '.join(values)!r}") from None
    if not size or any(v < 1 for v in size):
        raise CLIError(f"--input-size expects positive integers like 3 224 224, got "
                       f"{' '.join(values)!r}")
    return size


def load_from_args(args, source_attr: str = "model"):
    """:func:`convzoo.runs.load_source` of ``args.<source_attr>`` with the flags that go with it
    (``--weights``, ``--num-classes``, ``--in-chans``, ``--threads``)."""
    from convzoo.runs import load_source
    return load_source(getattr(args, source_attr), weights=getattr(args, "weights", None),
                       num_classes=getattr(args, "num_classes", None), in_chans=getattr(args, "in_chans", None),
                       threads=getattr(args, "threads", None))
