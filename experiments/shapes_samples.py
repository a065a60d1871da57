"""The sample sheet of the ``shapes`` data set on docs/scaling-search.md: one scene per class (columns),
rendered at 40, 64 and 128 px (rows; each shown at the same size, so the low resolutions are enlarged).
Each column is one scene (the same random draws, ``convzoo.data.shapes.render`` with one seed) at the
three resolutions. Drawn for the docs page and saved as every convzoo picture (``convzoo.plotting``).

    python experiments/shapes_samples.py docs/img/shapes-samples.png
"""
from __future__ import annotations

import sys
from pathlib import Path

RESOLUTIONS = (40, 64, 128)
SEED = 0


def main(argv=None) -> int:
    import torch

    from convzoo.data.shapes import CLASSES, render
    from convzoo.plotting import PAGE_WIDTH_IN, new_figure, page_style, save_figure
    out = Path((argv or sys.argv[1:] or ["shapes-samples.png"])[0])
    labels = torch.arange(len(CLASSES))
    with page_style():
        fig = new_figure(PAGE_WIDTH_IN, 3.45)
        axes = fig.subplots(len(RESOLUTIONS), len(CLASSES))
        for row, res in zip(axes, RESOLUTIONS):
            images = render(labels, res, torch.Generator().manual_seed(SEED))
            for ax, name, img in zip(row, CLASSES, images):
                ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            row[0].set_ylabel(f"{res} px")
        for ax, name in zip(axes[0], CLASSES):
            ax.set_title(name.replace("-", "\n"))
        save_figure(fig, out.parent, out.stem, formats=("png",))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
