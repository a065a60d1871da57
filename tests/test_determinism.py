"""Same seed, same result on CPU: ``convzoo train`` (with augmentation) twice gives identical weights,
and the generated datasets behind ``compare`` and the video experiment are functions of their seed."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from convzoo.cli import main
from convzoo.data import get_dataset

TRAIN = ["train", "--epochs", "1", "--limit-train", "96", "--limit-test", "32", "--batch-size", "32",
         "--randaugment", "9", "--mixup", "0.2", "--cutmix", "1.0", "--no-progress", "--seed", "3"]


def test_train_twice_with_one_seed_gives_the_same_weights(tmp_path, capsys):
    for name in ("a", "b"):
        torch.manual_seed(1234 if name == "a" else 99)       # global RNG state must not matter
        assert main(TRAIN + ["--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    ra, rb = (json.loads((tmp_path / n / "report.json").read_text()) for n in ("a", "b"))
    assert ra["accuracy"] == rb["accuracy"] and ra["loss"] == rb["loss"]
    wa, wb = (load_file(tmp_path / n / "model.safetensors") for n in ("a", "b"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    la, lb = ((tmp_path / n / "metrics.jsonl").read_text().splitlines() for n in ("a", "b"))
    assert [json.loads(r)["train_loss"] for r in la] == [json.loads(r)["train_loss"] for r in lb]


def test_cluttered_digits_is_deterministic_balanced_and_disjoint():
    a, b = get_dataset("cluttered_digits", "train", size=300), get_dataset("cluttered_digits", "train", size=300)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert a.images.shape == (300, 1, 16, 16) and 0 <= a.images.min() and a.images.max() <= 1
    # image i does not depend on how many are asked for; another seed gives other images
    assert torch.equal(get_dataset("cluttered_digits", "train", size=10).images, a.images[:10])
    assert not torch.equal(get_dataset("cluttered_digits", "train", size=10, seed=1).images, a.images[:10])
    counts = torch.bincount(a.targets, minlength=10)
    assert counts.min() >= 15 and counts.max() <= 45
    # the stored normalisation statistics are those of the default train split
    full = get_dataset("cluttered_digits", "train")
    assert full.images.mean().item() == pytest.approx(full.mean[0], abs=1e-3)
    assert full.images.std().item() == pytest.approx(full.std[0], abs=1e-3)
    with pytest.raises(ValueError, match="size must be a positive int"):
        get_dataset("cluttered_digits", "train", size=0)


def test_a_fresh_cluttered_digits_set_draws_new_images_each_epoch_and_the_test_split_stays():
    fixed = get_dataset("cluttered_digits", "train", size=64, clutter=1, noise=0.1)
    twice = get_dataset("cluttered_digits", "train", size=128, clutter=1, noise=0.1)
    fresh = get_dataset("cluttered_digits", "train", size=64, clutter=1, noise=0.1, fresh=True)
    assert torch.equal(fresh.images, fixed.images)                   # epoch 0 is the fixed set
    fresh.set_epoch(1)                                                # epoch 1: images 64..127 of the sequence
    assert torch.equal(fresh.images, twice.images[64:]) and torch.equal(fresh.targets, twice.targets[64:])
    fresh.set_epoch(0)
    assert torch.equal(fresh.images, fixed.images)                   # a function of the epoch (resume)
    fixed.set_epoch(1)
    assert torch.equal(fixed.images, twice.images[:64])              # a fixed set never changes
    test = get_dataset("cluttered_digits", "test", size=64, clutter=1, noise=0.1, fresh=True)
    before = test.images.clone()
    test.set_epoch(3)
    assert torch.equal(test.images, before)
    with pytest.raises(ValueError, match="fresh must be True or False, got 'yes'"):
        get_dataset("cluttered_digits", "train", size=8, fresh="yes")


def test_the_trainer_tells_the_training_set_each_epoch_also_through_a_subset(tmp_path):
    from torch.utils.data import Subset

    from convzoo.registry import create_model
    from convzoo.train import TrainConfig, fit

    class Spy(torch.utils.data.Dataset):
        num_classes, input_size = 10, (1, 16, 16)

        def __init__(self):
            self.base, self.calls = get_dataset("cluttered_digits", "train", size=32, clutter=1, noise=0.1), []

        def set_epoch(self, epoch):
            self.calls.append(epoch)

        def __len__(self):
            return len(self.base)

        def __getitem__(self, i):
            return self.base[i]
    spy = Spy()
    test = get_dataset("cluttered_digits", "test", size=16, clutter=1, noise=0.1)
    model = create_model("variant_conv", num_classes=10, in_chans=1, widths=(4, 8))
    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-3, seed=0, latency_runs=1)
    fit(model, Subset(spy, range(32)), test, cfg, out_dir=tmp_path / "run", progress=False)
    assert spy.calls == [0, 1, 2]


def _flash_frames(x: torch.Tensor) -> list[int]:
    """Frames whose content departs from the grey background (the flashes), by energy."""
    energy = (x[0] - 0.5).abs().flatten(1).sum(1)
    return sorted(torch.topk(energy, 2).indices.tolist())


def test_digit_order_label_is_the_order_of_the_flashes():
    d = get_dataset("digit_order", "train", size=200)
    again = get_dataset("digit_order", "train", size=200)
    assert torch.equal(d.x, again.x) and torch.equal(d.y, again.y)
    x, y = d[0]
    assert x.shape == (1, 16, 16, 16) and d.num_classes == 2 and y in (0, 1)
    counts = torch.bincount(d.y, minlength=2)
    assert abs(int(counts[0]) - int(counts[1])) < 40                         # balanced
    from convzoo.data.digit_order import _scans
    zeros, ones = (torch.from_numpy(a).flatten(1).float() for a in _scans("train"))
    template = (ones.mean(0) - zeros.mean(0)).reshape(8, 8)     # a linear 0-vs-1 read-out of one flash

    def digit_at(x, t, where):
        """How much the flash in frame t looks like a 1 rather than a 0 (class-mean difference)."""
        f = (x[0, t] - 0.5).abs()
        r, c = where
        f = f[r:r + 8, c:c + 8] - f.median()
        return float((f * template).sum() / f.sum())

    def place(x, t1, t2):
        """Top-left corner of the 8x8 window holding most of both flashes (they share one place)."""
        f = (x[0, t1] - 0.5).abs() + (x[0, t2] - 0.5).abs()
        return divmod(int(f.unfold(0, 8, 1).unfold(1, 8, 1).sum((-1, -2)).argmax()), 9)
    def first_flash_score(x):
        t1, t2 = _flash_frames(x)
        assert 1 <= t1 and t2 <= 14 and t2 - t1 >= 2
        return digit_at(x, t1, place(x, t1, t2))
    fwd = torch.tensor([first_flash_score(d[i][0]) for i in range(len(d))])
    rev = torch.tensor([first_flash_score(d[i][0].flip(1)) for i in range(len(d))])
    ones_first = d.y == 1
    # the first flash looks like a 1 when the label says "1 first", like a 0 otherwise ...
    assert fwd[ones_first].mean() - fwd[~ones_first].mean() > 3 * fwd.std() / len(d) ** 0.5
    # ... and reversing time turns it around: the label really is the order of the frames
    assert rev[~ones_first].mean() - rev[ones_first].mean() > 3 * rev.std() / len(d) ** 0.5
    assert ((fwd > fwd.median()) == ones_first).float().mean() > 0.6
    # the middle frame alone says nothing: flashed digit in frame 8 equally often under both labels
    mid = [(int(d.y[i]), bool(((d.x[i, 8].float() / 255 - 0.5).abs() > 0.2).any())) for i in range(len(d))]
    shown = [np.mean([m for lab, m in mid if lab == k]) for k in (0, 1)]
    assert abs(shown[0] - shown[1]) < 0.1
