"""Every numeric flag of every command goes through the range table (``convzoo.cli._common.flag_type``):
a value outside its range, or no number at all, is one line naming the flag, the accepted range and
what came, exit code 2. A new ``type=int``/``type=float`` flag fails here."""
from __future__ import annotations

import argparse
import numbers
import types

import pytest

from convzoo.cli import build_parser, main
from convzoo.cli._common import LazyChoice
from convzoo.ranges import ArgType, Range

# typed flags that are not single numbers: the MIN:MAX pairs of progressive learning
NOT_A_NUMBER = {("train", "--prog-size"), ("train", "--prog-randaug"), ("train", "--prog-mixup"),
                ("train", "--prog-dropout")}


def _typed_options():
    root = build_parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    for cmd, parser in sorted(sub.choices.items()):
        for action in parser._actions:
            if action.option_strings and action.type is not None:
                yield pytest.param(cmd, action, id=f"{cmd} {max(action.option_strings, key=len)}")


OPTIONS = list(_typed_options())


def _raw(kind) -> bool:
    """``int``, ``float``, any builtin callable or number class: a type that checks no range."""
    return (isinstance(kind, (types.BuiltinFunctionType, types.BuiltinMethodType))
            or (isinstance(kind, type) and (issubclass(kind, numbers.Number) or kind.__module__ == "builtins")))


def _outside(rng: Range) -> str:
    if rng.lo is not None:
        return str(rng.lo if rng.lo_open else rng.lo - 1)
    if rng.hi is not None:
        return str(rng.hi if rng.hi_open else rng.hi + 1)
    return "nan"


def test_the_fuzz_sees_the_numeric_flags():
    """Guard: the introspection finds flags of many commands (it cannot pass on an empty list)."""
    commands = {p.values[0] for p in OPTIONS}
    assert {"bench", "compress", "deploy", "quantize", "search", "summary", "train"} <= commands
    assert len(OPTIONS) > 60


@pytest.mark.parametrize("cmd,action", OPTIONS)
def test_every_numeric_flag_is_a_range_type(cmd, action):
    flag = max(action.option_strings, key=len)
    assert not _raw(action.type), f"{cmd} {flag}: type={action.type!r}; use flag_type(NAME) from cli/_common.py"
    if isinstance(action.type, LazyChoice):     # a name read from the library (an engine, a backend)
        return
    assert isinstance(action.type, ArgType) or (cmd, flag) in NOT_A_NUMBER, (cmd, flag, action.type)


@pytest.mark.parametrize("cmd,action", [p for p in OPTIONS if isinstance(p.values[1].type, LazyChoice)])
def test_a_name_outside_the_library_choices_is_one_line(cmd, action, capsys):
    """The choices come from the library when the flag is parsed; a wrong name is argparse's one line
    listing them, exit 2, and every listed name is accepted."""
    flag = max(action.option_strings, key=len)
    names = action.type.read()
    assert names and all(action.type(n) == n for n in names)
    code = main([cmd, flag, "no-such-name"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert "invalid choice: 'no-such-name'" in lines[0] and repr(names[0]) in lines[0], lines[0]


@pytest.mark.parametrize("cmd,action", [p for p in OPTIONS if isinstance(p.values[1].type, ArgType)])
def test_out_of_range_and_non_numeric_values_are_one_line(cmd, action, capsys):
    flag = max(action.option_strings, key=len)
    rng = action.type.range
    for value in (_outside(rng), "abc"):
        code = main([cmd, flag, value])
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1, err
        assert f"argument {flag}" in lines[0] or f"argument {'/'.join(action.option_strings)}" in lines[0]
        assert f"expected {rng.describe()}, got {value!r}" in lines[0], lines[0]
