"""The trainer's parts against independent oracles (torch's own schedulers, hand-computed EMA, the
EfficientNetV2 paper's Table 6) and a small end-to-end fit on digits."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from convzoo import create_model
from convzoo.data import get_dataset
from convzoo.train import CheckpointError, ModelEma, TrainConfig, check_fits, evaluate, fit, lr_at
from convzoo.train.augment import eval_image_size, stage_settings
from convzoo.train.checkpoint import load_checkpoint, save_checkpoint
from convzoo.train.engine import DataMismatchError

TINY = dict(widths=(8, 16), depth=1)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", "train"), get_dataset("digits", "test")


def test_digits_are_sklearns_and_the_split_is_fixed_and_disjoint(digits):
    """Oracle: scikit-learn's own load_digits (the dataset reads its bundled CSV directly)."""
    from sklearn.datasets import load_digits
    tr, te = digits
    assert (len(tr), len(te)) == (1437, 360)
    ref = load_digits()
    from convzoo.data.digits import split_indices
    itr, ite = split_indices(ref.target)
    assert torch.equal(te.images[:, 0] * 16, torch.tensor(ref.images[ite], dtype=torch.float32))
    assert torch.equal(tr.targets, torch.tensor(ref.target[itr]))
    assert len(set(itr) | set(ite)) == 1797 and not set(itr) & set(ite)
    assert tr.images.shape[1:] == (1, 8, 8) and 0 <= tr.images.min() and tr.images.max() <= 1
    # the split is stratified: every class appears in the test split 35-37 times (360 / 10)
    counts = torch.bincount(te.targets, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert torch.allclose(tr.images.mean(), torch.tensor(tr.mean[0]), atol=1e-4)
    assert torch.allclose(tr.images.std(), torch.tensor(tr.std[0]), atol=1e-4)


@pytest.mark.parametrize("warmup", [0, 3])
def test_cosine_schedule_matches_torch_schedulers(warmup):
    """Oracle: torch's LinearLR warmup + CosineAnnealingLR."""
    base, total, spe = 0.1, 40, 10
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=0.0)
    if warmup:
        lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[warmup])
    else:
        sched = cos
    for step in range(total):
        ours = lr_at(step, base_lr=base, total_steps=total, steps_per_epoch=spe, schedule="cosine",
                     warmup_epochs=warmup / spe)
        assert ours == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-12), step
        opt.step()
        sched.step()


def test_step_schedule_is_efficientnet_recipe():
    """x0.97 every 2.4 epochs (Tan & Le 2019, Sec. 5.2); oracle: the closed form per epoch."""
    spe = 10
    for step in (0, 23, 24, 48, 240):
        want = 0.256 * 0.97 ** math.floor(step / 24)
        assert lr_at(step, base_lr=0.256, total_steps=1000, steps_per_epoch=spe, schedule="step") == \
            pytest.approx(want)


def test_ema_matches_hand_computed_average():
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema = ModelEma(lin, decay=0.5)
    w = [1.0]
    for n, new in enumerate((3.0, 5.0, 7.0), start=1):
        with torch.no_grad():
            lin.weight.fill_(new)
        ema.update(lin)
        d = min(0.5, (1 + n) / (10 + n))
        w.append(d * w[-1] + (1 - d) * new)
        assert ema.module.weight[0, 0].item() == pytest.approx(w[-1])
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_progressive_stages_reproduce_efficientnetv2_table6():
    """EfficientNetV2-S, Table 6: size 128->300, RandAugment 5->15, mixup 0->0, dropout 0.1->0.3, 4 stages
    over 350 epochs; values grow linearly (Algorithm 1)."""
    cfg = TrainConfig(epochs=350, progressive_stages=4, size_range=(128, 300), randaug_range=(5, 15),
                      mixup_range=(0, 0), dropout_range=(0.1, 0.3))
    first, last = stage_settings(cfg, 0), stage_settings(cfg, 349)
    assert (first.image_size, first.randaugment, first.mixup, first.dropout) == (128, 5, 0, 0.1)
    assert (last.image_size, last.randaugment, last.dropout) == (300, 15, pytest.approx(0.3))
    assert [stage_settings(cfg, e).stage for e in (0, 87, 88, 175, 263, 349)] == [0, 0, 1, 2, 3, 3]
    assert stage_settings(cfg, 100).image_size == round(128 + 172 / 3)
    assert eval_image_size(cfg) == 300
    plain = TrainConfig(epochs=5, image_size=16, randaugment=9)
    assert stage_settings(plain, 3).image_size == 16 and stage_settings(plain, 3).randaugment == 9


@pytest.mark.parametrize("bad", [dict(optimizer="adam"), dict(epochs=0), dict(lr=0), dict(amp="fp8"),
                                 dict(label_smoothing=1.0), dict(progressive_stages=20, epochs=10)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        TrainConfig(**bad)


def test_config_round_trips_through_json():
    cfg = TrainConfig(epochs=3, size_range=(8, 16), ema_decay=0.99)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown TrainConfig fields: nope"):
        TrainConfig.from_dict({"nope": 1})


def test_check_fits_names_what_does_not_fit(digits):
    tr, _ = digits
    with pytest.raises(DataMismatchError, match="expects 3 input channels but 'digits' gives 1"):
        check_fits(create_model("variant_conv", in_chans=3, **TINY), tr, "digits")
    with pytest.raises(DataMismatchError, match="has 5 outputs but 'digits' has 10 classes"):
        check_fits(create_model("variant_conv", num_classes=5, **TINY), tr, "digits")
    check_fits(create_model("variant_conv", **TINY), tr, "digits")


def test_fit_writes_the_run_folder_and_learns(tmp_path, digits):
    tr, te = digits
    model = create_model("variant_conv", **TINY)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-2, limit_train=384, latency_runs=3)
    rep = fit(model, tr, te, cfg, out_dir=tmp_path, progress=False, run_info={"model": "variant_conv"})
    for key in ("accuracy", "loss", "params", "macs", "latency_ms", "epochs", "wall_time_s"):
        assert rep[key] is not None, key
    assert rep["accuracy"] > 0.3                     # 10 classes: chance is 0.1
    assert rep["params"] == sum(p.numel() for p in model.parameters())
    # MACs of the 8x8 net: stem 1->8 3x3 (4608) + block 8->8 (36864) + s2 conv 8->16 at 4x4 (18432)
    # + block 16->16 at 4x4 (36864) + fc 16->10 (160) = 96928 (conv MACs = Cin*Cout*k*k*Hout*Wout)
    assert rep["macs"] == 4608 + 36864 + 18432 + 36864 + 160
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "metrics.jsonl", "report.json",
                                                    "model.safetensors", "curves.png", "checkpoints"}
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["test_accuracy"] == rep["accuracy"]
    # the state file holds only tensors and primitives: it loads with weights_only=True
    epoch, state = load_checkpoint(tmp_path, create_model("variant_conv", **TINY))
    assert epoch == 2 and state["step"] == 24
    # evaluating the saved weights reproduces the reported numbers
    fresh = create_model("variant_conv", **TINY)
    from convzoo.train import load_weights
    load_weights(fresh, tmp_path / "model.safetensors")
    again = evaluate(fresh, te)
    assert again["accuracy"] == rep["accuracy"] and again["loss"] == pytest.approx(rep["loss"], rel=1e-5)


def test_fit_with_every_option_runs(digits):
    """EMA, bf16 autocast, clipping, label smoothing, RandAugment, mixup+CutMix and progressive learning
    together: the run finishes, the EMA weights are what is evaluated, and image size grows by stage."""
    tr, te = digits
    cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, limit_train=128, limit_test=64, ema_decay=0.9,
                      amp="bf16", clip_grad=1.0, label_smoothing=0.1, cutmix=1.0, progressive_stages=2,
                      size_range=(8, 12), randaug_range=(2, 9), mixup_range=(0.0, 0.2),
                      dropout_range=(0.0, 0.2), latency_runs=2)
    model = create_model("variant_conv", **TINY)
    rep = fit(model, tr, te, cfg, progress=False)
    assert rep["ema"] and rep["epochs"] == 2 and 0 <= rep["accuracy"] <= 1
    assert rep["input_size"] == [1, 12, 12]
    assert model.head.drop.p == pytest.approx(0.2)   # the last stage's dropout


def test_corrupt_checkpoint_is_refused_and_kept(tmp_path):
    model = create_model("variant_conv", **TINY)
    save_checkpoint(tmp_path, 1, model, {"epoch": 1, "step": 3})
    target = tmp_path / "checkpoints" / "epoch_0001.safetensors"
    target.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file"):
        load_checkpoint(tmp_path, model)
    assert target.read_bytes() == b"\x00garbage"


def test_imagefolder_reads_classes_from_folders(tmp_path):
    """Oracle: the pixel values written with PIL come back scaled to [0, 1], labels by sorted folder."""
    import numpy as np
    from PIL import Image
    for split in ("train", "test"):
        for c, value in (("cat", 40), ("dog", 200)):
            d = tmp_path / split / c
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((20, 30, 3), value, dtype=np.uint8)).save(d / f"{i}.png")
    tr = get_dataset("imagefolder", "train", root=str(tmp_path), size=16)
    te = get_dataset("imagefolder", "test", root=str(tmp_path), size=16, channels=1)
    assert (len(tr), tr.num_classes, tr.classes) == (4, 2, ["cat", "dog"])
    x, y = tr[3]
    assert x.shape == (3, 16, 16) and y == 1 and torch.allclose(x, torch.full_like(x, 200 / 255))
    assert te[0][0].shape == (1, 16, 16)
    with pytest.raises(FileNotFoundError, match="has no train subfolder"):
        get_dataset("imagefolder", "train", root=str(tmp_path / "test"))
