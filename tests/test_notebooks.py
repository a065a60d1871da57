"""The course notebooks (docs/notebooks): each executes top to bottom, the Spanish twin runs the same
code, and every exercise check accepts its solution and rejects wrong answers."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from convzoo.course import EXERCISES, WrongAnswer, check

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure_and_spanish_twin(path):
    """Oracle, figure, cost/latency, 2-4 checked exercises with hidden solutions; the .es twin has the
    same code (but for LANG) and Spanish prose."""
    code = _code(path)
    text = "\n".join(code)
    assert "conv_nd" in text or "conv_transpose_nd" in text, f"{path.name}: no NumPy oracle"
    assert "median_ms" in text and "MACs" in text, f"{path.name}: no cost and latency"
    assert "plt.show()" in text, f"{path.name}: no figure"
    exercises = re.findall(r'check\("([a-z0-9_.]+)", answer, LANG\)', text)
    assert 2 <= len(exercises) <= 4, f"{path.name}: {len(exercises)} exercises"
    assert set(exercises) <= set(EXERCISES), f"{path.name}: unknown exercises {set(exercises) - set(EXERCISES)}"
    markdown = ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown"]
    assert sum("<details>" in m for m in markdown) == len(exercises), f"{path.name}: a solution is not hidden"
    twin = path.with_name(path.stem + ".es.ipynb")
    assert twin.is_file(), f"{path.name} has no Spanish twin"
    es_code = _code(twin)
    assert [c.replace('LANG = "es"', 'LANG = "en"') for c in es_code] == code, f"{twin.name}: code differs"
    es_markdown = ["".join(c["source"]) for c in _cells(twin) if c["cell_type"] == "markdown"]
    assert "Ejercicios" in "\n".join(es_markdown) and "Solución" in "\n".join(es_markdown), twin.name


def test_every_exercise_is_used_by_a_notebook():
    used = {e for p in NOTEBOOKS for e in re.findall(r'check\("([a-z0-9_.]+)"', "\n".join(_code(p)))}
    assert used == set(EXERCISES)


# Wrong answers for every exercise: off-by-one, the common mistakes, and the wrong type.
WRONG = {
    "sobel.rank_disk": [1, 2, 7, "3"],
    "sobel.macs_7x7": [(14, 49), (49, 49), (49, 7), 49],
    "sobel.sobel_y_factors": [([1, 2, 1], [-1, 0, 1]), ([1, 0, -1], [1, 2, 1]), ([1, 2, 1], [1, 2, 1]), 3],
    "spatial.params": [10240 + 64, 5 * 5 * 64 * 64, 16 * 128, 5 * 16 * 64],
    "spatial.rank_exact": [1, 3, 0],
    "depthwise.groups": [1, 3, 16, 64, "32"],
    "depthwise.macs_saved": [462_422_016, 53_186_560, 409_235_456 + 1, 0],
    "depthwise.ratio": [1 / 9, 1 / 512, 0.5, 8.84],
    "mbconv.hidden": [24, 30, 4, 150],
    "mbconv.residual": [(True, True, False), (True, False, True), (False, False, False), True],
    "mbconv.params": [8832 - 6 * 24, 24 * 144 * 2 + 9 * 144, 0],
    "effnet.macs_phi3": [8.0, 2.0, 3.0, 1.92],
    "effnet.b3_resolution": [224, 260, 320, "300"],
    "convnext.params": [79296 - 96, 8 * 96 * 96, 49 * 96, 0],
    "convnext.dw_share": [0.5, 0.9, 0.01, 0.12],
    "dilated.keep_37": [(1, 1), (2, 2), (1, 0), (1, 3), 2],
    "dilated.rf": [7, 9, 13, 17],
    "dilated.effective_k": [5, 15, 12, 8],
    "transposed.output_padding": [0, 2, -1, "1"],
    "transposed.size": [9, 11, 8, 12],
    "transposed.macs": [7200 * 4, 8 * 4 * 9, 7200 // 2, 7201],
    "conv1d.m5_out": [1980, 2000, 1982, 7921],
    "conv1d.rf_ms": [80, 1, 5, 20],
    "conv3d.params": [1728, 5184 + 64, 27 * 64],
    "conv3d.midplanes": [22, 24, 64, 3],
}


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_exercise_check_accepts_the_solution_and_rejects_wrong_answers(exercise, capsys):
    assert check(exercise, EXERCISES[exercise].solution) is True
    assert check(exercise, None) is False                      # not answered yet: a reminder, no error
    assert exercise in WRONG, f"no wrong answers listed for {exercise}"
    for wrong in WRONG[exercise]:
        with pytest.raises(WrongAnswer):
            check(exercise, wrong)


def test_check_speaks_spanish_and_names_unknown_exercises(capsys):
    check("dilated.rf", 15, lang="es")
    assert "correcto" in capsys.readouterr().out
    with pytest.raises(WrongAnswer, match="no es correcto"):
        check("dilated.rf", 14, lang="es")
    with pytest.raises(KeyError, match="unknown exercise"):
        check("dilated.nope", 1)
