"""Built-in generated data: MovingDigits, MNIST-1D, SpokenDigits (deterministic, cached, learnable)."""
import random
import shutil

import numpy as np
import pytest
import torch
from torch import nn

import convzoo
from convzoo.data import dataset_info, get_dataset, list_datasets
from convzoo.data import moving_digits as md
from convzoo.data import spoken_digits as sd
from convzoo.data._cache import cache_dir
from _tools import IN_CI

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
# under CI=true (.ci/run installs espeak-ng) these run, and fail if it is missing
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK and not IN_CI,
                                  reason="espeak-ng not installed (apt-get install espeak-ng)")


def test_registered():
    names = list_datasets()
    for name, modality in [("moving_digits", "video"), ("mnist1d", "audio"), ("spoken_digits", "audio"),
                           ("urbansound8k", "audio"), ("ucf101", "video")]:
        assert name in names and dataset_info(name).modality == modality
    assert dataset_info("ucf101").needs_root and dataset_info("urbansound8k").needs_root


def test_cache_dir_env_and_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(str(tmp_path / "r")) == tmp_path / "r"
    monkeypatch.delenv("CONVZOO_CACHE")
    assert str(cache_dir()).endswith(".cache/convzoo")


# ------------------------------------------------------------------------------------ MovingDigits
def test_moving_digits_byte_identical_and_cached(tmp_path, monkeypatch):
    a = md.generate("train", 24, seed=3)
    b = md.generate("train", 24, seed=3)
    assert a["x"].tobytes() == b["x"].tobytes() and a["y"].tobytes() == b["y"].tobytes()
    assert md.generate("train", 24, seed=4)["x"].tobytes() != a["x"].tobytes()
    # clip i depends only on (seed, split, i): a longer set starts with the shorter one
    assert md.generate("train", 30, seed=3)["x"][:24].tobytes() == a["x"].tobytes()
    ds = get_dataset("moving_digits", "train", root=str(tmp_path), size=24, seed=3)
    assert list(tmp_path.rglob("*.npz"))
    assert not list(tmp_path.rglob("*.tmp"))                   # atomic write left no temp file

    def boom(*a, **k):
        raise AssertionError("cache miss: generated again")
    monkeypatch.setattr(md, "generate", boom)
    again = get_dataset("moving_digits", "train", root=str(tmp_path), size=24, seed=3)
    assert torch.equal(again.x, ds.x) and ds.x.numpy().tobytes() == a["x"].tobytes()
    x, y = ds[0]
    assert x.shape == (1, 8, 24, 24) and x.dtype == torch.float32 and 0 <= y < 8
    assert ds.num_classes == 8 and ds.input_size == (1, 8, 24, 24)


def _centroids(clip):
    """(T, 2) centre of mass (x, y) of each frame, background removed."""
    w = np.clip(clip.astype(np.float64) - 20, 0, None)
    yy, xx = np.mgrid[:clip.shape[1], :clip.shape[2]]
    m = w.sum(axis=(1, 2))
    return np.stack([(w * xx).sum(axis=(1, 2)) / m, (w * yy).sum(axis=(1, 2)) / m], 1)


def test_moving_digits_label_is_direction_and_middle_frame_is_uninformative():
    d = md.generate("test", 400, seed=0)
    c = np.stack([_centroids(clip) for clip in d["x"]])        # (N, T, 2)
    velocity = (c[:, -1] - c[:, 0]) / (c.shape[1] - 1)         # pixels per frame, measured
    expect = np.array(md.VELOCITY)[d["y"]]
    assert np.abs(velocity - expect).max() < 0.1
    # the middle frame's digit position has the same range for every direction
    mid = c[:, 4]
    ranges = [(mid[d["y"] == k].min(0).round(), mid[d["y"] == k].max(0).round()) for k in range(8)]
    spread = np.ptp(np.array([r[0] for r in ranges]), 0).max(), np.ptp(np.array([r[1] for r in ranges]), 0).max()
    assert max(spread) <= 2                                  # px, digit shapes vary
    assert len(np.unique(d["y"])) == 8


def test_moving_digits_test_split_holds_out_digit_images():
    train, test = md._digit_images("train"), md._digit_images("test")
    assert len(train) + len(test) == 1797
    t = {im.tobytes() for im in test}
    assert not any(im.tobytes() in t for im in train[:200])


def test_moving_digits_bad_args(tmp_path):
    with pytest.raises(ValueError, match="split"):
        get_dataset("moving_digits", "dev", root=str(tmp_path))
    with pytest.raises(ValueError, match="at least"):
        md.generate("train", 2, num_frames=16, size=20)


def _train(model, x, y, epochs, batch, lr):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for i in range(0, len(y), batch):
            loss = nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        losses.append(total)
    return losses


def test_nets_learn_moving_digits(tmp_path):
    """Tiny budgets: the stacked-frame net beats chance (12.5 %) on held-out clips; the 3D net's
    training loss falls (a 3D conv is too slow on CPU for a held-out check inside the test budget)."""
    torch.manual_seed(0)
    train = get_dataset("moving_digits", "train", root=str(tmp_path), size=256)
    test = get_dataset("moving_digits", "test", root=str(tmp_path), size=128)
    x, y = train.x.unsqueeze(1).float() / 255, train.y
    m = convzoo.create_model("stack2d_small")
    losses = _train(m, x, y, epochs=4, batch=32, lr=1e-2)
    m.eval()
    with torch.no_grad():
        acc = (m(test.x.unsqueeze(1).float() / 255).argmax(1) == test.y).float().mean().item()
    assert losses[-1] < 0.8 * losses[0] and acc > 0.25
    losses = _train(convzoo.create_model("c3d_small"), x[:32], y[:32], epochs=8, batch=32, lr=1e-2)
    assert losses[-1] < 0.7 * losses[0]


# ----------------------------------------------------------------------------------------- MNIST-1D
@pytest.fixture(scope="module")
def mnist1d_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mnist1d_cache"))


def test_mnist1d_is_the_package_generator(mnist1d_root):
    tmp_path = mnist1d_root
    from mnist1d.data import get_dataset_args, make_dataset
    np_state, py_state = np.random.get_state(), random.getstate()
    tr = get_dataset("mnist1d", "train", root=tmp_path, num_samples=500)
    te = get_dataset("mnist1d", "test", root=tmp_path, num_samples=500)
    # building it leaves the global RNGs alone (the package reseeds them)
    assert np.random.get_state()[1].tobytes() == np_state[1].tobytes() and random.getstate() == py_state
    args = get_dataset_args()
    args.num_samples = 500
    ref = make_dataset(args)
    assert len(tr) == 400 and len(te) == 100                   # the paper's 80 / 20 split
    assert np.array_equal(tr.x[:, 0].numpy(), ref["x"].astype(np.float32))
    assert np.array_equal(te.y.numpy(), ref["y_test"])
    assert tr[0][0].shape == (1, 40) and tr.num_classes == 10
    again = get_dataset("mnist1d", "train", root=tmp_path, num_samples=500)
    assert again.x.numpy().tobytes() == tr.x.numpy().tobytes()
    assert len(get_dataset("mnist1d", "train", root=tmp_path, num_samples=500, size=50)) == 50


def test_1d_net_learns_mnist1d(mnist1d_root):
    """Tiny budget (400 sequences, 4 epochs): loss falls, held-out accuracy beats chance (10 %)."""
    torch.manual_seed(0)
    tr = get_dataset("mnist1d", "train", root=mnist1d_root, num_samples=500)
    te = get_dataset("mnist1d", "test", root=mnist1d_root, num_samples=500)
    m = convzoo.create_model("waveform_m5", stem_kernel=5, stem_stride=1, pool=2)
    losses = _train(m, tr.x, tr.y, epochs=4, batch=40, lr=3e-3)
    m.eval()
    with torch.no_grad():
        acc = (m(te.x).argmax(1) == te.y).float().mean().item()
    assert losses[-1] < 0.8 * losses[0] and acc > 0.25


# ------------------------------------------------------------------------------------- SpokenDigits
def test_spoken_digit_voice_split_is_speaker_independent():
    assert not set(sd.TRAIN_VARIANTS) & set(sd.TEST_VARIANTS)
    assert len(sd.TEST_VARIANTS) == 15 and len(sd.TRAIN_VARIANTS) == 60
    train_voices = {sd._params(0, "train", i)["variant"] for i in range(300)}
    test_voices = {sd._params(0, "test", i)["variant"] for i in range(300)}
    assert train_voices <= set(sd.TRAIN_VARIANTS) and test_voices <= set(sd.TEST_VARIANTS)


def test_spoken_digits_missing_espeak_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sd.shutil, "which", lambda name: None)
    with pytest.raises(sd.EspeakNotFoundError, match="apt-get install espeak-ng"):
        get_dataset("spoken_digits", "train", root=str(tmp_path), size=2)


@needs_espeak
def test_spoken_digits_byte_identical_cached_and_standardised(tmp_path, monkeypatch):
    a = sd.generate("test", 6, seed=1)
    b = sd.generate("test", 6, seed=1)
    assert a["x"].tobytes() == b["x"].tobytes() and list(a["voice"]) == list(b["voice"])
    ds = get_dataset("spoken_digits", "test", root=str(tmp_path), size=6, seed=1)
    assert ds.x[:, 0].numpy().tobytes() == a["x"].tobytes()
    monkeypatch.setattr(sd, "generate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("cache miss")))
    assert torch.equal(get_dataset("spoken_digits", "test", root=str(tmp_path), size=6, seed=1).x, ds.x)
    x, y = ds[0]
    assert x.shape == (1, 8000) and 0 <= y < 10 and ds.sample_rate == 8000
    assert np.allclose(a["x"].mean(1), 0, atol=1e-4) and np.allclose(a["x"].std(1), 1, atol=1e-3)
    assert all(v.split("+")[1] in sd.TEST_VARIANTS for v in ds.voices)


@needs_espeak
def test_spoken_digits_word_sits_at_an_offset_in_noise():
    p = sd._params(0, "train", 0)
    clip = sd._render(dict(p, snr_db=30.0), 8000, None)
    energy = np.convolve(clip ** 2, np.ones(400) / 400, mode="same")
    loud = energy > 0.2 * energy.max()
    assert 0.1 < loud.mean() < 0.9                             # speech occupies part of the clip
    assert np.abs(clip[~loud]).mean() > 0                      # background noise everywhere
