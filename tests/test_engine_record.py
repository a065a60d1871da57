"""The engine record is complete: nothing outside ``convzoo/export/engines/`` spells an engine's name
(every branch on an engine is a field of its :class:`~convzoo.export.engines.Engine` or a role
look-up), and a new engine is one module: registered, ``bench`` offers and runs it, ``deploy`` builds,
times, writes and reloads it, with no other source file edited."""
from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from convzoo.export import engines

ROOT = Path(__file__).resolve().parents[1] / "convzoo"

# Strings equal to an engine's name that are not engine names, each with its reason:
# - the first argument of require / find_spec / import_module: a Python package to import (the
#   package "onnxruntime", which the mechanism module below the registry imports), not an engine;
# - the second argument of require: the pip extra that brings it (`convzoo[litert]`), not an engine;
# - convzoo/cli/__init__.py's _DEPENDENCIES: the libraries whose warnings the CLI hushes, named
#   without importing anything (convzoo --help loads no torch: tests/test_cli_startup.py);
# - convzoo/export/quantize.py's NNCF_BACKEND: quantize(backend=)'s default name, also written in
#   quantize.json; quantize sits below the registry (.importlinter: engines -> quantize), so it cannot
#   ask the openvino engine for its quantize_backend; this one constant says it once.
PACKAGE_CALLS = {"require", "find_spec", "import_module", "_require"}
NAMED_CONSTANTS = {("cli/__init__.py", "_DEPENDENCIES"), ("export/quantize.py", "NNCF_BACKEND")}


def _docstrings(tree) -> set:
    """ids of the docstring constants of a module, its classes and functions (prose, not code)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _allowed(tree, rel: str) -> set:
    """ids of the constants the list above allows in this file."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in PACKAGE_CALLS:
                out.add(id(node.args[0]))
            if name in ("require", "_require") and len(node.args) > 1:
                out.add(id(node.args[1]))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and (rel, t.id) in NAMED_CONSTANTS
                                                for t in node.targets):
            out.update(id(c) for c in ast.walk(node.value) if isinstance(c, ast.Constant))
    return out


def engine_name_literals(names) -> list[str]:
    """``file:line: 'name'`` of every string constant equal to an engine name in convzoo/ outside the
    engines package (docstrings and the allowed constants above excepted)."""
    hits = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("export/engines/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree) | _allowed(tree, rel)
        hits += [f"convzoo/{rel}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
                 if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names
                 and id(n) not in skip]
    return hits


def test_no_engine_name_is_spelled_outside_the_engines_package():
    """A branch on an engine's name (``engine == "eager"``, ``name in ("openvino", "onnxruntime")``, a
    hand-written list or argparse choices) is how a new engine gets left out: ask the record instead."""
    names = set(engines.REGISTRY)
    assert {"eager", "compile", "onnxruntime"} <= names
    assert engine_name_literals(names) == []


def test_the_scan_finds_what_it_forbids(tmp_path, monkeypatch):
    """The scan is not vacuous: a branch on a name, a choices tuple and a default are each found."""
    pkg = tmp_path / "convzoo"
    (pkg / "export" / "engines").mkdir(parents=True)
    (pkg / "export" / "engines" / "x.py").write_text('ENGINE = "eager"\n')          # inside: allowed
    (pkg / "mod.py").write_text(textwrap.dedent('''\
        """Runs on "eager" (prose)."""
        from convzoo._extras import require
        ort = require("onnxruntime", "export", "x")
        def f(engine="eager"):
            return engine in ("onnxruntime", "compile")
        '''))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    assert sorted(engine_name_literals({"eager", "compile", "onnxruntime"})) == [
        "convzoo/mod.py:4: 'eager'", "convzoo/mod.py:5: 'compile'", "convzoo/mod.py:5: 'onnxruntime'"]


def test_every_runner_class_is_labelled_by_its_engine():
    """Registration names each engine's runner class and its artifact format; the record's ``load``
    reads that format back (``by_format``)."""
    for name, e in engines.REGISTRY.items():
        assert e.runner is not None and e.runner.engine == name, name
        assert e.saves == (e.format is not None and e.load is not None), name
        assert e.runner.artifact_format == (e.format or "")
        if e.format:
            assert engines.by_format(e.format) is e
    assert engines.is_reference(engines.DEFAULT) and engines.by_role("reference").name == engines.DEFAULT
    assert [n for n, e in engines.REGISTRY.items() if e.warmup] == ["compile"]


FAKE = '''\
"""A test's engine, in one module: eager PyTorch under another name, saved as a torch.export program
under a file name of its own (no pickle: loaded back with torch.export.load)."""
import copy

import torch

from convzoo.export.engines import Engine
from convzoo.export.runner import Runner, batch_of_two


class FakeRunner(Runner):
    def __init__(self, module, precision="fp32", example_input=None):
        super().__init__()
        self.module, self.precision, self.example = module, precision, batch_of_two(example_input)

    def forward(self, x):
        return self.module(x)

    def save(self, out_dir):
        with torch.no_grad():
            prog = torch.export.export(self.module, (self.example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        torch.export.save(prog, f"{out_dir}/model.fake")
        return {"file": "model.fake", "format": self.artifact_format}


def build(model, example_input, precision="fp32", *, fold_bn=True, channels_last=True, **options):
    return FakeRunner(copy.deepcopy(model).eval(), precision, example_input)


def load(file, chosen, threads=None):
    return FakeRunner(torch.export.load(str(file)).module(), chosen["precision"])


ENGINE = Engine("fake", "a test's engine", {"cpu": ("fp32",)}, build, runner=FakeRunner,
                format="fake-export", load=load)
'''


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
    """The module above, written to a folder of its own, imported and registered; the registry as it
    was afterwards."""
    import importlib
    (tmp_path / "fake_engine_mod").mkdir()
    (tmp_path / "fake_engine_mod" / "convzoo_fake_engine.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(tmp_path / "fake_engine_mod"))
    before = dict(engines.REGISTRY)
    engine = engines.register(importlib.import_module("convzoo_fake_engine"))
    yield engine
    engines.REGISTRY.clear()
    engines.REGISTRY.update(before)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)).eval()


def test_a_new_engine_is_one_module_that_bench_offers_and_runs(fake_engine, capsys):
    from convzoo.cli import build_parser, main
    from convzoo.export import benchmark, candidates, list_engines
    assert list_engines("cpu")[-1] == "fake" and ("fake", "fp32") in candidates("cpu")
    assert "fake" not in list_engines("cuda")
    sub = next(a for a in build_parser("bench")._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    engine_flag = next(a for a in sub.choices["bench"]._actions if a.dest == "engine")
    assert engine_flag.type.read()[-2:] == ["fake", "all"]              # bench offers it
    assert main(["bench", "variant_conv", "--engine", "nope"]) == 2
    assert "'fake', 'all')" in capsys.readouterr().err                  # and a wrong name lists it
    res = benchmark(_net(), torch.randn(2, 1, 8, 8), "fake", warmup=0, runs=3)
    assert res.engine == "fake" and res.latency_ms > 0 and res.runs == 3
    rc = main(["bench", "variant_conv", "--engine", "fake", "--input-size", "1", "16", "16", "--runs", "2",
               "--warmup", "0", "--threads", "1", "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["engine"] == "fake"


def test_a_new_engine_is_one_module_that_deploy_builds_writes_and_reloads(fake_engine, tmp_path):
    from convzoo.export import deploy, load_deployed, relative_error
    m = _net()
    rep = deploy(m, tmp_path / "d", input_size=(1, 8, 8), engines=["fake"], runs=4, rounds=2, progress=False)
    (row,) = rep["candidates"]
    assert (row["engine"], row["precision"], row["rejected"]) == ("fake", "fp32", None) and row["images_per_s"] > 0
    assert (rep["chosen"]["engine"], rep["chosen"]["format"], rep["chosen"]["file"]) == ("fake", "fake-export",
                                                                                          "model.fake")
    r = load_deployed(tmp_path / "d")                 # read back by the engine's own load
    assert type(r).__name__ == "FakeRunner" and (r.engine, r.precision) == ("fake", "fp32")
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        assert relative_error(r(x), m(x)) <= 1e-4


@pytest.mark.parametrize("argv,bad,choices", [
    (["compress", "r", "--method", "spatial", "--speedup", "2", "--out", "o", "--engine"], "compile",
     "'onnxruntime', 'eager'"),
    (["quantize", "r", "--out", "o", "--backend"], "foo", "'openvino', 'pt2e'")])
def test_flags_read_from_the_library_at_parse_time_keep_argparses_words(argv, bad, choices, capsys):
    """compress --engine and quantize --backend are checked when parsed (their --help loads no torch, so
    the parser cannot hold the registry's names): a good value parses, a bad one is argparse's own line."""
    from convzoo.cli import build_parser
    good = choices.split(", ")[-1].strip("'")
    assert getattr(build_parser(argv[0]).parse_args(argv + [good]), argv[-1][2:]) == good
    with pytest.raises(SystemExit):
        build_parser(argv[0]).parse_args(argv + [bad])
    assert f"{argv[-1]}: invalid choice: {bad!r} (choose from {choices})" in capsys.readouterr().err


def test_bench_help_names_every_registered_engine():
    """bench's help describes each engine in prose (read without loading torch): a new engine module
    that the help does not name fails here, so the help cannot go stale again."""
    from convzoo.cli import build_parser
    sub = next(a for a in build_parser("bench")._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    text = sub.choices["bench"].format_help()
    assert [n for n in engines.list_engines() if n not in text] == []
