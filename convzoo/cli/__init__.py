"""The ``convzoo`` command line.

Each subcommand lives in its own module ``convzoo/cli/cmd_<name>.py`` exposing
``register(subparsers)``, which adds a parser and sets ``func=run`` (``run(args) -> int``). Modules
are discovered automatically, so commands are added without editing this file.

Errors meant for the user are raised as :class:`CLIError` (or ValueError/FileNotFoundError from the
library) and printed as one line on stderr with exit code 2 (1 for faults met while running, such
as a diverged training run); no traceback unless ``--debug``. argparse's own errors are one line too.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
import warnings
from typing import Optional, Sequence

from .._extras import MissingExtraError


class CLIError(Exception):
    """An error to show the user as one line, with exit code ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (what was expected, what came) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# the libraries convzoo drives: their deprecation notes and start-up chatter are not the command's output
_DEPENDENCIES = ("torch", "torchvision", "onnx", "onnxruntime", "openvino", "nncf", "timm", "torchao", "tensorly",
                "executorch", "litert_torch", "ai_edge_litert", "jax", "absl")


@contextlib.contextmanager
def _quiet_dependencies(debug: bool):
    """Warnings raised in, and log lines below ERROR from, the libraries convzoo calls are hidden for the
    command's duration (``--debug`` shows them); convzoo's own warnings still print."""
    if debug:
        yield
        return
    loggers = [logging.getLogger(name) for name in _DEPENDENCIES]
    levels = [log.level for log in loggers]
    # torch re-reads TORCH_LOGS whenever it re-initialises its loggers (importing dynamo, compiling with
    # inductor) and so undid the ERROR level below: "No CUDA runtime is found" printed under `quantize
    # --qat-epochs`. Unless the user set TORCH_LOGS, it asks for errors only while the command runs.
    torch_logs = os.environ.get("TORCH_LOGS")
    if torch_logs is None:
        os.environ["TORCH_LOGS"] = "-all"
    with warnings.catch_warnings():
        for name in _DEPENDENCIES:
            warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
        for log in loggers:
            log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for log, level in zip(loggers, levels):
                log.setLevel(level)
            if torch_logs is None:
                os.environ.pop("TORCH_LOGS", None)


def commands() -> list[str]:
    """The subcommands: one ``cmd_<name>.py`` module each."""
    import convzoo.cli as pkg
    return sorted(i.name[4:] for i in pkgutil.iter_modules(pkg.__path__) if i.name.startswith("cmd_"))


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, that command's parser in full and the others as their one-line
    help (what ``convzoo --help`` lists): a command's ``register`` may load its library, and ``convzoo
    --help``, ``--version`` and ``convzoo <cmd> --help`` should load only what they show."""
    parser = _Parser(
        prog="convzoo",
        description="Convolution variants and the networks built from them: compare, train, "
                    "measure and export.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"convzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands():
        module = importlib.import_module(f"{__name__}.cmd_{name}")
        if only is None or name == only:
            module.register(sub)
        else:
            sub.add_parser(name, help=module.HELP)
    return parser


def _command_in(argv: Sequence[str]) -> Optional[str]:
    """The subcommand ``argv`` names (its first word that is not an option), or "" when none."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in commands() else ""


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:     # Ctrl-C at any moment, imports included: one line, no traceback
        print("convzoo: interrupted", file=sys.stderr)
        return 130


def _main(argv: Optional[Sequence[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # building the parser imports the command's library (and so torch, torchao): quiet from the start
    with _quiet_dependencies("--debug" in argv):
        return _run(argv)


def _run(argv: list) -> int:
    parser = build_parser(_command_in(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:   # a bad flag (already printed as one line) is a return value, like any error
        if e.code in (0, None):
            raise             # --help, --version
        return int(e.code) if isinstance(e.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as e:
        if args.debug:
            raise
        print(f"convzoo {args.command}: error: {e}", file=sys.stderr)
        return e.code
    except MissingExtraError as e:   # an optional dependency: the message names the extra
        if args.debug:
            raise
        print(f"convzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, TypeError, RuntimeError, OSError) as e:
        if args.debug:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"convzoo {args.command}: error: {msg}", file=sys.stderr)
        # bad input is 2; a fault met while running (e.g. training diverged) says its own code
        return int(getattr(e, "exit_code", 2))
