"""``convzoo shard`` + ``--dataset webdataset``: shards give back the source's samples and labels
exactly, each rank/worker reads its own shards (every shard once per epoch), bad input is one line."""
import json
import os
import re
import tarfile

import pytest
import torch

from convzoo.cli import main
from convzoo.data.shapes import ShapesDataset

wds = pytest.importorskip("webdataset")
from convzoo.data.webdataset import ShardDataset, write_shards  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CONVZOO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


class Waves(torch.utils.data.Dataset):
    """Audio-like samples: float waveforms (1, T) that PNG cannot hold, 3 classes."""
    num_classes, modality = 3, "audio"

    def __len__(self):
        return 10

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return torch.randn(1, 50, generator=g), i % 3


def _all(ds):
    return [(x, int(y)) for x, y in ds]


def test_shard_command_reproduces_the_source(tmp_path, capsys):
    out = tmp_path / "shards"
    args = ["shard", "--dataset", "shapes", "--data-arg", "resolution=16", "--data-arg", "size=22",
            "--out", str(out), "--per-shard", "5"]
    assert main(args) == 0
    assert "train: 22 samples in 5 shards" in capsys.readouterr().out
    src = ShapesDataset("train", 16, size=22)
    shards = ShardDataset(str(out / "train-{000000..000004}.tar"))
    assert shards.num_classes == src.num_classes and shards.input_size == (3, 16, 16)
    got = sorted(((x, y) for x, y in _all(shards)), key=lambda s: s[0].sum().item())
    want = sorted(((src[i][0], int(src[i][1])) for i in range(len(src))), key=lambda s: s[0].sum().item())
    assert len(got) == len(want) == 22
    for (a, ya), (b, yb) in zip(got, want):
        assert ya == yb and a.dtype == b.dtype and torch.equal(a, b)
    test = ShardDataset(str(out / "train-{000000..000004}.tar"), split="test")
    assert len(test) == len(ShapesDataset("test", 16, size=22))
    # member names are generated keys, never a path that could leave the folder
    with tarfile.open(out / "train-000000.tar") as tar:
        assert all(re.fullmatch(r"\d{9}\.(png|npy|cls)", n) for n in tar.getnames())
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))
    assert main(args) == 2                                  # no overwrite
    assert "already holds shards" in capsys.readouterr().err


def test_audio_samples_round_trip_exactly_in_order_per_shard(tmp_path):
    meta = write_shards(Waves(), tmp_path, "train", per_shard=4)
    assert meta["modality"] == "audio" and meta["shards"] == {"train-000000.tar": 4, "train-000001.tar": 4,
                                                              "train-000002.tar": 2}
    ds = ShardDataset(str(tmp_path / "train-{000000..000002}.tar"))
    by_label = {}
    for x, y in _all(ds):
        by_label.setdefault(y, []).append(x)
    for i in range(10):
        x, y = Waves()[i]
        assert any(torch.equal(x, z) for z in by_label[y])
    assert ds.modality == "audio" and ds[0][0].shape == (1, 50)


def test_two_ranks_read_disjoint_shards_each_once_per_epoch(tmp_path):
    write_shards(Waves(), tmp_path, "train", per_shard=2)          # 5 shards of 2
    pattern = str(tmp_path / "train-{000000..000004}.tar")
    for epoch in (0, 1):
        opened, lengths = [], []
        for rank in (0, 1):
            ds = ShardDataset(pattern)
            ds.set_distributed(rank, 2, seed=7)
            ds.set_epoch(epoch)
            n = sum(1 for _ in torch.utils.data.DataLoader(ds, batch_size=None))
            assert n == len(ds)
            opened.append(ds.opened)
            lengths.append(len(ds))
        assert not set(opened[0]) & set(opened[1])                 # disjoint
        flat = opened[0] + opened[1]
        assert sorted(flat) == sorted(set(flat)) and len(flat) == 5   # every shard exactly once
        assert lengths[0] == lengths[1] == 4                       # equal steps on every rank
    # the shard order moves with the epoch
    ds = ShardDataset(pattern)
    orders = []
    for e in range(3):
        ds.set_epoch(e)
        orders.append([p.name for p in ds.shards_for()])
    assert len({tuple(o) for o in orders}) > 1


# In the parallel suite, DataLoader worker processes brought down the pytest-xdist worker that had run
# the export tests before (seen twice on fresh clones, fork and spawn alike; never alone, never outside
# pytest-xdist), so like the torchrun test below this runs in `make test`'s own pass afterwards.
@pytest.mark.skipif(bool(os.environ.get("PYTEST_XDIST_WORKER")),
                    reason="DataLoader workers brought down the pytest-xdist worker in the parallel suite; "
                           "`make test` runs it on its own afterwards (`pytest -p no:xdist tests/test_webdataset.py`)")
def test_two_loader_workers_split_a_ranks_shards(tmp_path):
    write_shards(Waves(), tmp_path, "train", per_shard=2)          # 5 shards of 2
    ds = ShardDataset(str(tmp_path / "train-{000000..000004}.tar"))
    n = sum(1 for _ in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2))
    assert n == 10


def test_train_on_shards_and_bad_input(tmp_path, capsys):
    out = tmp_path / "shards"
    assert main(["shard", "--dataset", "shapes", "--data-arg", "resolution=16", "--data-arg", "size=24",
                 "--out", str(out), "--per-shard", "6"]) == 0
    run = tmp_path / "run"
    assert main(["train", "--model", "variant_conv", "--model-arg", "widths=(4,8)", "--model-arg",
                 "depth=1", "--model-arg", "num_classes=7", "--dataset", "webdataset", "--data-root",
                 str(out / "train-{000000..000003}.tar"), "--epochs", "1", "--batch-size", "8",
                 "--no-progress", "--out", str(run), "--device", "cpu"]) == 0
    assert json.loads((run / "report.json").read_text())["epochs"] == 1
    capsys.readouterr()
    for argv, expect in [
        (["train", "--model", "variant_conv", "--dataset", "webdataset", "--data-root",
          str(out / "train-{000000..000009}.tar")], "do not exist"),
        (["shard", "--dataset", "shapes", "--out", str(tmp_path / "x"), "--per-shard", "0"], "--per-shard"),
        (["shard", "--dataset", "nope", "--out", str(tmp_path / "y")], "unknown dataset"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert expect in err and len(err.splitlines()) == 1, err


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
@pytest.mark.skipif(bool(os.environ.get("PYTEST_XDIST_WORKER")),
                    reason="brings down its pytest-xdist worker in the parallel suite; `make test` runs it on its own "
                           "afterwards (`pytest -p no:xdist tests/test_webdataset.py`)")
def test_two_process_run_reads_each_shard_once_per_epoch(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from convzoo.io import read_jsonl
    out = tmp_path / "shards"
    assert main(["shard", "--dataset", "shapes", "--data-arg", "resolution=16", "--data-arg", "size=32",
                 "--out", str(out), "--per-shard", "4", "--splits", "train,test"]) == 0
    log = tmp_path / "opened.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1", CONVZOO_SHARD_LOG=str(log),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                          "2", "-m", "convzoo", "train", "--model", "variant_conv", "--model-arg",
                          "widths=(4,8)", "--model-arg", "depth=1", "--model-arg", "norm=None",
                          "--dataset", "webdataset", "--data-root", str(out / "train-{000000..000007}.tar"),
                          "--epochs", "2", "--batch-size", "8", "--no-progress", "--device", "cpu",
                          "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True,
                         timeout=300, start_new_session=True)   # torchrun's signals stay in its own group
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [r for r in read_jsonl(log) if r["shard"].startswith("train-")]
    assert len({r["pid"] for r in rows}) == 2
    for epoch in (0, 1):
        names = [r["shard"] for r in rows if r["epoch"] == epoch]
        assert sorted(names) == [f"train-{i:06d}.tar" for i in range(8)]      # each once, all read
        per_rank = {rank: {r["shard"] for r in rows if r["epoch"] == epoch and r["rank"] == rank}
                    for rank in (0, 1)}
        assert len(per_rank[0]) == len(per_rank[1]) == 4
