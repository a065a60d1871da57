"""``convzoo --help``, ``--version`` and ``convzoo <cmd> --help`` load no torch: they show text, and a
user waits seconds for torch's import (checked in a fresh interpreter through ``sys.modules``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convzoo.cli import commands

SCRIPT = """
import sys
from convzoo.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("torch loaded" if "torch" in sys.modules else "no torch", file=sys.stderr)
"""
# commands whose --help still loads torch: none (bench reads the engine names when --engine is parsed)
LOADS_TORCH: set[str] = set()


def _torch_loaded(*argv: str) -> bool:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, env=env, timeout=120)
    assert p.stdout.strip(), p.stderr            # the help or version text was printed
    return p.stderr.strip().splitlines()[-1] == "torch loaded"


@pytest.mark.parametrize("argv", [["--help"], ["--version"]], ids=" ".join)
def test_top_level_help_and_version_load_no_torch(argv):
    assert not _torch_loaded(*argv)


@pytest.mark.parametrize("command", commands())
def test_command_help_loads_no_torch(command):
    if command in LOADS_TORCH:
        pytest.xfail(f"{command} --help still loads torch (see LOADS_TORCH)")
    assert not _torch_loaded(command, "--help")


def test_a_command_help_is_the_same_whether_or_not_the_others_are_built():
    """The parser built for one command (what main does) prints that command's help as the whole parser does."""
    from convzoo.cli import build_parser

    def sub(parser, name):
        import argparse
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    full = build_parser()
    for name in commands():
        assert sub(build_parser(name), name).format_help() == sub(full, name).format_help(), name
    assert build_parser("").format_help() == full.format_help()
