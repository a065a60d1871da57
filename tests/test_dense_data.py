"""Segmentation data: the built-in ``seg_digits`` task, paired augmentation, palette PNG masks and a
Pascal VOC layout written by the test itself (exact file layout, palette PNGs), with every refusal."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data import get_dataset
from convzoo.data.paired_augment import PairedAugment
from convzoo.data.segmentation import IGNORE_INDEX, load_mask_png, save_mask_png, voc_palette
from convzoo.data.seg_digits import SegDigits


def test_seg_digits_deterministic_and_labelled():
    a = SegDigits("train", size=12, seed=3, augment=False)
    b = SegDigits("train", size=12, seed=3, augment=False)
    c = SegDigits("train", size=12, seed=4, augment=False)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, c.images)
    x, m = a[0]
    assert x.shape == (1, 32, 32) and m.shape == (32, 32) and m.dtype == torch.int64
    vals = set(a.masks.unique().tolist())
    assert vals <= set(range(11)) | {IGNORE_INDEX} and len(vals - {0, IGNORE_INDEX}) >= 2
    # a stroke pixel is ink: brighter than the darkest the generator draws (0.6 contrast x 0.4 ink,
    # less 4 sd of noise); the test split draws other scans
    stroke = (a.masks > 0) & (a.masks != IGNORE_INDEX)
    assert float(a.images[:, 0][stroke].min()) > 0.6 * 0.4 - 4 * 0.1
    assert not torch.equal(SegDigits("test", size=12, seed=3).images, a.images)
    binary = SegDigits("train", size=12, seed=3, augment=False, labels="binary")
    assert binary.num_classes == 2 and torch.equal(binary.masks == 1, stroke)


def test_paired_augment_moves_image_and_mask_alike():
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 5, (20, 30))
    image = torch.stack([mask.float(), -mask.float()])       # the image *is* the mask
    flips = 0
    for _ in range(20):       # scale 1: crop and flip only, so the pair must stay exactly aligned
        x, m = PairedAugment(16, scale=(1.0, 1.0), generator=g)(image, mask)
        assert x.shape == (2, 16, 16) and m.shape == (16, 16)
        assert torch.equal(x[0].long(), m) and torch.equal(x[1], -x[0])
        flips += int(not any(torch.equal(m, mask[i:i + 16, j:j + 16]) for i in range(5) for j in range(15)))
    assert 0 < flips < 20
    x, m = PairedAugment(64, scale=(2.0, 2.0), flip=0.0, generator=g)(image, mask)   # 40x60 padded to 64
    assert x.shape == (2, 64, 64) and (m[40:] == IGNORE_INDEX).all() and (x[:, 40:] == 0).all()
    assert torch.equal(m[:40:2, :60:2], mask) and set(m.unique().tolist()) <= set(range(5)) | {IGNORE_INDEX}
    with pytest.raises(ValueError, match="crop must be a positive int"):
        PairedAugment(0)


def test_palette_png_round_trip(tmp_path):
    pal = voc_palette()
    # the VOC devkit's colours: aeroplane, person, void
    assert pal[3:6] == [128, 0, 0] and pal[45:48] == [192, 128, 128] and pal[765:768] == [224, 224, 192]
    mask = torch.tensor([[0, 1, 15], [255, 2, 0]])
    path = save_mask_png(mask, tmp_path / "m.png")
    with Image.open(path) as im:
        assert im.mode == "P" and im.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
        assert np.array(im.convert("RGB"))[0, 2].tolist() == [192, 128, 128]
    assert torch.equal(load_mask_png(path), mask)
    with pytest.raises(ValueError, match="0..255"):
        save_mask_png(torch.tensor([[300]]), tmp_path / "bad.png")


def write_voc(root, ids=("a", "b", "c", "d"), size=(21, 27), num_classes=3, split_ids=None):
    """A VOC folder in the devkit's exact layout: JPEG images, palette PNG masks, split files."""
    rng = np.random.default_rng(0)
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    for i in ids:
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{i}.jpg")
        mask = rng.integers(0, num_classes, size)
        mask[0, :] = IGNORE_INDEX                                # a void border, as VOC's
        save_mask_png(mask, root / "SegmentationClass" / f"{i}.png")
    for split, names in (split_ids or {"train": ids[:3], "val": ids[3:]}).items():
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return root


def test_voc_layout_loads(tmp_path):
    root = write_voc(tmp_path / "voc")
    train = get_dataset("voc", "train", root=str(root), crop=16)
    val = get_dataset("voc", "val", root=str(root), crop=27)         # longer side 27: scale 1, pad rows
    assert len(train) == 3 and len(val) == 1 and val.num_classes == 21
    x, m = train[0]
    assert x.shape == (3, 16, 16) and m.shape == (16, 16)
    x, m = val[0]
    stored = load_mask_png(root / "SegmentationClass" / "d.png")
    assert x.shape == (3, 27, 27) and torch.equal(m[:21], stored) and (m[21:] == IGNORE_INDEX).all()
    with Image.open(root / "JPEGImages" / "d.jpg") as im:
        assert torch.allclose(x[:, :21], torch.from_numpy(np.asarray(im, np.float32) / 255).permute(2, 0, 1))


@pytest.mark.parametrize("case,msg", [
    ("empty", "is empty"),
    ("missing", "lists 'zz' but"),
    ("escape", "points outside"),
    ("nosplit", "split file not found"),
    ("size", "mask is .* but its image is"),
    ("label", "mask value 7 is outside 0..2"),
])
def test_voc_bad_input_is_one_line(tmp_path, case, msg):
    root = write_voc(tmp_path / "voc", num_classes=3)
    split = root / "ImageSets" / "Segmentation" / "train.txt"
    if case == "empty":
        split.write_text("\n\n")
    elif case == "missing":
        split.write_text("a\nzz\n")
    elif case == "escape":
        (tmp_path / "x.jpg").write_bytes(b"")
        split.write_text("../../x\n")
    elif case == "nosplit":
        split.unlink()
    elif case == "size":
        save_mask_png(np.zeros((5, 5), np.uint8), root / "SegmentationClass" / "a.png")
    elif case == "label":
        save_mask_png(np.full((21, 27), 7, np.uint8), root / "SegmentationClass" / "a.png")
    with pytest.raises(ValueError, match=msg) as e:
        get_dataset("voc", "train", root=str(root), crop=16, num_classes=3)[0]
    assert "\n" not in str(e.value)
