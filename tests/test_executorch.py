"""The ExecuTorch engine (XNNPACK delegate): a ``.pte`` written by ``to_executorch`` / the engine runs
in the ExecuTorch runtime equal to eager (fp32 to 1e-4 of the output scale, int8 by top-1 agreement),
reloads as a source of its own kind with what it recorded, and every bad input is one line: a wrong
shape, a truncated or foreign file, a missing runtime. (The CLI's cells are in tests/test_seams.py.)"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from convzoo.export import ExecuTorchRunner, get_engine, load_pte, relative_error, to_executorch
from convzoo.export.artifact import ArtifactError

pytest.importorskip("executorch")


from _export_checks import tiny_edge_net as _net  # noqa: E402


@pytest.fixture(scope="module")
def fp32_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pte") / "m.pte"
    return to_executorch(_net(), path, batch=2, record={"model": "tiny"})


def test_the_engine_builds_runners_equal_to_eager():
    m, x = _net(), torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = m(x)
    r = get_engine("executorch").build(m, x, "fp32")
    assert isinstance(r, ExecuTorchRunner) and (r.engine, r.precision) == ("executorch", "fp32")
    with torch.inference_mode():
        assert relative_error(r(x), ref) <= 1e-4
        assert relative_error(r(torch.cat([x, x[:1]])), torch.cat([ref, ref[:1]])) <= 1e-4   # chunked
    assert r.bind(x)() is not None


def test_a_file_reloads_with_its_record_shape_and_precision(fp32_file, tmp_path):
    from convzoo.runs import load_source, open_source
    src = open_source(fp32_file)
    assert src.kind == "pte" and src.is_artifact and src.model_name == "tiny"
    loaded = load_source(fp32_file)
    assert (loaded.engine, loaded.precision, loaded.fixed_input) == ("executorch", "fp32", (3, 16, 16))
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert relative_error(loaded.model(x), _net()(x)) <= 1e-4
    files = loaded.model.save(tmp_path / "dep")
    assert files == {"file": "model.pte", "format": "executorch"}
    assert (tmp_path / "dep" / "model.pte").read_bytes() == open(fp32_file, "rb").read()


def test_int8_file_records_its_precision_and_agrees_with_eager(tmp_path):
    m, calib = _net(), torch.randn(64, 3, 16, 16)
    path = to_executorch(m, tmp_path / "q.pte", precision="int8", calibration_data=calib)
    r = load_pte(path)
    assert (r.engine, r.precision, r.input_shape) == ("executorch", "int8", (1, 3, 16, 16))
    with torch.inference_mode():
        agree = float((r(calib).argmax(1) == m(calib).argmax(1)).float().mean())
    assert agree >= 0.9, agree


def test_bad_inputs_are_one_line(fp32_file, tmp_path):
    from _export_checks import assert_edge_file_refusals
    assert_edge_file_refusals(load_pte, to_executorch, _net, fp32_file, tmp_path, suffix=".pte",
                              words="ExecuTorch program", engine="executorch")


def test_a_missing_runtime_is_one_line_naming_the_extra(fp32_file, monkeypatch):
    import sys
    from convzoo._extras import MissingExtraError
    monkeypatch.setitem(sys.modules, "executorch.runtime", None)    # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'convzoo\[edge\]'"):
        load_pte(fp32_file)


def test_a_failed_check_leaves_no_file_under_the_name(tmp_path):
    from _export_checks import drifting_net
    with pytest.raises(RuntimeError, match=r"differs from eager.*failed-check.*no-verify"):
        to_executorch(drifting_net(), tmp_path / "d.pte")
    assert not (tmp_path / "d.pte").exists() and (tmp_path / "d.pte.failed-check").exists()


def test_an_operator_the_runtime_lacks_is_named_in_one_line(tmp_path):
    """3D max pooling stays outside the XNNPACK delegate and the runtime has no kernel for it: the file
    is written (verify=False), and loading it names the operator instead of calling it unreadable."""
    m = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2), nn.Flatten(),
                      nn.Linear(4 * 2 * 4 * 4, 3)).eval()
    m.default_cfg = {"input_size": (1, 4, 8, 8)}
    path = to_executorch(m, tmp_path / "m.pte", verify=False)
    with pytest.raises(ArtifactError, match=r"m.pte: the program needs operator\(s\) .*max_pool3d") as e:
        load_pte(path)
    assert "\n" not in str(e.value) and "not a readable" not in str(e.value)
