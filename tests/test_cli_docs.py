"""docs/cli.md's command reference (and its Spanish twin's) is the parsers' own: it fails as soon as a
command or option changes."""
from __future__ import annotations

import argparse

import pytest

from convzoo.cli import build_parser
from convzoo.cli._docs import BEGIN, DOC, DOCS, END, REGENERATE, updated


def _subparsers():
    root = build_parser()
    return next(a for a in root._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("page", DOCS, ids=[d.name for d in DOCS])
def test_docs_cli_md_is_generated_from_the_parsers(page):
    text = page.read_text()
    assert BEGIN in text and END in text, f"docs/{page.name} lost its generated part; regenerate: {REGENERATE}"
    assert updated(text) == text, f"docs/{page.name} drifted from the CLI's parsers; regenerate: {REGENERATE}"


def test_the_reference_names_every_command_and_every_option_help_prints():
    """The oracle is argparse's own --help: every option string it prints is on the page, per command."""
    part = DOC.read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    sections = dict(s.split(" options\n", 1) for s in part.split("### `convzoo ")[1:])
    commands = _subparsers()
    assert sorted(s.rstrip("`") for s in sections) == sorted(commands)
    for name, parser in commands.items():
        body = sections[f"{name}`"]
        shown = [o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")]
        for opt in shown:
            assert opt in parser.format_help() and f"`{opt}" in body.replace(", ", " `"), (name, opt)


def test_a_changed_parser_makes_the_page_stale(monkeypatch):
    """A test that cannot fail is a defect: a new option must change the generated text."""
    import convzoo.cli as cli
    text = DOC.read_text()
    real = cli.build_parser

    def with_extra():
        p = real()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices["compare"].add_argument("--brand-new-flag", help="not documented yet")
        return p
    monkeypatch.setattr(cli, "build_parser", with_extra)
    assert "--brand-new-flag" in updated(text) and updated(text) != text
