"""Figure 4: EfficientNet compound scaling (Tan & Le 2019, arXiv:1905.11946, Table 1 and Eq. 3).

The B0 table and the per-stage widths, depths and default resolutions of B1-B7 are read off the
registered models (built on the ``meta`` device: no memory for weights); the multipliers come from
``convzoo.models.efficientnet`` and ``compound_scaling``. With a ``convzoo scale`` run folder
(``results.json``), the last panel shows its accuracy-vs-MACs curves per scaling dimension.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ._common import (DEFAULT_FORMATS, LABEL_PT, PAGE_WIDTH_IN, PALETTE, TITLE_PT, FigureResult, decimal_ticks,
                      decimals, new_figure, save_figure, stem_for, words_for)

VARIANTS = [f"b{i}" for i in range(8)]

# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms.
LABELS = {
    "en": dict(title="Figure 4. EfficientNet compound scaling: width, depth and resolution grow together",
               columns=["Stage", "Operator", "Resolution", "#Channels", "#Layers"],
               table="EfficientNet-B0 (Table 1), read from create_model('efficientnet_b0')",
               stage="stage", channels="channels (round_filters)", width="width per stage",
               layers="layers (ceil(n x depth))", depth_title="depth per stage",
               dims={"depth": "depth", "width": "width", "resolution": "resolution", "compound": "compound"},
               released="{dim} (released)", multiplier="multiplier vs B0",
               law="released multipliers (solid) vs alpha^phi, beta^phi, gamma^phi\n"
                   "(dotted, 1.2 / 1.1 / 1.15, phi = model index)",
               bar="{res}\n{depth} layers\n{params}M", input="default input resolution (px)",
               bars="resolution, total layers, params", macs="MACs (M)", top1="top-1 (%)",
               study="scaling study (convzoo scale: {where})\naccuracy vs MACs",
               settings={"dataset": "dataset", "budget": "budget", "train_size": "train_size"},
               no_study="accuracy curves of the scaling study:\nrun `convzoo scale --out DIR`, then\n"
                        "`convzoo figures OUT --only 4 --scaling-run DIR`"),
    "es": dict(title="Figura 4. Escalado compuesto de EfficientNet: anchura, profundidad y resolución crecen juntas",
               columns=["Etapa", "Operador", "Resolución", "#Canales", "#Capas"],
               table="EfficientNet-B0 (Tabla 1), leída de create_model('efficientnet_b0')",
               stage="etapa", channels="canales (round_filters)", width="anchura por etapa",
               layers="capas (ceil(n x profundidad))", depth_title="profundidad por etapa",
               dims={"depth": "profundidad", "width": "anchura", "resolution": "resolución",
                     "compound": "compuesto"},
               released="{dim} (publicado)", multiplier="multiplicador frente a B0",
               law="multiplicadores publicados (continuo) frente a alpha^phi, beta^phi, gamma^phi\n"
                   "(punteado, 1,2 / 1,1 / 1,15, phi = índice del modelo)",
               bar="{res}\n{depth} capas\n{params}M", input="resolución de entrada por defecto (px)",
               bars="resolución, capas totales, parámetros", macs="MACs (M)", top1="top-1 (%)",
               study="estudio de escalado (convzoo scale), precisión frente a MACs\n{where}",
               settings={"dataset": "datos", "budget": "presupuesto", "train_size": "entrenamiento"},
               no_study="curvas de precisión del estudio de escalado:\nejecuta `convzoo scale --out DIR` y luego\n"
                        "`convzoo figures OUT --only 4 --scaling-run DIR`"),
}


def describe_efficientnet(name: str) -> dict:
    """Stage table of a registered EfficientNet, read from the built model."""
    import convzoo
    from ..layers import conv_of

    with torch.device("meta"):
        model = convzoo.create_model(name)
    size = int(model.default_cfg["input_size"][-1])
    stem = conv_of(model.stem.conv)
    rows = [{"stage": 1, "operator": "Conv3x3", "resolution": size, "channels": stem.out_channels, "layers": 1}]
    res = size // stem.stride[0]
    for i, (stage, spec) in enumerate(zip(model.stages, model.table)):
        first = stage[0]
        k = spec.kernel_size
        e = spec.expand_ratio
        rows.append({"stage": i + 2, "operator": f"{type(first).__name__}{e:g}, k{k}x{k}", "resolution": res,
                     "channels": int(stage[-1].out_channels), "layers": len(stage)})
        res = -(-res // spec.stride)
    neck = conv_of(model.neck.conv)
    rows.append({"stage": len(rows) + 1, "operator": "Conv1x1 & Pooling & FC", "resolution": res,
                 "channels": neck.out_channels, "layers": 1})
    params = sum(p.numel() for p in model.parameters())
    return {"name": name, "resolution": size, "stages": rows, "params": int(params),
            "depth": sum(r["layers"] for r in rows)}


def load_scaling_results(run_dir) -> dict:
    """``results.json`` of a ``convzoo scale`` run folder (its ``runs`` rows and settings)."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass the --out folder of `convzoo scale`")
    results = json.loads(path.read_text())
    if not isinstance(results.get("runs"), list):
        raise ValueError(f"{path} has no 'runs' list: not a `convzoo scale` results file")
    return results


def figure_scaling(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                   seed: int = 0, lang: str = "en") -> FigureResult:
    """``lang="es"`` draws the Spanish labels into ``fig4_scaling.es.*`` (the Spanish site's copy)."""
    from ..models.efficientnet import EFFICIENTNET_SCALING, compound_scaling

    words = words_for(LABELS, lang)

    study = load_scaling_results(run_dir) if run_dir is not None else None    # fail early on a bad folder
    nets = {v: describe_efficientnet(f"efficientnet_{v}") for v in VARIANTS}
    mults = {v: {"width": EFFICIENTNET_SCALING[v].width_mult, "depth": EFFICIENTNET_SCALING[v].depth_mult,
                 "resolution": EFFICIENTNET_SCALING[v].resolution / EFFICIENTNET_SCALING["b0"].resolution}
             for v in VARIANTS}
    phis = np.linspace(0, 7, 29)
    law = [compound_scaling(float(p)) for p in phis]

    # Drawn for the page (PAGE_WIDTH_IN wide, labels >= LABEL_PT), in rows: the B0 table; widths and
    # depths per stage; the multipliers and the study; resolution, layers and params per model.
    fig = new_figure(PAGE_WIDTH_IN, 14.5)
    grid = fig.add_gridspec(4, 2, height_ratios=[0.8, 1, 1, 1])
    _panel_table(fig.add_subplot(grid[0, :]), nets["b0"]["stages"], words)
    _panel_stages(fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1]), nets, words)
    _panel_multipliers(fig.add_subplot(grid[2, 0]), mults, phis, law, words, lang)
    curves = _panel_study(fig.add_subplot(grid[2, 1]), study, words, lang)
    _panel_resolution(fig.add_subplot(grid[3, :]), nets, words, lang)
    fig.suptitle(words["title"], fontsize=TITLE_PT)
    data = {"models": nets, "multipliers": mults,
            "compound_scaling_phi1": tuple(float(v) for v in compound_scaling(1.0)), "study_curves": curves}
    paths = save_figure(fig, out_dir, stem_for("fig4_scaling", lang), formats)
    return FigureResult(4, "scaling", "EfficientNet compound scaling", paths, data)


def _panel_table(ax, b0: list, words: dict) -> None:
    """(a) the B0 table, as Table 1 prints it."""
    ax.axis("off")
    cells = [[r["stage"], r["operator"], f"{r['resolution']}x{r['resolution']}", r["channels"], r["layers"]]
             for r in b0]
    tab = ax.table(cellText=cells, colLabels=words["columns"],
                   loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(LABEL_PT)
    tab.auto_set_column_width(list(range(5)))
    tab.scale(1, 1.15)
    ax.set_title(words["table"], fontsize=LABEL_PT)


def _panel_stages(ax_w, ax_d, nets: dict, words: dict) -> None:
    """(b) per-stage widths and (c) per-stage layers, B0..B7."""
    cmap = [tuple(c) for c in np.linspace([0.2, 0.4, 0.8], [0.8, 0.25, 0.2], len(VARIANTS))]
    stages = np.arange(1, len(nets["b0"]["stages"]) + 1)
    for v, c in zip(VARIANTS, cmap):
        st = nets[v]["stages"]
        ax_w.plot(stages, [r["channels"] for r in st], "o-", color=c, ms=3, lw=1, label=v.upper())
        ax_d.plot(stages, [r["layers"] for r in st], "o-", color=c, ms=3, lw=1, label=v.upper())
    ax_w.set_yscale("log")
    ax_w.set_xlabel(words["stage"])
    ax_w.set_ylabel(words["channels"])
    ax_w.set_title(words["width"], fontsize=LABEL_PT)
    ax_w.legend(fontsize=LABEL_PT, ncol=2, frameon=False)
    ax_d.set_xlabel(words["stage"])
    ax_d.set_ylabel(words["layers"])
    ax_d.set_title(words["depth_title"], fontsize=LABEL_PT)


def _panel_multipliers(ax, mults: dict, phis, law, words: dict, lang: str) -> None:
    """(d) multipliers of the released models vs Eq. 3."""
    idx = np.arange(len(VARIANTS))
    for key, col, law_i in (("depth", PALETTE[0], 0), ("width", PALETTE[1], 1), ("resolution", PALETTE[2], 2)):
        ax.plot(idx, [mults[v][key] for v in VARIANTS], "o-", color=col,
                label=words["released"].format(dim=words["dims"][key]))
        ax.plot(phis, [l[law_i] for l in law], ":", color=col, lw=1)
    ax.set_xticks(idx, [v.upper() for v in VARIANTS])
    ax.set_ylabel(words["multiplier"])
    decimal_ticks(lang, ax.yaxis)
    ax.set_title(words["law"], fontsize=LABEL_PT)
    ax.legend(fontsize=LABEL_PT, frameon=False)


def _panel_resolution(ax, nets: dict, words: dict, lang: str) -> None:
    """(e) resolution and total depth per model."""
    idx = np.arange(len(VARIANTS))
    ax.bar(idx, [nets[v]["resolution"] for v in VARIANTS], color=PALETTE[2], alpha=0.8)
    for i, v in enumerate(VARIANTS):
        label = words["bar"].format(res=nets[v]["resolution"], depth=nets[v]["depth"],
                                    params=decimals(f"{nets[v]['params'] / 1e6:.1f}", lang))
        ax.text(i, nets[v]["resolution"] + 8, label, ha="center", fontsize=LABEL_PT)
    ax.set_xticks(idx, [v.upper() for v in VARIANTS])
    ax.set_ylabel(words["input"])
    ax.set_ylim(0, 760)
    ax.set_title(words["bars"], fontsize=LABEL_PT)


def _panel_study(ax, study, words: dict, lang: str) -> dict:
    """(f) the scaling study, when a run folder is given; returns the curves drawn."""
    curves = {}
    if study:
        rows = study["runs"]
        base = [r for r in rows if r["curve"] == "base"]
        for key, col in zip(("depth", "width", "resolution", "compound"), PALETTE):
            pts = sorted(base + [r for r in rows if r["curve"] == key], key=lambda r: r["phi"])
            if len(pts) > len(base):
                curves[key] = [(r["macs"], r["accuracy"]) for r in pts]
                ax.plot([m / 1e6 for m, _ in curves[key]], [100 * a for _, a in curves[key]], "o-",
                        color=col, label=words["dims"][key], ms=4)
        ax.set_xlabel(words["macs"])
        ax.set_ylabel(words["top1"])
        decimal_ticks(lang, ax.xaxis, ax.yaxis)
        ax.legend(fontsize=LABEL_PT, frameon=False)
        where = ", ".join(f"{words['settings'][k]} {study[k]}" for k in ("dataset", "budget", "train_size")
                          if k in study)
        ax.set_title(words["study"].format(where=where), fontsize=LABEL_PT)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, words["no_study"], ha="center", va="center", fontsize=LABEL_PT,
                color="0.35")
    return curves
