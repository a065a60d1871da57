"""Loaders for real datasets on disk (UrbanSound8K, UCF101), on tiny files written in the exact layout."""
import csv

import numpy as np
import pytest
import soundfile as sf
import torch

from convzoo.data import get_dataset
from convzoo.data.ucf101 import UCF101
from convzoo.data.urbansound import UrbanSound8K

av = pytest.importorskip("av")


# ------------------------------------------------------------------------------------- UrbanSound8K
def _tone(sr, seconds, freq=440.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t) + 0.1
    return np.stack([x] * channels, 1) if channels > 1 else x


def _urbansound(root, files):
    """files: [(fold, name, classID, class, data or None, sr)]; data None = do not write the file."""
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        for fold, name, cid, cls, data, sr in files:
            w.writerow([name, 1, 0.0, 1.0, 1, fold, cid, cls])
            folder = root / "audio" / f"fold{fold}"
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                (folder / name).write_bytes(data)
            elif data is not None:
                sf.write(folder / name, data, sr)
    return root


@pytest.fixture
def us8k(tmp_path):
    return _urbansound(tmp_path / "UrbanSound8K", [
        (1, "100-3-0-0.wav", 3, "dog_bark", _tone(8000, 1.0), 8000),
        (2, "101-5-0-0.wav", 5, "engine_idling", _tone(8000, 5.0, channels=2), 8000),
        (3, "102-1-0-0.wav", 1, "car_horn", _tone(16000, 1.0), 16000),         # wrong rate
        (10, "103-9-0-0.wav", 9, "street_music", _tone(8000, 2.0), 8000),
    ])


def test_urbansound_fold10_is_test_and_clips_are_4s_standardised(us8k):
    test = get_dataset("urbansound8k", "test", root=str(us8k))
    assert len(test) == 1 and test.files[0].name == "103-9-0-0.wav"
    x, y = test[0]
    assert x.shape == (1, 32000) and y == 9 and x.dtype == torch.float32
    # oracle: the 2 s tone zero-padded to 4 s, then standardised, in NumPy
    ref = np.pad(sf.read(test.files[0], dtype="float32")[0], (0, 16000))
    ref = (ref - ref.mean()) / ref.std()
    assert np.allclose(x[0].numpy(), ref, atol=1e-5)
    train = UrbanSound8K(str(us8k), "train", resample=True)
    assert len(train) == 3 and sorted(train.labels) == [1, 3, 5]
    x, _ = train[1]                                            # 5 s stereo: mixed to mono, cut to 4 s
    assert x.shape == (1, 32000)
    assert train.classes[3] == "dog_bark"


def test_urbansound_wrong_sample_rate_is_an_error_unless_resample(us8k):
    train = UrbanSound8K(str(us8k), folds=[3])
    with pytest.raises(ValueError, match=r"102-1-0-0\.wav has sample rate 16000 Hz, expected 8000 Hz.*resample=True"):
        train[0]
    x, _ = UrbanSound8K(str(us8k), folds=[3], resample=True, normalize=False)[0]
    from scipy.signal import resample_poly
    ref = resample_poly(_tone(16000, 1.0).astype(np.float32), 1, 2)
    assert np.allclose(x[0, :8000].numpy(), ref, atol=1e-4) and (x[0, 8000:] == 0).all()


def test_urbansound_missing_file_names_it(tmp_path):
    root = _urbansound(tmp_path / "u", [(1, "ok.wav", 0, "a", _tone(8000, 0.5), 8000),
                                        (1, "gone.wav", 1, "b", None, 8000)])
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        UrbanSound8K(str(root), "train")
    with pytest.raises(FileNotFoundError, match="UrbanSound8K.csv"):
        UrbanSound8K(str(tmp_path / "nowhere"))


def test_urbansound_unreadable_file_names_it(tmp_path):
    root = _urbansound(tmp_path / "u", [(1, "broken.wav", 0, "a", b"RIFF not really a wave file", 8000)])
    ds = UrbanSound8K(str(root), "train")
    with pytest.raises(ValueError, match="cannot read audio file .*broken.wav"):
        ds[0]


def test_urbansound_needs_root():
    with pytest.raises(ValueError, match="root"):
        get_dataset("urbansound8k", "train")


# ------------------------------------------------------------------------------------------ UCF101
def _write_avi(path, frames, fps=25):
    """frames: uint8 (T, H, W, 3). MPEG-4 Part 2 in AVI, as the UCF101 files are (xvid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "1"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _frames(t, value_of_frame):
    return np.stack([np.full((32, 48, 3), value_of_frame(i), np.uint8) for i in range(t)])


@pytest.fixture
def ucf(tmp_path):
    root = tmp_path / "UCF-101"
    classes = ["ApplyEyeMakeup", "Basketball"]
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Basketball\n")
    train, test = [], []
    for ci, cls in enumerate(classes):
        for g, split in [(8, train), (1, test)]:
            rel = f"{cls}/v_{cls}_g{g:02d}_c01.avi"
            _write_avi(root / rel, _frames(12, lambda i: 20 * i))   # brightness encodes the frame index
            split.append(f"{rel} {ci + 1}" if split is train else rel)
    (lists / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(test) + "\n")
    return root


def test_ucf101_reads_official_layout(ucf):
    kw = dict(num_frames=4, resize=(16, 24), crop=12)
    test = get_dataset("ucf101", "test", root=str(ucf), **kw)
    assert len(test) == 2 and test.labels == [0, 1] and test.classes == ["ApplyEyeMakeup", "Basketball"]
    x, y = test[1]
    assert x.shape == (3, 4, 12, 12) and y == 1 and test.num_classes == 2
    # centre clip of 12 frames: frames 4..7, whose grey levels were 80, 100, 120, 140 (lossy codec)
    levels = x.mean(dim=(0, 2, 3)).numpy() * 255
    assert np.allclose(levels, [80, 100, 120, 140], atol=4)
    train = UCF101(str(ucf), "train", **kw)
    assert len(train) == 2 and train[0][0].shape == (3, 4, 12, 12)


def test_ucf101_missing_video_names_it(ucf):
    (ucf / "Basketball" / "v_Basketball_g01_c01.avi").unlink()
    with pytest.raises(FileNotFoundError, match="v_Basketball_g01_c01.avi"):
        UCF101(str(ucf), "test")
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        UCF101(str(ucf / "ApplyEyeMakeup"), "test")


def test_ucf101_unreadable_video_names_it(ucf):
    (ucf / "Basketball" / "v_Basketball_g01_c01.avi").write_bytes(b"RIFF....AVI garbage")
    ds = UCF101(str(ucf), "test", num_frames=4, resize=(16, 24), crop=12)
    with pytest.raises(ValueError, match="cannot read video file .*v_Basketball_g01_c01.avi"):
        ds[1]


def test_ucf101_bad_split_id(ucf):
    with pytest.raises(ValueError, match="split_id"):
        UCF101(str(ucf), "test", split_id=4)
