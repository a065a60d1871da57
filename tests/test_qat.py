"""Quantization-aware training (PT2E): the int8 kernels compute what the fake-quantized graph trained,
the run-level report puts post-training int8 beside it, and bad requests are one line.

The oracle for the conversion is torchao's own fake-quantized graph in eval mode: convert_pt2e swaps
its fake quantization for oneDNN's int8 kernels, so the two must name the same class for the inputs
(top-1 agreement >= 95 % on 64 random inputs; a wrong scale or a dropped BN fold changes most of them).
The compiled package of that graph is convzoo.export.compiled's, checked in test_precision; the
command end to end (train, QAT, the package saved and evaluated) is the slow test here.
Whether QAT wins points back is a measurement (experiments/qat.py, docs/edge.md), not a unit test.
"""
import json

import pytest
import torch

import convzoo
from convzoo.export import precision as prec

pytest.importorskip("torchao")
HAS_INT8 = prec.cpu_precision_support()["int8"] is not None
pytestmark = pytest.mark.skipif(not HAS_INT8, reason="CPU without int8 instructions")


def _net():
    torch.manual_seed(0)
    return convzoo.create_model("variant_conv", num_classes=4, in_chans=1, widths=(4, 8), depth=1).eval()


@pytest.mark.slow        # torchao's conv+BN QAT patterns are traced by torch.export: ~1 min of fixed cost
def test_qat_int8_ops_compute_what_the_fake_quantized_graph_trained():
    from torchao.quantization.pt2e import FakeQuantizeBase, move_exported_model_to_eval

    from convzoo.export.qat import int8_graph, prepare, train_fake_quantized
    model = _net()
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(n, 1, 16, 16, generator=gen), torch.randint(0, 4, (n,), generator=gen))
               for n in (16, 16, 16, 16, 5)]             # a short last batch, as a train split ends
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prepared = prepare(model, batches[0][0])
    fq = [m for m in prepared.modules() if isinstance(m, FakeQuantizeBase)]
    seen, scales = [], []

    def progress(epoch, loss):
        seen.append((epoch, loss))
        scales.append([m.calculate_qparams()[0].clone() for m in fq])
    train_fake_quantized(prepared, batches, epochs=2, lr=1e-3, progress=progress)
    assert [e for e, _ in seen] == [1, 2] and all(loss > 0 for _, loss in seen)
    # the observers are frozen for the last pass: the scales int8 bakes in are those the weights were fitted to
    assert fq and all(int(m.observer_enabled[0]) == 0 for m in fq)
    assert all(torch.equal(a, b) for a, b in zip(*scales))
    # each fake quantization trained with the scale convert_pt2e bakes in (the observer's calculate_qparams);
    # torchao's fused weight kernel picked its own, 0.39 % off in every channel (1/254: max(|min| / 128,
    # |max| / 127) against max(|min|, |max|) / 127.5), which cost Lite0 up to 10 points (docs/edge.md)
    assert all(torch.allclose(m.scale, m.calculate_qparams()[0], rtol=1e-6, atol=0) for m in fq)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())     # the fp32 model untouched
    x = torch.randn(64, 1, 16, 16, generator=gen)
    move_exported_model_to_eval(prepared)
    with torch.no_grad():
        simulated = prepared(x)
        got = int8_graph(prepared)(x)
    assert got.shape == simulated.shape
    assert (got.argmax(1) == simulated.argmax(1)).float().mean() >= 0.95


def test_qat_refuses_what_it_cannot_do(tmp_path):
    from convzoo.export.qat import qat
    from convzoo.runs import quantize_run
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        qat(_net(), [(torch.randn(2, 1, 16, 16), torch.tensor([0, 1]))], epochs=0)
    with pytest.raises(ValueError, match="needs training batches"):
        qat(_net(), [], epochs=1)
    with pytest.raises(ValueError, match=r"--backend openvino is post-training only"):
        quantize_run("variant_conv", tmp_path / "q", weights="w.safetensors", dataset="digits", backend="openvino",
                     qat_epochs=1)
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_quantize_cli_qat_reports_ptq_beside_qat_and_saves_the_qat_int8(tmp_path, capsys):
    """``convzoo quantize RUN --qat-epochs 1``: the report's int8 column is the QAT model, 'int8 ptq'
    the post-training one, each with its drop; the saved package evaluates to the reported accuracy."""
    from convzoo.cli import main
    run, out = tmp_path / "run", tmp_path / "int8"
    assert main(["train", "--out", str(run), "--epochs", "3", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["quantize", str(run), "--out", str(out), "--qat-epochs", "1", "--runs", "2", "--calibration",
                 "64", "--json"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["backend"] == "pt2e" and rep["qat"]["epochs"] == 1
    res = rep["results"]
    assert {"fp32", "int8 ptq", "int8"} <= res.keys()
    # the post-training column is the reference int8 graph: accuracy and agreement, no speed
    assert res["int8 ptq"]["images_per_s"] is None and res["int8"]["images_per_s"] > 0
    ptq_drop = 100 * (res["fp32"]["accuracy"] - res["int8 ptq"]["accuracy"])
    assert rep["ptq_accuracy_drop_points"] == pytest.approx(ptq_drop)
    assert res["int8"]["accuracy"] >= res["fp32"]["accuracy"] - 0.05 and res["int8"]["agreement"] >= 0.9, res
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(res["int8"]["accuracy"], abs=1e-6)
