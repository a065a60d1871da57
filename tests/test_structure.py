"""The shape of the code: every module imports on its own, files and functions fit one sitting,
one loader and saver of weights, and the core works without any optional extra."""
from __future__ import annotations

import ast
import multiprocessing as mp
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import convzoo

ROOT = Path(convzoo.__file__).resolve().parent
MAX_FILE_LINES, MAX_FUNCTION_LINES = 420, 80


def _modules() -> list[str]:
    names = ["convzoo"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="convzoo."):
        names.append(info.name)
    return sorted(names)


def test_every_module_imports_alone():
    """Each module imported first in an interpreter that has imported no convzoo module: an import
    cycle hides when something else happens to be imported first. The interpreters are forks of a
    forkserver that preloaded torch (a fresh ``python -c`` per module costs ~2 s each), never of this
    worker: it may hold the threads of JAX, OpenVINO or ONNX Runtime from earlier tests, and a fork
    of a threaded process can deadlock or crash."""
    from _import_alone import import_alone
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "numpy", "_import_alone"])
    failures = {}
    for name in _modules():
        parent, child = ctx.Pipe()
        p = ctx.Process(target=import_alone, args=(name, child))
        p.start()
        p.join(60)
        err = parent.recv() if parent.poll() else f"exit code {p.exitcode}"
        if p.is_alive():                  # stuck: named as a failure, never left behind
            p.kill()
            p.join()
        if err:
            failures[name] = err
    assert not failures, failures


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


# the package, and the scripts and tests that go with it
CHECKED = [ROOT] + [ROOT.parent / d for d in ("bench", "experiments", "tests")]


def test_files_and_functions_fit_one_sitting():
    too_long = []
    for path in sorted(p for d in CHECKED if d.is_dir() for p in d.rglob("*.py")):
        text = path.read_text()
        n = len(text.splitlines())
        rel = path.relative_to(ROOT.parent)
        if n > MAX_FILE_LINES:
            too_long.append(f"{rel}: {n} lines (max {MAX_FILE_LINES})")
        for fn in _functions(ast.parse(text)):
            length = fn.end_lineno - fn.lineno + 1
            if length > MAX_FUNCTION_LINES:
                too_long.append(f"{rel}:{fn.lineno} {fn.name}: {length} lines (max {MAX_FUNCTION_LINES})")
    assert not too_long, "\n".join(too_long)


def test_one_weights_loader_and_saver():
    defs = {"load_weights": [], "save_weights": []}
    for path in ROOT.rglob("*.py"):
        for fn in _functions(ast.parse(path.read_text())):
            if fn.name in defs:
                defs[fn.name].append(str(path.relative_to(ROOT.parent)))
    assert defs == {"load_weights": ["convzoo/weights.py"], "save_weights": ["convzoo/weights.py"]}, defs


def test_no_issue_numbers_in_comments():
    hits = [f"{p.relative_to(ROOT.parent)}:{i}" for p in ROOT.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if "issue " in line.lower()
            and any(ch.isdigit() for ch in line.lower().split("issue ", 1)[1][:3])]
    assert not hits, hits


# Optional dependencies, by the extra that brings them (pyproject.toml).
OPTIONAL = ("optuna", "psycopg", "onnx", "onnxruntime", "soundfile", "av", "scipy", "sklearn", "matplotlib",
            "mnist1d", "timm", "cv2", "webdataset", "openvino", "nncf")

# ``None`` in sys.modules is what CPython reads as "not installed": ``import x`` raises
# ModuleNotFoundError and ``importlib.util.find_spec(x)`` returns None, as for a missing package.
_BLOCKER = f"import sys\nfor _m in {OPTIONAL!r}:\n    sys.modules[_m] = None\n"


def _run_without_extras(body: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    return subprocess.run([sys.executable, "-c", _BLOCKER + textwrap.dedent(body)], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.slow
def test_core_works_without_extras():
    """``pip install convzoo`` with no extra: import convzoo and build every image model."""
    r = _run_without_extras("""
        import torch, convzoo
        names = [n for n in convzoo.list_models(modality="image") if n != "searched"]  # needs a spec file
        assert len(names) > 30, names
        with torch.device("meta"):
            for n in names:
                convzoo.create_model(n)
        print("built", len(names))
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "built" in r.stdout


def test_missing_extra_is_named():
    r = _run_without_extras("""
        from convzoo.cli import main
        raise SystemExit(main(["search", "--budget", "1", "--out", "/tmp/never-written-search"]))
    """)
    assert r.returncode != 0
    assert "convzoo[search]" in (r.stderr + r.stdout), r.stderr[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]


def test_no_source_file_is_git_ignored():
    """What a clean clone lacks, CI lacks: no file of the package, the tests or the docs may match an
    ignore pattern (an unanchored ``runs/`` once hid the whole ``convzoo/runs`` package). The
    experiments' ``.cache`` folders hold what a script trained, kept out of git on purpose."""
    repo = ROOT.parent
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(repo)) for top in ("convzoo", "tests", "docs", "bench", "experiments")
             for p in (repo / top).rglob("*")
             if p.is_file() and not {"__pycache__", ".ipynb_checkpoints", ".cache"} & set(p.parts)]
    res = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=repo, input="\n".join(files),
                         capture_output=True, text=True)
    assert res.stdout.strip() == "", f"git ignores these source files: {res.stdout.split()[:10]}"


def _imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Every module an AST imports (function-level imports included), relative imports resolved."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def test_the_cli_only_parses_calls_and_prints():
    """No command imports another command (their shared work is in the library), and nothing outside
    convzoo/cli/ drives the command line (``cli.main``, ``argparse.Namespace``): scripts, benchmarks and
    experiments call the library as a user would."""
    problems = []
    for path in sorted((ROOT / "cli").glob("cmd_*.py")):
        mods = _imported_modules(ast.parse(path.read_text()), "convzoo.cli")
        problems += [f"{path.name} imports {m}" for m in sorted(mods)
                     if m.startswith("convzoo.cli.cmd_") and m != f"convzoo.cli.{path.stem}"]
    repo = ROOT.parent
    for path in sorted([*ROOT.rglob("*.py"), *(repo / "experiments").rglob("*.py"), *(repo / "bench").rglob("*.py")]):
        if (ROOT / "cli") in path.parents or path.name == "__main__.py":
            continue
        src = path.read_text()
        mods = _imported_modules(ast.parse(src), "convzoo")
        if "convzoo.cli" in mods or any(m.startswith("convzoo.cli.") for m in mods) or "argparse.Namespace(" in src:
            problems.append(f"{path.relative_to(repo)} drives the CLI (imports convzoo.cli or builds a Namespace)")
    assert not problems, "\n".join(problems)


def _import_graph() -> dict[str, set[str]]:
    """convzoo's modules -> the convzoo modules each imports, at any level of the file (a function-level
    import is still a dependency); a package's imports of its own submodules (its re-exports) left out."""
    files = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = (path, name if parts[-1] == "__init__" else name.rsplit(".", 1)[0])
    graph = {}
    for name, (path, package) in files.items():
        found = set()
        for m in _imported_modules(ast.parse(path.read_text()), package):
            while m and m not in files:          # "convzoo.x.name" -> the module convzoo.x
                m = m.rpartition(".")[0]
            if m and m != name and not m.startswith(name + "."):
                found.add(m)
        graph[name] = found
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _allowed_upward_imports() -> set[tuple[str, str]]:
    """The edges .importlinter's layers contract lets through (``ignore_imports``), each with its reason
    there: create_model(pretrained=True / "local-dir:" / "hf-hub:") reaches up to the weights loader and
    the hub folders."""
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT.parent / ".importlinter")
    lines = cfg["importlinter:contract:layers"].get("ignore_imports", "").split("\n")
    return {tuple(x.strip() for x in line.split("->")) for line in lines if "->" in line}


def test_the_import_graph_has_no_circle():
    """No two modules import each other, directly or round a longer loop, even through function-level
    imports (which import-linter's layers see, but a circle inside one layer would hide). The upward
    edge .importlinter allows by name (registry -> weights: create_model(pretrained=True) loads through
    the one loader) is left out of the graph; weights imports no registry, so it closes no circle."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]   # the detector
    allowed = _allowed_upward_imports()
    assert allowed == {("convzoo.registry", "convzoo.weights")}
    graph = {m: {t for t in ts if (m, t) not in allowed} for m, ts in _import_graph().items()}
    assert not _circles(graph), _circles(graph)
