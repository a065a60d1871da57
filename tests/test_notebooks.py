"""The course notebooks (docs/notebooks): each executes top to bottom without an error or a stray
``True``, the Spanish twin runs the same code, and every exercise check accepts its solution (from the
teacher's module and from the notebook's hidden solution) and rejects wrong answers with a message,
never a traceback. Coding exercises are judged against the NumPy oracle."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import numpy as np

from convzoo import course_solutions as sol
from convzoo.course import EXERCISES, Verdict, check, grade, hint
from convzoo.course_solutions import SOLUTIONS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (REPO / "docs" / "notebooks").glob("*.ipynb") if not p.name.endswith(".es.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _code(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def kernel():
    """One Python kernel for all the notebooks (each starts from ``%reset -f``): starting a kernel and
    importing torch and convzoo again for every notebook would cost more than the notebooks themselves."""
    pytest.importorskip("nbformat", reason="nbformat is in the 'test' extra")
    pytest.importorskip("nbclient", reason="nbclient is in the 'test' extra")
    pytest.importorskip("ipykernel", reason="ipykernel is in the 'test' extra")
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'figures' extra")
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    # the kernel imports this checkout's convzoo, on one thread (the suite runs on 2 shared cores), and
    # draws inline (conftest.py sets MPLBACKEND=Agg for the suite)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    km.start_kernel(env=env, cwd=str(REPO / "docs" / "notebooks"))
    yield km
    km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)   # in `make test`: about 26 s in all
def test_notebook_executes(path, kernel):
    """Runs every cell; a failure names the notebook and the cell (numbered from 0, as stored)."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))     # nothing left from the last notebook
    client = nbclient.NotebookClient(nb, km=kernel, timeout=60)
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        index = next((i - 1 for i, c in enumerate(nb.cells) if any(
            o.get("output_type") == "error" for o in c.get("outputs", []))), "?")
        pytest.fail(f"{path.name}, cell {index}: {str(e).strip().splitlines()[-1] if str(e).strip() else e!r}")
    except TimeoutError as e:
        pytest.fail(f"{path.name}: a cell ran over 60 s: {e}")
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert figures >= 1, f"{path.name} draws no figure"
    for cell in nb.cells:       # a check or a timing shows its printed message and nothing else (no `True`)
        if cell.cell_type == "code" and ("check(" in cell.source or "compare_timings(" in cell.source):
            echoed = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
            assert not echoed, f"{path.name}: {cell.source.splitlines()[-1]!r} echoes {echoed[0]['data']}"


CHECK = re.compile(r'check\("([a-z0-9_.]+)", (\w+), LANG\)')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure_and_spanish_twin(path):
    """Oracle, figure, cost and timing through compare_timings, 3-5 checked exercises with hidden solutions,
    at least one of them a coding exercise; the .es twin has the same code (but for LANG) and Spanish prose."""
    code = _code(path)
    text = "\n".join(code)
    assert "conv_nd" in text or "conv_transpose_nd" in text, f"{path.name}: no NumPy oracle"
    assert "compare_timings(" in text and "MACs" in text, f"{path.name}: no cost and timing"
    assert "median_ms" not in text, f"{path.name}: times code without compare_timings"
    assert "plt.show()" in text, f"{path.name}: no figure"
    exercises = CHECK.findall(text)
    assert 3 <= len(exercises) <= 5, f"{path.name}: {len(exercises)} exercises"
    names = {e for e, _ in exercises}
    assert names <= set(EXERCISES), f"{path.name}: unknown exercises {names - set(EXERCISES)}"
    assert any(EXERCISES[e].kind == "code" for e in names), f"{path.name}: no coding exercise"
    markdown = ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown"]
    assert sum("<details>" in m for m in markdown) == len(exercises), f"{path.name}: a solution is not hidden"
    twin = path.with_name(path.stem + ".es.ipynb")
    assert twin.is_file(), f"{path.name} has no Spanish twin"
    es_code = _code(twin)
    assert [c.replace('LANG = "es"', 'LANG = "en"') for c in es_code] == code, f"{twin.name}: code differs"
    es_markdown = ["".join(c["source"]) for c in _cells(twin) if c["cell_type"] == "markdown"]
    assert "Ejercicios" in "\n".join(es_markdown) and "Solución" in "\n".join(es_markdown), twin.name
    assert "Escribe el código" in "\n".join(es_markdown), twin.name


def test_every_exercise_is_used_by_a_notebook():
    used = {e for p in NOTEBOOKS for e, _ in CHECK.findall("\n".join(_code(p)))}
    assert used == set(EXERCISES)


@pytest.mark.parametrize("path", sorted((REPO / "docs" / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_hidden_coding_solutions_pass_their_check(path, capsys):
    """The solution under each coding exercise, as the notebook shows it, is accepted by the check."""
    solved = 0
    for cell in _cells(path):
        src = "".join(cell["source"])
        m = re.search(r"<details>.*?```python\n(.*?)```", src, re.S)
        if cell["cell_type"] != "markdown" or not m:
            continue
        ns: dict = {"np": np}
        exec(m.group(1), ns)
        fn = next(v for k, v in ns.items() if callable(v) and not k.startswith("_") and k != "np")
        name = next(e for e, f in CHECK.findall("\n".join(_code(path))) if f == fn.__name__)
        assert check(name, fn), capsys.readouterr().out
        solved += 1
    assert solved >= 1, f"{path.name}: no coding solution"


def test_students_module_carries_no_solutions():
    """Teacher mode: the questions hold no answers; the solutions live in a module the notebooks never import."""
    import subprocess
    import sys
    assert not any(hasattr(e, "solution") for e in EXERCISES.values())
    code = "import sys, convzoo.course; print('convzoo.course_solutions' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
    assert all("course_solutions" not in c for p in NOTEBOOKS for c in _code(p))
    assert set(SOLUTIONS) == set(EXERCISES)
    assert grade(SOLUTIONS) == {k: True for k in SOLUTIONS}


def test_every_exercise_has_a_hint_in_both_languages():
    for name, ex in EXERCISES.items():
        assert set(ex.hint) == {"en", "es"} and all(len(h) > 20 for h in ex.hint.values()), name
        assert ex.hint["en"] != ex.hint["es"] or name == "sobel.sobel_y_factors", name
        assert hint(name, "es") == ex.hint["es"]


# Wrong answers for every short-answer exercise: off-by-one, the common mistakes.
WRONG = {
    "sobel.rank_disk": [1, 2, 7, True],
    "sobel.macs_7x7": [(14, 49), (49, 49), (49, 7), 49],
    "sobel.sobel_y_factors": [([1, 2, 1], [-1, 0, 1]), ([1, 0, -1], [1, 2, 1]), ([1, 2, 1], [1, 2, 1]), 3],
    "spatial.params": [10240 + 64, 5 * 5 * 64 * 64, 16 * 128, 5 * 16 * 64],
    "spatial.rank_exact": [1, 3, 0],
    "depthwise.groups": [1, 3, 16, 64, "thirty-two", 32.5],
    "depthwise.macs_saved": [462_422_016, 53_186_560, 409_235_456 + 1, 0],
    "depthwise.ratio": [1 / 9, 1 / 512, 0.5, 8.84, 0.1, 0.12],
    "mbconv.hidden": [24, 30, 4, 150],
    "mbconv.residual": [(True, True, False), (True, False, True), (False, False, False), True, (1, 0, 0)],
    "mbconv.params": [8832 - 6 * 24, 24 * 144 * 2 + 9 * 144, 0],
    "effnet.macs_phi3": [8.0, 2.0, 3.0, 1.92],
    "effnet.b3_resolution": [224, 260, 320, "300 mm"],
    "convnext.params": [79296 - 96, 8 * 96 * 96, 49 * 96, 0],
    "convnext.dw_share": [0.5, 0.9, 0.01, 0.12],
    "dilated.keep_37": [(1, 1), (2, 2), (1, 0), (1, 3), 2],
    "dilated.rf": [7, 9, 13, 17],
    "dilated.effective_k": [5, 15, 12, 8],
    "transposed.output_padding": [0, 2, -1, True],
    "transposed.size": [9, 11, 8, 12],
    "transposed.macs": [7200 * 4, 8 * 4 * 9, 7200 // 2, 7201],
    "conv1d.m5_out": [1980, 2000, 1982, 7921],
    "conv1d.rf_ms": [80, 1, 5, 20, "0.01 s", 0.01],
    "conv3d.params": [1728, 5184 + 64, 27 * 64],
    "conv3d.midplanes": [22, 24, 64, 3],
}

# Wrong functions for every coding exercise: the mistakes a student makes, each caught by the oracle.
WRONG_CODE = {
    "sobel.two_passes": [lambda im, c, r: sol.two_passes(im, c[::-1], r[::-1]),      # convolution, not correlation
                         lambda im, c, r: sol.two_passes(im, r, c)],                   # col and row swapped
    "spatial.low_rank": [lambda K, R: K, lambda K, R: sol.low_rank(K, 1)],
    "depthwise.depthwise": [lambda x, w: np.stack([sol.depthwise(x, w).sum(0)] * len(x))],   # mixes channels
    "mbconv.block": [lambda x, a, b, c: sol.inverted_residual(x, a, b, c) - x,                 # no skip
                     lambda x, a, b, c: x + np.einsum("oc,chw->ohw", c, np.maximum(           # ReLU, not ReLU6
                         sol.depthwise(np.pad(np.maximum(np.einsum("oc,chw->ohw", a, x), 0),
                                              ((0, 0), (1, 1), (1, 1))), b), 0))],
    "effnet.multipliers": [lambda phi: (1.2 ** phi, 1.15 ** phi, 1.1 ** phi), lambda phi: (1.2, 1.1, 1.15)],
    "convnext.layer_norm": [lambda x, g, b: (x - x.mean((1, 2), keepdims=True)) / x.std((1, 2), keepdims=True)
                            * g[:, None, None] + b[:, None, None],                         # over pixels
                            lambda x, g, b: (x - x.mean(0)) / x.std(0, ddof=1) * g[:, None, None] + b[:, None, None]],
    "dilated.dilate_kernel": [lambda w, d: sol.dilate_kernel(w, d + 1), lambda w, d: np.kron(w, np.ones((d, d)))],
    "transposed.scatter": [lambda x, w, s: np.convolve(x, w), lambda x, w, s: sol.conv_transpose_1d(x, w[::-1], s)],
    "conv1d.conv1d": [lambda x, w, s: sol.conv1d(x, w, 1), lambda x, w, s: sol.conv1d(x, w[::-1], s)],
    "conv3d.conv3d": [lambda x, w: sol.conv3d(x, w[:, :, :1]), lambda x, w: sol.conv3d(x, w)[:, :-1]],
}


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_exercise_check_accepts_the_solution_and_rejects_wrong_answers(exercise, capsys):
    right = check(exercise, SOLUTIONS[exercise])
    assert isinstance(right, Verdict) and right and right.answered
    assert "correct" in capsys.readouterr().out
    todo = check(exercise, None)                   # not answered yet: a reminder, no error
    assert not todo and not todo.answered
    wrongs = WRONG_CODE[exercise] + [5, lambda *a: 1 / 0] if EXERCISES[exercise].kind == "code" else WRONG[exercise]
    for wrong in wrongs:
        verdict = check(exercise, wrong)           # a message with the hint, never an exception
        out = capsys.readouterr().out
        assert not verdict and verdict.answered, (exercise, wrong)
        assert "is not right" in out and EXERCISES[exercise].hint["en"] in out and "Traceback" not in out
        assert out.count("\n") <= 2, out


def test_coding_exercise_not_written_yet_is_a_reminder(capsys):
    def two_passes(image, col, row):
        return None   # your code here
    assert not check("sobel.two_passes", two_passes)
    assert "not written yet" in capsys.readouterr().out
    assert not check("sobel.two_passes", lambda *a: 1 / 0)
    assert "raised ZeroDivisionError" in capsys.readouterr().out


@pytest.mark.parametrize("exercise, answer, note", [
    ("dilated.effective_k", "13", "is text (a string)"),
    ("depthwise.groups", 32.0, "is a float"),
    ("conv1d.rf_ms", "10 ms", "write the number alone"),
    ("effnet.b3_resolution", "300 px", "write the number alone"),
    ("transposed.macs", "7,200", "is text"),
    ("sobel.macs_7x7", (49.0, 14.0), "holds floats"),
    ("dilated.keep_37", "(1, 2)", "without quotes"),
    ("depthwise.ratio", "0,11", "is text"),
])
def test_near_types_are_accepted_with_a_note(exercise, answer, note, capsys):
    assert check(exercise, answer)
    out = capsys.readouterr().out
    assert "correct" in out and note in out, out


@pytest.mark.parametrize("answer", [0.1131, 0.113, 0.11, np.float32(0.1131)])
def test_two_significant_digits_are_enough_where_the_question_says_so(answer, capsys):
    assert check("depthwise.ratio", answer)
    assert check("effnet.macs_phi3", 7.1) and check("convnext.dw_share", 0.060)


def test_check_speaks_spanish_and_names_unknown_exercises(capsys):
    assert check("dilated.rf", 15, lang="es")
    assert "correcto" in capsys.readouterr().out
    assert not check("dilated.keep_37", (2, 1), lang="es")
    out = capsys.readouterr().out
    assert "(2, 1) no es correcto" in out and "Pista:" in out and EXERCISES["dilated.keep_37"].hint["es"] in out
    assert not re.search(r"\b(is|not|right|hint|the)\b", out.replace(EXERCISES["dilated.keep_37"].hint["es"], ""))
    assert check("depthwise.groups", "32", lang="es")
    assert "es texto" in capsys.readouterr().out
    assert not check("sobel.two_passes", lambda *a: np.zeros(2), lang="es")
    assert "devolvió la forma" in capsys.readouterr().out
    with pytest.raises(KeyError, match="unknown exercise"):
        check("dilated.nope", 1)
