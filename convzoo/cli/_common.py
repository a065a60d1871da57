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
}


def flag_range(name: str) -> Range:
    from ..train.config import RANGES
    if name == "opset":
        from ..export.onnx import OPSET_RANGE
        return OPSET_RANGE
    return CLI_RANGES.get(name) or RANGES[name]


def flag_type(name: str):
    """argparse ``type=`` for the flag whose range is ``name`` in the tables."""
    return flag_range(name).argtype()


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
    """``runs/<command>-<YYYYmmdd-HHMMSS>`` (:func:`convzoo.train.runs.default_out_dir`'s rule), imported
    here on call: train.runs imports torch, which the CLI must not load just to build its parser."""
    from ..train.runs import default_out_dir
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


def model_from_args(args):
    """The model named in ``args`` with ``--num-classes``/``--in-chans``/``--weights`` applied; a run
    folder gives its trained model at the input size it trained at (``args.run_config`` is set)."""
    import convzoo
    import convzoo.weights
    from convzoo.registry import model_entrypoint
    from convzoo.train.runs import is_run_dir, load_run, run_input_size
    if is_run_dir(args.model):
        if getattr(args, "num_classes", None) or getattr(args, "in_chans", None):
            raise CLIError(f"{args.model} is a run folder: its classes and channels are its own "
                           "(--num-classes / --in-chans do not apply)")
        model, cfg = load_run(args.model, weights=getattr(args, "weights", None))
        args.run_config = cfg
        size = run_input_size(cfg)
        if size is not None and isinstance(getattr(model, "default_cfg", None), dict):
            model.default_cfg["input_size"] = size
        return model

    model_entrypoint(args.model)          # unknown name -> one-line error with close names
    kwargs = {k: v for k, v in (("num_classes", args.num_classes), ("in_chans", args.in_chans))
              if v is not None}
    model = convzoo.create_model(args.model, **kwargs)
    if args.weights:
        # convzoo.load_weights: our own files and timm/torchvision layouts, strict with one error
        # listing every differing key (a missing or corrupt file too); a classifier of another
        # width is an error unless --allow-new-head (then reset, with a warning)
        allow = bool(getattr(args, "allow_new_head", False))
        try:
            convzoo.load_weights(model, args.weights, allow_new_head=allow)
        except convzoo.weights.WeightsMismatchError as e:
            if "classifier" not in str(e).splitlines()[0] or not hasattr(args, "allow_new_head"):
                raise
            raise CLIError(f"{str(e).splitlines()[0].split(' (build')[0]}; pass --num-classes to match it, "
                           f"or --allow-new-head to export an untrained classifier") from None
    return model.eval()
