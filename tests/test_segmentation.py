"""Dense prediction: ``output_stride`` twins of timm and torchvision, torchvision's two segmenters,
``create_segmenter`` over the three heads, tracing and ONNX parity. Oracles: timm, torchvision, ORT."""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torchvision
from timm.models.convnext import ConvNeXt as TimmConvNeXt

import convzoo
from convzoo.models._specs import ConvNeXtSpec
from convzoo.models.convnext import ConvNeXt
from convzoo.models.segmentation import create_segmenter
from convzoo.registry import get_pretrained_cfg
from convzoo.weights import load_weights
from _helpers import randomize_bn
from _twins import build_twin, twin

SMALL = dict(width_mult=0.35)          # mobilenet_v2 x0.35: the cheap backbone of these tests



# one model of each family, against its registered timm twin
MB_TWINS = ["mobilenet_v2", "mobilenetv3_large_100", "efficientnet_b0",
            pytest.param("tf_efficientnet_v2_s", marks=pytest.mark.slow)]


@pytest.mark.parametrize("ours", MB_TWINS)
def test_output_stride_equals_timm_mb(ours):
    theirs = twin(ours, "timm")
    sd = randomize_bn(timm.create_model(theirs)).state_dict()
    x = torch.randn(1, 3, 37, 43)
    for os_ in (8, 16):
        t = timm.create_model(theirs, output_stride=os_, features_only=True).eval()
        t.load_state_dict(sd, strict=False)
        m = convzoo.create_model(ours, output_stride=os_).eval()
        m.load_state_dict(m.convert_state_dict(sd, "timm"))
        ref = [r for r in t.feature_info.reduction()]
        assert m.feature_info.reduction()[:4] == ref[:4] and max(m.feature_info.reduction()) == os_
        with torch.no_grad():
            a, b = t(x), m.forward_intermediates(x, intermediates_only=True)
        for u, v in list(zip(a, b))[:4]:       # the last level: timm taps another module on V3
            assert u.shape == v.shape and torch.equal(u, v)


def test_output_stride_equals_timm_convnext():
    depths, dims = (1, 1, 2, 1), (8, 16, 24, 32)
    sd = TimmConvNeXt(depths=depths, dims=dims, num_classes=5).state_dict()
    x = torch.randn(2, 3, 41, 37)
    for os_ in (8, 16, 32):
        t = TimmConvNeXt(depths=depths, dims=dims, num_classes=5, output_stride=os_).eval()
        t.load_state_dict(sd)
        m = ConvNeXt(ConvNeXtSpec(depths, dims), num_classes=5, output_stride=os_).eval()
        m.load_state_dict(m.convert_state_dict(sd, "timm"))
        assert m.feature_info.reduction() == [f["reduction"] for f in t.feature_info]
        with torch.no_grad():
            assert torch.equal(t(x), m(x))
            for u, v in zip(t.forward_intermediates(x, intermediates_only=True),
                            m.forward_intermediates(x, intermediates_only=True)):
                assert torch.equal(u, v)


def test_dilated_mobilenet_v3_equals_torchvision():
    tv = randomize_bn(torchvision.models.mobilenet_v3_large(dilated=True)).eval()
    ours = convzoo.create_model("mobilenet_v3_large", dilated=True).eval()
    load_weights(ours, tv.state_dict(), layout="torchvision")
    x = torch.randn(1, 3, 45, 51)
    with torch.no_grad():
        assert torch.equal(tv(x), ours(x))
        assert torch.equal(tv.features(x), ours.neck(ours.stages(ours.stem(x))))
    assert ours.feature_info.reduction() == [2, 4, 8, 16, 16]


@pytest.mark.parametrize("name,kwargs,msg", [
    ("efficientnet_b0", dict(output_stride=4), "output_stride must be 8, 16 or 32, got 4"),
    ("convnext_tiny", dict(output_stride=True), "output_stride must be 8, 16 or 32"),
    ("mobilenet_v1", dict(output_stride=16), "does not take 'output_stride'"),
    ("mobilenet_v3_large", dict(dilated=True, output_stride=8), "dilated=True is output_stride=16"),
])
def test_bad_output_stride_is_one_line(name, kwargs, msg):
    with pytest.raises(ValueError, match=msg) as e:
        convzoo.create_model(name, **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"])
def test_torchvision_segmenters_are_twins(name):
    params = get_pretrained_cfg(name)["num_params"]
    tv = randomize_bn(build_twin("torchvision", twin(name, "torchvision"))).eval()
    ours = convzoo.create_model(name).eval()
    n = sum(p.numel() for p in ours.parameters())
    assert n == sum(p.numel() for p in tv.parameters()) == params
    load_weights(ours, tv.state_dict())                  # layout detected: torchvision
    x = torch.randn(1, 3, 67, 53)
    with torch.no_grad():
        a, b = tv(x)["out"], ours(x)["out"]
    assert b.shape == (1, 21, 67, 53) and torch.equal(a, b)


def test_segmenters_have_their_own_registry():
    assert convzoo.create_segmenter is create_segmenter       # the public name
    seg = convzoo.list_models(task="segmentation")
    assert seg == ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
    assert not set(seg) & set(convzoo.list_models())      # the registry-wide tests walk classifiers
    assert set(seg) < set(convzoo.list_models(task=None))
    with pytest.raises(ValueError, match="aux_loss=True"):
        convzoo.create_model("lraspp_mobilenet_v3_large", aux_loss=True)
    with pytest.raises(ValueError, match="downloads nothing"):
        convzoo.create_model("lraspp_mobilenet_v3_large", weights_backbone="IMAGENET1K_V1")


HEADS = [("deeplabv3", "transposed"), ("lraspp", "transposed"), ("unet", "transposed"), ("unet", "resize")]


@pytest.mark.parametrize("head,upsample", HEADS)
def test_create_segmenter_any_size(head, upsample):
    seg = create_segmenter("mobilenet_v2", head, 4, upsample=upsample, in_chans=1, **SMALL).eval()
    for hw in ((33, 47), (64, 64), (17, 9)):
        with torch.no_grad():
            out = seg(torch.randn(2, 1, *hw))
        assert list(out) == ["out"] and out["out"].shape == (2, 4, *hw)


def test_unet_on_convnext_floors_and_os8():
    # ConvNeXt's unpadded stride-4 stem floors sizes: the decoder pads back to the input's size
    seg = create_segmenter("convnext_tiny", "unet", 3, upsample="resize").eval()
    assert seg.backbone.reductions == [4, 8, 16, 32]
    with torch.no_grad():
        assert seg(torch.randn(1, 3, 35, 45))["out"].shape == (1, 3, 35, 45)
    seg = create_segmenter("mobilenet_v2", "unet", 3, output_stride=8, **SMALL).eval()
    assert seg.backbone.reductions == [2, 4, 8, 8, 8]
    with torch.no_grad():
        assert seg(torch.randn(1, 3, 29, 31))["out"].shape == (1, 3, 29, 31)


@pytest.mark.parametrize("args,msg", [
    (("waveform_m3",), "image classification backbone"),
    (("deeplabv3_mobilenet_v3_large",), "image classification backbone"),
    (("mobilenet_v2", "fcn"), "head must be one of"),
    (("mobilenet_v2", "unet"), 'upsample must be "transposed" or "resize"'),
    (("mobilenet_v2", "deeplabv3"), "is the unet decoder's option"),
])
def test_create_segmenter_refusals(args, msg):
    kw = dict(upsample="bilinear") if args[1:] == ("unet",) else \
        dict(upsample="resize") if args[1:] == ("deeplabv3",) else {}
    with pytest.raises(ValueError, match=msg) as e:
        create_segmenter(*args, **kw)
    assert "\n" not in str(e.value)


CASES = {"lraspp_twin": lambda: convzoo.create_model("lraspp_mobilenet_v3_large", num_classes=3),
         **{f"{h}_{u}": (lambda h=h, u=u: create_segmenter("mobilenet_v2", h, 3, upsample=u, **SMALL))
            for h, u in HEADS}}
SLOW = pytest.mark.slow


@pytest.mark.parametrize("case,tools", [
    *((c, ("fx",)) for c in CASES),
    pytest.param("unet_transposed", ("export",), marks=SLOW),
    pytest.param("lraspp_twin", ("export",), marks=SLOW),
])
def test_segmenters_trace(case, tools):
    seg = randomize_bn(CASES[case]()).eval()
    x = torch.randn(1, 3, 37, 45)
    with torch.no_grad():
        ref = seg(x)["out"]
        for tool in tools:
            y = (torch.fx.symbolic_trace(seg) if tool == "fx" else torch.export.export(seg, (x,)).module())(x)
            assert torch.allclose(y["out"], ref, atol=1e-5, rtol=1e-5), tool


@pytest.mark.parametrize("case", [pytest.param("lraspp_twin", marks=SLOW), "unet_transposed"])
def test_segmenter_onnx_parity(case, tmp_path):
    pytest.importorskip("onnxruntime")
    from convzoo.export import to_onnx, verify_onnx
    seg = randomize_bn(CASES[case]()).eval()
    path = to_onnx(seg.logits_only(), tmp_path / "seg.onnx", input_size=(3, 37, 45), verify=True)
    assert verify_onnx(seg.logits_only(), path, torch.randn(2, 3, 37, 45)) <= 1e-4


# ------------------------------------------------------------------ convzoo train --task segmentation
SEG_TINY = ["--task", "segmentation", "--model", "mobilenet_v2", "--model-arg", "width_mult=0.35",
            "--batch-size", "8", "--no-progress"]


def _cli(capsys, *argv):
    from convzoo.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_train_resume_eval_builtin(tmp_path, capsys):
    import json
    out = tmp_path / "run"
    code, stdout, err = _cli(capsys, "train", *SEG_TINY, "--model-arg", "head=unet", "--dataset", "seg_digits",
                             "--data-arg", "size=16", "--epochs", 1, "--out", out)
    assert code == 0, err
    assert "mIoU" in stdout
    code, stdout, err = _cli(capsys, "train", "--resume", out, "--epochs", 2, "--no-progress")
    assert code == 0, err
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(0 <= r["test_miou"] <= 1 for r in rows)
    report = json.loads((out / "report.json").read_text())
    assert len(report["iou"]) == 11 and report["test_samples"] == 16
    code, stdout, err = _cli(capsys, "eval", out, "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["miou"] == pytest.approx(report["miou"]) and res["agrees_with_report"] is True
    code, stdout, err = _cli(capsys, "eval", out)
    assert "per-class IoU  background:" in stdout


def test_train_eval_voc_layout(tmp_path, capsys):
    from test_dense_data import write_voc
    root = write_voc(tmp_path / "voc", ids=tuple("abcdef"), num_classes=21,
                     split_ids={"train": "abcd", "val": "ef"})
    out = tmp_path / "run"
    code, stdout, err = _cli(capsys, "train", *SEG_TINY, "--model-arg", "head=lraspp", "--dataset", "voc",
                             "--data-root", root, "--data-arg", "crop=32", "--epochs", 1, "--out", out)
    assert code == 0, err
    code, stdout, err = _cli(capsys, "eval", out)
    assert code == 0 and "mIoU" in stdout and "aeroplane:" in stdout, err
    code, stdout, err = _cli(capsys, "predict", "--run", out, root / "JPEGImages", "--out", tmp_path / "masks")
    assert code == 0, err
    from convzoo.data.segmentation import load_mask_png
    masks = sorted((tmp_path / "masks").glob("*.png"))
    assert [m.stem for m in masks] == sorted(p.stem for p in (root / "JPEGImages").iterdir())
    assert all(int(load_mask_png(m).max()) < 21 for m in masks)


def test_segmentation_cli_refusals(tmp_path, capsys):
    from test_dense_data import write_voc
    code, _, err = _cli(capsys, "train", *SEG_TINY, "--dataset", "digits", "--epochs", 1, "--out", tmp_path / "a")
    assert code == 2 and "is for classification but the run's task is segmentation" in err, err
    code, _, err = _cli(capsys, "train", "--model", "lraspp_mobilenet_v3_large", "--dataset", "seg_digits",
                        "--no-progress", "--epochs", 1, "--out", tmp_path / "b")
    assert code == 2 and "pass --task segmentation" in err, err
    root = write_voc(tmp_path / "voc", num_classes=30)       # labels past VOC's 21 classes
    code, _, err = _cli(capsys, "train", *SEG_TINY, "--dataset", "voc", "--data-root", root,
                        "--data-arg", "crop=16", "--epochs", 1, "--out", tmp_path / "c")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "outside 0..20" in err, err


def test_checkerboard_figure_counts_overlaps(tmp_path):
    from convzoo.figures.checkerboard import figure_checkerboard
    res = figure_checkerboard(tmp_path, formats=("png",))
    assert [p.name for p in res.paths] == ["checkerboard.png"]
    ones = res.data["outputs"]["ones"]
    # oracle: output o of a k=3, s=2, p=1 transposed conv gets the taps t with o = 2i - 1 + t
    n = 2 * 12
    taps = [sum(1 for i in range(12) for t in range(3) if 2 * i - 1 + t == o) for o in range(n)]
    assert np.array_equal(ones["transposed 3x3, stride 2"], np.outer(taps, taps))
    core = ones["resize 2x + conv 3x3"][1:-1, 1:-1]
    assert (core == 9).all()                                   # flat input, flat output
    spread = res.data["interior_spread"]
    assert spread["random"]["resize 2x + conv 3x3"] < 1e-6 < spread["random"]["transposed 3x3, stride 2"]


def test_predict_writes_palette_masks_for_a_segmentation_run(tmp_path, capsys):
    import json
    from PIL import Image
    from convzoo.data.segmentation import load_mask_png
    out = tmp_path / "run"
    code, _, err = _cli(capsys, "train", *SEG_TINY, "--model-arg", "head=unet", "--dataset", "seg_digits",
                        "--data-arg", "size=16", "--epochs", 1, "--out", out)
    assert code == 0, err
    rng = np.random.default_rng(0)
    for name, shape in (("a.png", (23, 31, 3)), ("b.jpg", (17, 19, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / name)
    masks = tmp_path / "masks"
    code, stdout, err = _cli(capsys, "predict", "--run", out, tmp_path / "a.png", tmp_path / "b.jpg",
                             "--out", masks, "--json")
    assert code == 0, err
    rows = json.loads(stdout)
    for r, shape in zip(rows, ((23, 31), (17, 19))):
        mask = load_mask_png(r["mask"])
        assert tuple(mask.shape) == shape and int(mask.max()) < 11       # the image's size, valid classes
        assert sum(r["pixels"].values()) == pytest.approx(1.0)
        assert Image.open(r["mask"]).mode == "P"
    code, _, err = _cli(capsys, "predict", "--run", out, tmp_path / "a.png", "--out", masks)
    assert code == 2 and "not an empty folder" in err


@pytest.mark.parametrize("name", convzoo.list_models(task="segmentation"))
def test_every_registered_segmenter_keeps_the_contract(name):
    """The registry-wide check of segmenters (the classifier contract walks list_models()): a registered
    segmenter returns {"out": logits} at the input's odd H x W and FX-traces to the same output."""
    model = convzoo.create_model(name, num_classes=3).eval()
    x = torch.randn(1, 3, 65, 71)
    with torch.no_grad():
        out = model(x)
        assert set(out) == {"out"} and tuple(out["out"].shape) == (1, 3, 65, 71)
        traced = torch.fx.symbolic_trace(model.logits_only())(x)
    assert (traced - out["out"]).abs().max() <= 1e-5 * out["out"].abs().max()
