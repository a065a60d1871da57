"""convzoo.course_timing, the notebooks' one timing helper: one thread (restored after), interleaved
candidates, medians with their interquartile ranges, and the lecture's ordering stated only when the
ranges separate. The notebooks' own timing cells, run beside a process that keeps a core busy, show
the lecture's ordering or say they cannot tell: never the reverse."""
from __future__ import annotations

import ast
import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convzoo.course_timing import VERDICT_WORDS, Timing, compare_timings, number, threads, verdict

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (REPO / "docs" / "notebooks").glob("*.ipynb") if not p.name.endswith(".es.ipynb"))


def _t(q1: float, med: float, q3: float) -> Timing:
    return Timing(med, q1, q3)


def test_the_ordering_is_stated_only_when_the_spreads_separate():
    a, b, c = _t(1, 2, 3), _t(4, 5, 6), _t(5.5, 7, 9)
    assert verdict({"a": a, "b": b}, ["a", "b"]) == "holds"
    assert verdict({"a": a, "b": b}, ["b", "a"]) == "reverse"
    assert verdict({"a": _t(1, 2, 4.5), "b": b}, ["a", "b"]) == "noisy"            # the ranges overlap
    assert verdict({"a": a, "b": b, "c": c}, ["a", "b", "c"]) == "noisy"            # b and c overlap
    assert verdict({"a": a, "b": b, "c": c}, ["a", "c"]) == "holds"                 # only the named pairs count
    assert verdict({"a": a, "b": b}, []) == ""


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), threads(1):
        raise RuntimeError("a failing candidate")
    assert torch.get_num_threads() == before


def test_compare_timings_reports_medians_and_the_verdict_in_both_languages(capsys):
    fast, slow = (lambda: time.sleep(0.0005)), (lambda: time.sleep(0.01))
    report = compare_timings({"fast": fast, "slow": slow}, ["fast", "slow"], budget_s=0.3)
    out = capsys.readouterr().out
    assert report.verdict == "holds" and VERDICT_WORDS["holds"]["en"] in out
    assert report.timings["slow"].q1_ms >= 10 > report.timings["fast"].q3_ms
    assert "median [interquartile range]" in out and "Lecture: fast < slow." in out
    report = compare_timings({"fast": fast, "slow": slow}, ["slow", "fast"], lang="es", budget_s=0.3)
    out = capsys.readouterr().out
    assert report.verdict == "reverse" and VERDICT_WORDS["reverse"]["es"] in out and "Clase: slow < fast." in out
    assert "," in out.splitlines()[1]                      # decimal comma in Spanish
    report = compare_timings({"fast": fast}, lang="es", budget_s=0.05)
    assert report.verdict == "" and "no afirma" in capsys.readouterr().out
    with pytest.raises(KeyError, match="not among the candidates"):
        compare_timings({"fast": fast}, ["fast", "slow"])


@pytest.mark.parametrize("value, spec, en, es", [
    (1_572_864, ",", "1,572,864", "1\u00a0572\u00a0864"), (8832, ",", "8,832", "8832"), (123, ",", "123", "123"),
    (-1_234_567, ",", "-1,234,567", "-1\u00a0234\u00a0567"), (0.1131, ".4f", "0.1131", "0,1131"),
    (2.4e-07, ".1e", "2.4e-07", "2,4e-07"), (7.08, ".2f", "7.08", "7,08")])
def test_numbers_are_printed_the_page_languages_way(value, spec, en, es):
    assert number(value, "en", spec) == en == format(value, spec)
    assert number(value, "es", spec) == es


def _names(src: str, ctx: type) -> set:
    """Names a cell reads (``ast.Load``) or binds (``ast.Store``, with function and lambda parameters)."""
    nodes = list(ast.walk(ast.parse(src)))
    names = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    return names | ({n.arg for n in nodes if isinstance(n, ast.arg)} if ctx is ast.Store else set())


def _code_up_to_timing(path: Path) -> list[str]:
    """The notebook's code cells up to and including the one that times code (IPython magics dropped),
    less the figure cells that define nothing the timing cell reads (drawing is not what is tested)."""
    code = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        code.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%")))
        if "compare_timings(" in src:
            reads = _names(code[-1], ast.Load) - _names(code[-1], ast.Store)
            return [c for c in code if "plt.show()" not in c or _names(c, ast.Store) & reads]
    raise AssertionError(f"{path.name} has no compare_timings cell")


@pytest.fixture
def busy_core():
    """A process spinning on a core for the test (it also stops by itself after 120 s)."""
    spin = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", spin])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_timing_never_shows_the_reverse_of_the_lecture_on_a_busy_machine(path, busy_core):
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'figures' extra")
    import matplotlib.pyplot as plt

    namespace: dict = {}
    out = io.StringIO()
    threads_before = torch.get_num_threads()
    with plt.rc_context(), contextlib.redirect_stdout(out), torch.random.fork_rng():
        for i, src in enumerate(_code_up_to_timing(path)):
            exec(compile(src, f"{path.name} code cell {i}", "exec"), namespace)
    plt.close("all")
    assert busy_core.poll() is None, "the busy process stopped before the timing ended"
    assert torch.get_num_threads() == threads_before
    text = out.getvalue()
    assert VERDICT_WORDS["reverse"]["en"] not in text, text
    if "Lecture:" in text:
        assert VERDICT_WORDS["holds"]["en"] in text or VERDICT_WORDS["noisy"]["en"] in text, text
    else:
        assert "makes no claim" in text, text
