"""The ``shapes`` dataset: deterministic, cached atomically, and its class lives in fine detail."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convzoo.data import dataset_info, get_dataset
from convzoo.data import shapes as S


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path))


def test_deterministic_and_prefix_stable():
    x1, y1 = S.generate("train", 6, 24)
    x2, y2 = S.generate("train", 6, 24)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, y3 = S.generate("train", 5, 24)          # image i depends on i, not on how many are asked for
    np.testing.assert_array_equal(x3, x1[:5])
    xt, _ = S.generate("test", 5, 24)
    assert not np.array_equal(xt, x1[:5])       # splits differ
    assert x1.dtype == np.uint8 and x1.shape == (6, 3, 24, 24)
    assert set(np.unique(y1)) <= set(range(7))


def test_cached_atomically(tmp_path, monkeypatch):
    ds = S.ShapesDataset("train", resolution=16, size=4)
    files = sorted(p.suffix for p in (tmp_path / "shapes").iterdir())
    assert files == [".json", ".npz"]                   # no temp file left behind
    monkeypatch.setattr(S, "generate", lambda *a, **k: pytest.fail("cache not used"))
    again = S.ShapesDataset("train", resolution=16, size=4)
    assert torch.equal(again.images, ds.images) and torch.equal(again.labels, ds.labels)


def test_items_and_registry():
    ds = get_dataset("shapes", "test", resolution=16, size=3)
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert isinstance(y, int) and ds.num_classes == 7 and ds.input_size == (3, 16, 16)
    assert len(ds) == 3 and ds.mean == (0.5,) * 3
    info = dataset_info("shapes")
    assert info.num_classes == 7 and info.modality == "image" and not info.needs_root


@pytest.mark.parametrize("kw, match", [(dict(resolution=4), "resolution"), (dict(size=0), "size"),
                                       (dict(split="dev"), "split")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        S.ShapesDataset(**{"split": "train", **kw}, cache=False)
    with pytest.raises(TypeError, match="unexpected"):
        S.shapes("train", colour=3)


def _high_freq(x: np.ndarray) -> torch.Tensor:
    """Mean |image - 3x3 box blur| per image: the energy a low resolution loses first."""
    t = torch.from_numpy(x).float() / 255
    return (t - F.avg_pool2d(t, 3, 1, 1, count_include_pad=False)).abs().mean(dim=(1, 2, 3))


def test_fine_detail_is_lost_at_low_resolution():
    """Fine textures look solid at 32 px and textured at 128 px; coarse ones are textured at both."""
    ratios = {}
    for r in (32, 128):
        x, y = S.generate("test", 70, r)
        e, y = _high_freq(x), torch.from_numpy(y)
        ratios[r] = [float(e[y == c].mean() / e[y == 0].mean()) for c in range(7)]
    fine, coarse = (2, 4, 6), (1, 3, 5)
    assert all(ratios[32][c] < 1.5 for c in fine), ratios[32]
    assert all(ratios[32][c] > 1.5 for c in coarse), ratios[32]
    assert all(ratios[128][c] > 1.5 for c in fine), ratios[128]


def test_solid_class_has_the_texture_mean_colour():
    """Solid = the texture's mean colour over the shape, so low frequencies do not give the class away:
    the same scene drawn textured and solid has the same mean colour (to float rounding)."""
    hi = 64
    c = (torch.arange(hi, dtype=torch.float32) + 0.5) / hi
    v, u = torch.meshgrid(c, c, indexing="ij")
    p = dict(bg0=torch.tensor([[0.2, 0.5, 0.7]]), bg1=torch.tensor([[0.9, 0.1, 0.3]]),
             gdir=torch.tensor([0.7]), cx=torch.tensor([0.45]), cy=torch.tensor([0.55]),
             radius=torch.tensor([0.3]), is_square=torch.tensor([False]), rot=torch.tensor([0.0]),
             kind=torch.tensor([2]), period=torch.tensor([0.1]), theta=torch.tensor([0.3]),
             phase=torch.tensor([[0.1, 0.6]]), col_a=torch.tensor([[0.1, 0.2, 0.3]]),
             col_b=torch.tensor([[0.6, 0.7, 0.8]]))
    textured = S._draw(dict(p, solid=torch.tensor([False])), u[None], v[None], hi)
    solid = S._draw(dict(p, solid=torch.tensor([True])), u[None], v[None], hi)
    assert textured.std() > solid.std()                       # the texture is really there
    torch.testing.assert_close(textured.mean(dim=(2, 3)), solid.mean(dim=(2, 3)), rtol=0, atol=1e-5)
