"""Figure 9: 2D vs 3D convolution over the frames of a MovingDigits clip (Tran et al. 2015,
arXiv:1412.0767, Sec. 3: 2D convs on frames lose the motion that 3D convs keep).

Two nets of the same table, ``frame2d_small`` (3x3 convs on one frame) and ``c3d_small`` (3x3x3
convs), are trained briefly on convzoo's MovingDigits (label = direction of motion) or loaded from
run folders. Rows show the clip and each net's first-layer response frame by frame (the 2D layer
applied to every frame). "Motion sensitivity" is how much a response changes when the clip is
replaced by its middle frame held still (0..1): zero for any per-frame 2D filter, nonzero in 3D.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._common import (
    DEFAULT_FORMATS,
    LABEL_PT,
    PAGE_WIDTH_IN,
    PALETTE,
    TITLE_PT,
    FigureResult,
    decimal_ticks,
    decimals,
    new_figure,
    save_figure,
    stem_for,
    strip_ticks,
    words_for,
)
from ._training import example_split, load_figure_run, train_small

NETS = {"2d": "frame2d_small", "3d": "c3d_small"}
SHOW_FRAMES = 8
# experiments/video_2d_vs_3d.py's summary (all four nets, several seeds), drawn when present
EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "results" / "video_2d_vs_3d.json"

# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(clip="clip", conv2d="2D conv", conv3d="3D conv", chance="chance",
               accuracy="test accuracy (mean, 95% CI)",
               experiment="{dataset} (which digit came first?),\n{seeds} seeds per net, dots = seeds",
               percent="{v}%", directions={},
               title="Figure 9. A clip moving {direction}: first-layer responses per frame; a 2D filter sees each "
                     "frame alone, a 3D filter sees motion",
               brief_accuracy="test accuracy", motion="motion sensitivity (best channel)",
               brief_title="label = direction of motion"),
    "es": dict(clip="clip", conv2d="conv. 2D", conv3d="conv. 3D", chance="azar",
               accuracy="precisión de prueba (media, IC del 95 %)",
               experiment="{dataset} (¿qué dígito salió primero?),\n{seeds} semillas por red, puntos = semillas",
               percent="{v} %", directions={"W": "O", "NW": "NO", "SW": "SO"},
               title="Figura 9. Un clip que se mueve hacia el {direction}: respuestas de la primera capa por "
                     "fotograma; un filtro 2D ve cada fotograma por separado, uno 3D ve el movimiento",
               brief_accuracy="precisión de prueba", motion="sensibilidad al movimiento (mejor canal)",
               brief_title="etiqueta = dirección del movimiento"),
}


def load_experiment(path=EXPERIMENT):
    """The video experiment's result (dict with ``summary``), or None when it has not been run here."""
    import json
    path = Path(path)
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    return result if result.get("summary") else None


def _experiment_panel(ax, result: dict, words: dict, lang: str) -> None:
    """Mean test accuracy of each net with its 95% interval over seeds, chance marked."""
    rows = result["summary"]
    x = np.arange(len(rows))
    means = [r["accuracy"]["mean"] for r in rows]
    err = [[r["accuracy"]["mean"] - max(0.0, r["accuracy"]["lo"]) for r in rows],
           [min(1.0, r["accuracy"]["hi"]) - r["accuracy"]["mean"] for r in rows]]
    ax.bar(x, means, 0.6, yerr=err, capsize=4, color=[PALETTE[i % len(PALETTE)] for i in range(len(rows))])
    for xi, r in zip(x, rows):
        ax.plot([xi] * len(r["accuracies"]), r["accuracies"], "k.", ms=4)
        ax.text(xi, min(1.0, r["accuracy"]["hi"]) + 0.02,
                words["percent"].format(v=decimals(f"{r['accuracy']['mean'] * 100:.1f}", lang)), ha="center",
                fontsize=LABEL_PT)
    chance = 1 / result.get("num_classes", 2)
    ax.axhline(chance, color="0.4", ls=":", lw=1)
    ax.text(-0.45, chance + 0.01, words["chance"], fontsize=LABEL_PT, va="bottom", color="0.4")
    ax.set_xticks(x, [r["model"].replace("_small", "") for r in rows], fontsize=LABEL_PT)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel(words["accuracy"], fontsize=LABEL_PT)
    decimal_ticks(lang, ax.yaxis)
    ax.set_title(words["experiment"].format(dataset=result["dataset"], seeds=result["seeds"]), fontsize=LABEL_PT)


def first_layer_response(model, clip: torch.Tensor, kind: str) -> torch.Tensor:
    """(1, C, T, H, W) clip -> (C_out, T, H, W) response of the net's first conv unit (conv-BN-ReLU);
    the 2D unit runs on each frame separately (frames as a batch)."""
    unit = model.stem.unit
    with torch.no_grad():
        if kind == "2d":
            frames = clip[0].movedim(1, 0)                       # (T, C, H, W)
            return unit(frames).movedim(0, 1)                    # (C_out, T, H, W)
        return unit(clip)[0]


def _frozen(clip: torch.Tensor) -> torch.Tensor:
    mid = clip.shape[2] // 2
    return clip[:, :, mid:mid + 1].expand_as(clip).contiguous()


def motion_sensitivity(model, clip: torch.Tensor, kind: str) -> np.ndarray:
    """Per channel, at the middle frame: sum |r(clip) - r(still)| / sum (|r(clip)| + |r(still)|), in [0, 1]
    (0: the response ignores motion; 1: it responds only to motion)."""
    mid = clip.shape[2] // 2
    moving = first_layer_response(model, clip, kind)[:, mid]
    still = first_layer_response(model, _frozen(clip), kind)[:, mid]
    num = (moving - still).abs().flatten(1).mean(1)
    den = (moving.abs() + still.abs()).flatten(1).mean(1).clamp_min(1e-12)
    return (num / den).numpy()


def figure_video(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                 seed: int = 0, lang: str = "en") -> FigureResult:
    """``run_dir``: a folder holding two ``convzoo train`` run folders named ``frame2d_small`` and
    ``c3d_small`` (trained on moving_digits); otherwise both are trained here. ``lang="es"`` draws the
    Spanish labels into ``fig9_video.es.*`` (the Spanish site's copy)."""
    words = words_for(LABELS, lang)
    models, reports = {}, {}
    for kind, name in NETS.items():
        if run_dir is not None:
            models[kind], reports[kind] = load_figure_run(Path(run_dir) / name, expected_model=name)
        else:
            # NOTE: a short run -- enough for the 3D net to beat the 2D one by far, not a benchmark.
            models[kind], reports[kind] = train_small(
                name, "moving_digits", train_limit=32 if fast else 768, test_limit=16 if fast else 192,
                epochs=1 if fast else 2, seed=seed, small_data=fast)
    clip, label = example_split("moving_digits", 16, small_data=fast)[seed % 8]
    clip = clip.unsqueeze(0)                                     # (1, 1, T, H, W)
    sens = {k: motion_sensitivity(m, clip, k) for k, m in models.items()}
    # 3D: the channel that reacts most to motion; 2D: the one that responds most strongly to the digit
    channel = {k: int(np.argmax(sens[k])) if k == "3d" else
               int(np.argmax(first_layer_response(models[k], clip, k).flatten(1).amax(1).numpy()))
               for k in models}
    resp = {k: first_layer_response(m, clip, k)[channel[k]].numpy() for k, m in models.items()}
    T = clip.shape[2]
    frames = list(range(0, T, max(1, T // SHOW_FRAMES)))[:SHOW_FRAMES]
    acc = {k: float(r.get("accuracy", float("nan"))) for k, r in reports.items()}
    from ..data.moving_digits import DIRECTIONS

    # Drawn for the page (PAGE_WIDTH_IN wide, labels >= LABEL_PT): the frames in three rows across the
    # width, the accuracy panel below them.
    fig = new_figure(PAGE_WIDTH_IN, 7.8)
    outer = fig.add_gridspec(2, 1, height_ratios=[1, 1.1])
    grid = outer[0].subgridspec(3, SHOW_FRAMES)
    rows = [(words["clip"], clip[0, 0].numpy(), "gray"), (words["conv2d"], resp["2d"], "magma"),
            (words["conv3d"], resp["3d"], "magma")]
    for r, (name, arr, cmap) in enumerate(rows):
        vmax = float(arr.max()) or 1.0
        for c, f in enumerate(frames):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(arr[f], cmap=cmap, vmin=0, vmax=vmax)
            strip_ticks(ax)
            if r == 0:
                ax.set_title(f"t={f}", fontsize=LABEL_PT)
            if c == 0:
                ax.set_ylabel(name, fontsize=LABEL_PT)
    ax = fig.add_subplot(outer[1].subgridspec(1, 3, width_ratios=[0.12, 1, 0.12])[0, 1])
    experiment = load_experiment()
    if experiment is not None:
        _experiment_panel(ax, experiment, words, lang)
    else:
        _brief_panel(ax, acc, sens, words, lang)
    direction = words["directions"].get(DIRECTIONS[label], DIRECTIONS[label])
    fig.suptitle(words["title"].format(direction=direction), fontsize=TITLE_PT)

    data = {"label": int(label), "direction": DIRECTIONS[label], "frames": frames, "channel": channel,
            "responses": resp, "motion_sensitivity": {k: v.tolist() for k, v in sens.items()},
            "accuracy": acc, "models": dict(NETS), "trained_here": run_dir is None,
            "clip": clip.numpy(), "nets": models, "experiment": experiment}
    paths = save_figure(fig, out_dir, stem_for("fig9_video", lang), formats)
    return FigureResult(9, "video", "2D vs 3D convolution over video frames", paths, data)


def _brief_panel(ax, acc: dict, sens: dict, words: dict, lang: str) -> None:
    """Without the experiment's result: the two briefly trained nets' accuracy and motion sensitivity."""
    names = ["2D (frame2d_small)", "3D (c3d_small)"]
    x = np.arange(2)
    ax.bar(x - 0.2, [acc["2d"], acc["3d"]], 0.38, color=PALETTE[0], label=words["brief_accuracy"])
    ax.bar(x + 0.2, [float(sens["2d"].max()), float(sens["3d"].max())], 0.38, color=PALETTE[3],
           label=words["motion"])
    ax.axhline(1 / 8, color="0.4", ls=":", lw=1)
    ax.text(-0.55, 1 / 8 + 0.01, words["chance"], fontsize=LABEL_PT, va="bottom", ha="left", color="0.4")
    for xi, v in zip(np.r_[x - 0.2, x + 0.2], [acc["2d"], acc["3d"], sens["2d"].max(), sens["3d"].max()]):
        ax.text(xi, v + 0.02, decimals(f"{v:.2f}", lang), ha="center", fontsize=LABEL_PT)
    ax.set_xticks(x, names, fontsize=LABEL_PT)
    ax.set_ylim(0, 1.1)
    decimal_ticks(lang, ax.yaxis)
    ax.legend(fontsize=LABEL_PT, frameon=False, loc="upper left")
    ax.set_title(words["brief_title"], fontsize=LABEL_PT)
