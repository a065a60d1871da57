"""``convzoo.compress``: every method x {1D, 2D, 3D} where it applies reproduces the layer at full rank,
its weight error at low rank is the Eckart-Young bound (NumPy's SVD as the oracle, the module's own
weight read back by autograd), MAC ratios are the closed forms, the report and the CLI run folder round
trip, every bad input is one line, and compressed models trace (FX, TorchScript, torch.export, ONNX)."""
from __future__ import annotations

import json
import re
from math import prod

import numpy as np
import pytest
import torch
from torch import nn

from convzoo.compress import METHODS, NothingToCompress, apply_spec, compress

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
# (method, dims) pairs a method factors; spatial and separable_dw leave 1D kernels alone (one factor)
APPLIES = [(m, d) for m in METHODS for d in (1, 2, 3) if not (m in ("spatial", "separable_dw") and d == 1)]


def _conv(method, dims, *, k=3, stride=1, padding=1, dilation=1, bias=True, c=4, n=6):
    torch.manual_seed(0)
    groups = c if method == "separable_dw" else 1
    out = 2 * c if method == "separable_dw" else n          # a depthwise conv with channel multiplier 2
    return CONV[dims](c, out, k, stride, padding, dilation, groups, bias)


@pytest.mark.parametrize("method,dims", APPLIES)
def test_full_rank_reproduces_the_layer(method, dims):
    conv = _conv(method, dims, stride=2, dilation=1 if dims == 3 else 2, padding=2)
    x = torch.randn(2, conv.in_channels, *(7,) * dims)
    new, rep = compress(nn.Sequential(conv), method, energy=1.0, example_input=x)
    ref = conv(x)
    got = new(x)
    assert got.shape == ref.shape
    assert ((got - ref).norm() / ref.norm()).item() <= 1e-5
    assert not isinstance(new[0], nn.modules.conv._ConvNd)            # it was replaced ...
    assert new is not conv and isinstance(conv, CONV[dims])            # ... in a copy


def _effective_weight(module, c, k):
    """The (N, C, *k) weight a linear, bias-free module computes, read back by autograd: on an input of
    exactly the kernel's size with no padding, output o is sum W[o, i, *a] x[i, *a]."""
    x = torch.zeros(1, c, *k, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: module(t).flatten(), x)
    return jac.reshape(jac.shape[0], c, *k).numpy()


def _svd_tail(mats: np.ndarray, r: int) -> float:
    s = np.linalg.svd(mats, compute_uv=False)
    return float(np.sum(s[..., r:] ** 2))


def _eckart_young(method, w, r):
    """Relative error of the best approximation of the method's structure (NumPy SVD, written here)."""
    o, i, *k = w.shape
    if method == "channel":
        tail = _svd_tail(w.reshape(o, -1), r)
    elif method == "spatial" and len(k) == 2:
        tail = _svd_tail(w.transpose(1, 2, 0, 3).reshape(i * k[0], o * k[1]), r)
    elif method == "spatial":
        tail = _svd_tail(w.transpose(1, 3, 4, 0, 2).reshape(i * k[1] * k[2], o * k[0]), r)
    elif method == "dwsep":
        tail = _svd_tail(np.stack([w[:, j].reshape(o, -1) for j in range(i)]), r)
    elif len(k) == 2:                                              # separable_dw
        tail = _svd_tail(w[:, 0], r)
    else:
        tail = _svd_tail(w[:, 0].transpose(0, 2, 3, 1).reshape(o, k[1] * k[2], k[0]), r)
    return np.sqrt(tail) / np.linalg.norm(w)


@pytest.mark.parametrize("method,dims", [p for p in APPLIES if p[0] in ("spatial", "channel", "dwsep",
                                                                         "separable_dw")])
def test_low_rank_error_is_the_eckart_young_bound(method, dims):
    k = (3, 5) if dims == 2 else (3,) * dims
    conv = _conv(method, dims, k=k, padding=0, bias=False, c=3, n=5).double()
    rank = 2
    new, rep = compress(nn.Sequential(conv), method, rank=rank,
                        example_input=torch.zeros(1, conv.in_channels, *k, dtype=torch.float64))
    w = conv.weight.detach().numpy()
    bound = _eckart_young(method, w, rank)
    eff = _effective_weight(new.double(), conv.in_channels, k)
    dense = w
    if method == "separable_dw":                                  # depthwise: output o reads channel o // 2
        dense = np.zeros_like(eff)
        dense[np.arange(w.shape[0]), np.arange(w.shape[0]) // 2] = w[:, 0]
    measured = np.linalg.norm(eff - dense) / np.linalg.norm(w)
    assert bound > 1e-3                                           # truncation really happened
    assert measured == pytest.approx(bound, rel=1e-6)
    assert rep["layers"][0]["relative_weight_error"] == pytest.approx(bound, rel=1e-6)


def test_tucker2_and_cp_recover_a_tensor_of_their_own_rank():
    """A weight built from rank-3 Tucker-2 / CP factors is recovered (HOOI / ALS find it)."""
    g = np.random.default_rng(0)
    u_out, u_in, core = g.normal(size=(8, 3)), g.normal(size=(6, 3)), g.normal(size=(3, 3, 3, 3))
    tucker = np.einsum("rsab,or,is->oiab", core, u_out, u_in)
    a, b, c, d = (g.normal(size=(n, 3)) for n in (8, 6, 3, 3))
    cpw = np.einsum("or,ir,ar,br->oiab", a, b, c, d)
    for method, w in (("tucker2", tucker), ("cp", cpw)):
        conv = nn.Conv2d(6, 8, 3, padding=1, bias=False)
        conv.weight.data = torch.from_numpy(w).float()
        _, rep = compress(nn.Sequential(conv), method, rank=3, example_input=torch.zeros(1, 6, 8, 8))
        assert rep["layers"][0]["relative_weight_error"] < 1e-4, method


C, N, K, HW = 16, 24, 3, 10


@pytest.mark.parametrize("method,rank,closed_form", [
    # dense C N k^2 over the factorised form's MACs per output position (stride 1, "same" padding)
    ("spatial", 8, C * N * K * K / (8 * C * K + 8 * N * K)),                   # Jaderberg scheme 2
    ("channel", 8, C * N * K * K / (8 * C * K * K + 8 * N)),                   # Zhang: k x k C->R, 1x1 R->N
    ("tucker2", 8, C * N * K * K / (C * 8 + 8 * 8 * K * K + 8 * N)),           # Kim: 1x1, core, 1x1
    ("cp", 8, C * N * K * K / (C * 8 + 8 * K + 8 * K + 8 * N)),                # Lebedev: 1x1, kx1, 1xk, 1x1
    ("dwsep", 2, C * N * K * K / (C * 2 * K * K + C * 2 * N)),                 # decoupling: R depthwise-separables
])
def test_mac_ratio_is_the_closed_form(method, rank, closed_form):
    net = nn.Sequential(nn.Conv2d(C, N, K, padding=1))
    _, rep = compress(net, method, rank=rank, example_input=torch.zeros(1, C, HW, HW))
    assert rep["macs_before"] / rep["macs_after"] == pytest.approx(closed_form, rel=1e-12)
    assert rep["macs_before"] == C * N * K * K * HW * HW


def test_mac_ratio_of_the_2plus1d_split_and_separable_depthwise():
    _, rep = compress(nn.Sequential(nn.Conv3d(C, N, 3, padding=1)), "spatial", rank=8,
                      example_input=torch.zeros(1, C, 4, 6, 6))
    assert rep["macs_before"] / rep["macs_after"] == pytest.approx(C * N * 27 / (8 * C * 9 + 8 * N * 3))
    _, rep = compress(nn.Sequential(nn.Conv2d(C, C, 7, padding=3, groups=C)), "separable_dw", rank=2,
                      example_input=torch.zeros(1, C, HW, HW))
    assert rep["macs_before"] / rep["macs_after"] == pytest.approx(49 / (2 * 7 + 2 * 7))   # ConvNeXt 7x7


def _small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(16, 8, 2, stride=2), nn.Conv2d(8, 8, 3, padding=1, groups=2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()


def test_report_keys_and_dense_reasons():
    net = _small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    new, rep = compress(net, "channel", energy=0.9, example_input=torch.randn(1, 3, 12, 12))
    assert {"macs_before", "macs_after", "params_before", "params_after", "layers", "spec"} <= set(rep)
    rows = {r["name"]: r for r in rep["layers"]}
    assert set(rows) == {"0", "3", "5", "7", "8"}
    for name in ("0", "5"):
        assert rows[name]["status"] == "factorized"
        assert {"name", "method", "rank", "relative_weight_error"} <= set(rows[name])
    assert re.search("depthwise", rows["3"]["reason"])
    assert re.search("transposed", rows["7"]["reason"])
    assert re.search("grouped conv \\(groups=2\\) that is not depthwise", rows["8"]["reason"])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())   # input untouched
    assert rep["spec"] == {"method": "channel", "layers": {"0": rows["0"]["rank"], "5": rows["5"]["rank"]}}


def test_macs_ratio_reaches_the_target():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1))
    for s in (2.0, 4.0):
        _, rep = compress(net, "spatial", macs_ratio=s, example_input=torch.randn(1, 16, 12, 12))
        assert s <= rep["macs_before"] / rep["macs_after"] < 1.3 * s     # met, and not by a wide margin
        assert 0 < rep["target"]["energy"] < 1


@pytest.mark.parametrize("engine", ["eager", pytest.param("onnxruntime", marks=pytest.mark.slow)])
def test_macs_ratio_on_an_engine_reports_a_timing_table(engine):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1)).eval()
    try:
        new, rep = compress(net, "channel", macs_ratio=2.0, example_input=torch.randn(1, 32, 16, 16), engine=engine)
    except NothingToCompress as e:                                # both layers measured slower: all put back
        assert all(r["reason"].startswith(f"not faster on {engine}") for r in e.layers)
        return
    assert rep["engine"] == engine and rep["latency_ms_before"] > 0 and rep["latency_ms_after"] > 0
    b = rep["latency"]["before"]
    assert b["q1_ms"] <= b["median_ms"] <= b["q3_ms"]
    assert {t["name"] for t in rep["timing"]} == {"0", "2"}
    for row in rep["layers"]:
        if row["status"] == "factorized":
            assert row["measured_speedup"] > 1
        else:
            assert row["reason"].startswith(f"not faster on {engine}")


def test_save_and_load_round_trip(tmp_path):
    import convzoo
    from convzoo.runs import build_run_model
    model = convzoo.create_model("variant_conv", num_classes=10, in_chans=1, widths=(8, 16), depth=1).eval()
    x = torch.randn(2, 1, 16, 16)
    new, rep = compress(model, "tucker2", energy=0.8, example_input=x)
    convzoo.save_weights(new, tmp_path / "m.safetensors")
    spec = json.loads(json.dumps(rep["spec"]))                  # as config.json stores it

    class Data:
        num_classes = 10

        def __getitem__(self, i):
            return torch.zeros(1, 16, 16), 0
    fresh = build_run_model("variant_conv", Data(), {"widths": (8, 16), "depth": 1, "compression": spec}).eval()
    convzoo.load_weights(fresh, tmp_path / "m.safetensors")     # strict: every key of the factorised form
    assert torch.equal(fresh(x), new.eval()(x))
    with pytest.raises(ValueError, match="names layer 'nope'"):
        apply_spec(convzoo.create_model("variant_conv", num_classes=10, in_chans=1), {"method": "cp",
                                                                                    "layers": {"nope": 2}})


@pytest.mark.parametrize("kwargs,pattern", [
    ({"method": "svd", "rank": 2}, r"method must be one of spatial, channel, tucker2, cp, dwsep, separable_dw, "
                                   r"got 'svd'"),
    ({"method": "channel", "rank": 99}, r"rank must be in \[1, 8\] .*got 99"),
    ({"method": "channel", "rank": 0}, r"rank must be an int >= 1, got 0"),
    ({"method": "channel", "energy": 0.0}, r"energy must be a number in \(0, 1\], got 0.0"),
    ({"method": "channel", "energy": 1.5}, r"energy must be a number in \(0, 1\], got 1.5"),
    ({"method": "channel", "energy": float("nan")}, r"energy must be a number in \(0, 1\], got nan"),
    ({"method": "channel", "speedup": 1.0}, r"speedup must be a finite number > 1, got 1.0"),
    ({"method": "channel", "macs_ratio": 0.5}, r"macs_ratio must be a finite number > 1, got 0.5"),
    ({"method": "channel", "macs_ratio": 1e6}, r"macs_ratio must be in \(1, [0-9.]+\] for method 'channel'"),
    ({"method": "channel", "rank": 2, "energy": 0.5}, r"give exactly one of rank=, energy=, macs_ratio=, speedup="),
    ({"method": "channel", "rank": 2, "engine": "tpu"}, r"engine must be None .* got 'tpu'"),
])
def test_bad_input_is_one_line(kwargs, pattern):
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1))
    method = kwargs.pop("method")
    with pytest.raises(ValueError, match=pattern) as e:
        compress(net, method, example_input=torch.zeros(1, 2, 6, 6), **kwargs)
    assert "\n" not in str(e.value)


def test_convzoo_compress_is_callable_and_layers_selects():
    import convzoo
    import convzoo.compress                                      # binds the subpackage over the lazy name
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1))
    _, rep = convzoo.compress(net, "channel", rank=2, example_input=torch.zeros(1, 2, 6, 6), layers=["1"])
    assert [r["name"] for r in rep["layers"]] == ["1"]
    with pytest.raises(ValueError, match="layers: 'x.\\*' matches no conv"):
        compress(net, "channel", rank=2, example_input=torch.zeros(1, 2, 6, 6), layers=["x.*"])


def test_no_convolution_and_nonfinite_weights_are_refused():
    with pytest.raises(ValueError, match="has no convolution"):
        compress(nn.Sequential(nn.Linear(4, 4)), "channel", rank=1, example_input=torch.zeros(1, 4))
    conv = nn.Conv2d(2, 4, 3)
    conv.weight.data[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="layer '0' has a non-finite weight"):
        compress(nn.Sequential(conv), "channel", rank=1, example_input=torch.zeros(1, 2, 6, 6))


def _compressed(method):
    dims = 3 if method == "spatial" else 2                       # (2+1)D through every tracer, too
    torch.manual_seed(0)
    net = nn.Sequential(CONV[dims](3, 8, 3, padding=1), nn.ReLU(),
                        CONV[dims](8, 8, 3, padding=1, groups=8 if method == "separable_dw" else 1)).eval()
    x = torch.randn(1, 3, *(6,) * dims)
    return compress(net, method, rank=2, example_input=x)[0], x


@pytest.mark.parametrize("method", list(METHODS))
def test_compressed_models_trace(method):
    from torch.fx import symbolic_trace
    new, x = _compressed(method)
    ref = new(x)
    torch.testing.assert_close(symbolic_trace(new)(x), ref)
    torch.testing.assert_close(torch.jit.script(new)(x), ref)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_compressed_models_export_and_onnx_parity(method, tmp_path):
    from convzoo.export import to_onnx
    new, x = _compressed(method)
    ref = new(x)
    torch.testing.assert_close(torch.export.export(new, (x,)).module()(x), ref)
    to_onnx(new, tmp_path / "m.onnx", input_size=tuple(x.shape[1:]), verify=True)   # ORT parity, 1e-4


@pytest.mark.slow
def test_timm_and_torchvision_models():
    timm = pytest.importorskip("timm")
    import torchvision
    model = timm.create_model("test_resnet", num_classes=5).eval()
    x = torch.randn(1, 3, 32, 32)
    new, rep = compress(model, "spatial", energy=1.0, example_input=x)
    torch.testing.assert_close(new(x), model(x), rtol=1e-4, atol=1e-4)
    assert sum(r["status"] == "factorized" for r in rep["layers"]) >= 4
    tv = torchvision.models.mobilenet_v3_small(num_classes=5).eval()
    new, rep = compress(tv, "separable_dw", rank=1, example_input=x)       # depthwise convs: few of its MACs
    assert rep["macs_after"] < rep["macs_before"]
    assert any(r["status"] == "factorized" and r["name"].startswith("features") for r in rep["layers"])
    assert torch.isfinite(new(x)).all()


# ----------------------------------------------------------------------------------------------- CLI
def _fake_run(tmp_path):
    """A run folder as convzoo train writes it (untrained weights: the CLI's plumbing is under test)."""
    import convzoo
    from convzoo.data import get_dataset
    from convzoo.train import TrainConfig
    from convzoo.runs import preprocess_info
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"model": "variant_conv", "model_kwargs": {"widths": (8, 16), "depth": 1}, "dataset": "cluttered_digits",
           "data_root": None, "data_kwargs": {"size": 48}, "train": TrainConfig(epochs=1, batch_size=16).to_dict(),
           "class_names": [f"digit {i}" for i in range(10)],
           "preprocess": preprocess_info(get_dataset("cluttered_digits", "train", size=48), None)}
    (run / "config.json").write_text(json.dumps(cfg))
    m = convzoo.create_model("variant_conv", num_classes=10, in_chans=1, widths=(8, 16), depth=1)
    convzoo.save_weights(m, run / "model.safetensors")
    return run


@pytest.mark.slow
def test_cli_compress_writes_a_run_that_eval_reloads(tmp_path, capsys):
    from convzoo.cli import main
    run = _fake_run(tmp_path)
    for extra, out in (([], tmp_path / "a"), (["--distill"], tmp_path / "b")):
        code = main(["compress", str(run), "--method", "channel", "--energy", "0.9", "--finetune-epochs", "1",
                     "--no-progress", "--out", str(out), *extra])
        _, err = capsys.readouterr()
        assert code == 0, err
        rep = json.loads((out / "report.json").read_text())
        keys = {"macs_before", "macs_after", "params_before", "params_after", "latency_ms_before",
                "latency_ms_after", "accuracy_before", "accuracy_after", "accuracy_original", "layers"}
        assert keys <= set(rep)
        assert rep["macs_after"] < rep["macs_before"]
        code = main(["eval", str(out), "--json"])
        res = json.loads(capsys.readouterr()[0])
        assert code == 0 and res["agrees_with_report"] is True
    _use_compressed_run(tmp_path / "a", tmp_path, capsys)


def _use_compressed_run(out, tmp_path, capsys):
    """bench, export (checked against ONNX Runtime by export itself) and predict --run take the folder."""
    from PIL import Image

    from convzoo.cli import main
    code = main(["bench", str(out), "--runs", "3", "--warmup", "1", "--json"])
    res, err = capsys.readouterr()
    assert code == 0 and json.loads(res)["model"] == str(out), err
    code = main(["export", str(out), "--onnx", str(tmp_path / "c.onnx")])
    err = capsys.readouterr()[1]
    assert code == 0 and (tmp_path / "c.onnx").is_file(), err
    img = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((20, 20)) * 255).astype(np.uint8)).save(img)
    code = main(["predict", str(img), "--run", str(out), "--topk", "2", "--json"])
    res, err = capsys.readouterr()
    rows = json.loads(res)
    assert code == 0 and len(rows[0]["top"]) == 2 and rows[0]["top"][0]["label"].startswith("digit "), err


@pytest.mark.parametrize("argv,pattern", [
    (["--method", "svd", "--rank", "2"], "method must be one of"),
    (["--method", "channel", "--energy", "1.5"], r"argument --energy: expected a number in \(0, 1\], got '1.5'"),
    (["--method", "channel", "--speedup", "1"], r"argument --speedup: expected a number in \(1, inf\), got '1'"),
    (["--method", "channel", "--rank", "999"], r"rank must be in \[1, \d+\]"),
    (["--method", "channel", "--rank", "2", "NAN"], r"stages\.1\.0\.conv\.weight holds 1 NaN/inf.*expected finite"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, pattern):
    from safetensors.torch import load_file, save_file

    from convzoo.cli import main
    run = _fake_run(tmp_path)
    if argv[-1] == "NAN":     # a run whose trained weights hold a NaN
        argv = argv[:-1]
        sd = load_file(run / "model.safetensors")
        sd["stages.1.0.conv.weight"][0, 0, 0, 0] = float("nan")
        save_file(sd, run / "model.safetensors")
    out = tmp_path / "new"
    code = main(["compress", str(run), *argv, "--finetune-epochs", "0", "--out", str(out)])
    err = capsys.readouterr()[1].strip()
    assert code == 2 and len(err.splitlines()) == 1 and re.search(pattern, err), err
    assert not out.exists()


def test_kernel_sizes_in_closed_forms_are_products():
    """Guard for the table above: prod over the kernel, not its first side (a 3 x 5 kernel)."""
    _, rep = compress(nn.Sequential(nn.Conv2d(4, 4, (3, 5), padding=(1, 2))), "channel", rank=2,
                      example_input=torch.zeros(1, 4, 6, 6))
    assert rep["macs_before"] / rep["macs_after"] == pytest.approx(4 * 4 * 15 / (2 * 4 * prod((3, 5)) + 2 * 4))
