"""Figure 8: 1D convolution on the raw waveform (Dai et al. 2017, arXiv:1610.00087, M5).

A spoken digit from convzoo's SpokenDigits (espeak-ng voices, 8 kHz), and the 80-tap first-layer
filters of an M5 (``waveform_m5``) trained on it here -- briefly, from a seed -- or loaded from a
``convzoo train`` run folder. Each filter's frequency response is ``|rfft(w, 512)|``: the first layer
learns a filterbank, the job a spectrogram's fixed FFT does in a 2D pipeline.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._extras import require
from ._common import (DEFAULT_FORMATS, LABEL_PT, PAGE_WIDTH_IN, PALETTE, TITLE_PT, FigureResult, decimal_ticks,
                      decimals, new_figure, save_figure, stem_for, words_for)
from ._training import load_figure_run, example_split, train_small

MODEL = "waveform_m5"
NFFT = 512
SHOW_FILTERS = 8

# The figure's words in each page language (``lang``): the Spanish uses the lecture's terms. The digit
# words stay as spoken (SpokenDigits' classes are English words).
LABELS = {
    "en": dict(time="time (s)", amplitude="amplitude (standardised)",
               clip='spoken digit "{word}" (SpokenDigits test split, unseen voice), {sr} Hz; M5 predicts "{pred}"',
               spectrogram="its spectrogram (for reference)", peak="#{ch}, peak {hz} Hz",
               taps="ms (80 taps = 10 ms)", responses="frequency responses of some filters",
               sorted="filter (sorted by peak frequency)", all="all {n} first-layer filters, |rfft| (dB)",
               run="run folder", accuracy="test accuracy {acc}", here=" after a short run here",
               from_run=", run folder",
               title="Figure 8. 1D convolution on raw audio: M5's first layer is a learned filterbank ({acc})"),
    "es": dict(time="tiempo (s)", amplitude="amplitud (estandarizada)",
               clip='dígito hablado "{word}" (partición de prueba de SpokenDigits, voz no vista), {sr} Hz; '
                    'M5 predice "{pred}"',
               spectrogram="su espectrograma (como referencia)", peak="#{ch}, pico {hz} Hz",
               taps="ms (80 coeficientes = 10 ms)", responses="respuesta en frecuencia de algunos filtros",
               sorted="filtro (por frecuencia de pico)", all="los {n} filtros de la primera capa, |rfft| (dB)",
               run="carpeta de ejecución", accuracy="precisión de prueba {acc}",
               here=" tras un entrenamiento breve aquí",
               from_run=", carpeta de ejecución",
               title="Figura 8. Convolución 1D sobre audio crudo: la primera capa de M5 es un banco de filtros "
                     "aprendido ({acc})"),
}


def first_layer_filters(model) -> np.ndarray:
    """(out_channels, kernel) weights of the net's first conv (``default_cfg['first_conv']``)."""
    conv = model.get_submodule(model.default_cfg["first_conv"])
    return conv.weight.detach()[:, 0].numpy().astype(np.float64)


def frequency_responses(filters: np.ndarray, sample_rate: int, nfft: int = NFFT):
    """Magnitude responses |H(f)| at ``nfft // 2 + 1`` frequencies from 0 to Nyquist."""
    mag = np.abs(np.fft.rfft(filters, n=nfft, axis=-1))
    freqs = np.fft.rfftfreq(nfft, d=1.0 / sample_rate)
    return freqs, mag


def figure_waveform(out_dir: Path, *, formats=DEFAULT_FORMATS, fast: bool = False, run_dir=None,
                    seed: int = 0, lang: str = "en") -> FigureResult:
    """``run_dir``: a ``convzoo train`` run of ``waveform_m5`` on spoken_digits (else trained here).
    ``lang="es"`` draws the Spanish labels into ``fig8_waveform.es.*`` (the Spanish site's copy)."""
    words_ = words_for(LABELS, lang)
    if run_dir is not None:
        model, report = load_figure_run(run_dir, expected_model=MODEL)
    else:
        # NOTE: a short run (seconds to a minute): enough for the filters to start tuning, not a benchmark.
        model, report = train_small(MODEL, "spoken_digits", train_limit=32 if fast else 320,
                                    test_limit=16 if fast else 160, epochs=1 if fast else 3,
                                    batch_size=32, lr=3e-3, seed=seed, small_data=fast,
                                    model_kwargs={"num_classes": 10})
    test = example_split("spoken_digits", 16, small_data=fast)
    wave, label = test[seed % len(test)]
    sr = int(getattr(test, "sample_rate", model.default_cfg.get("sample_rate", 8000)))
    wave = wave[0].numpy().astype(np.float64)
    filters = first_layer_filters(model)
    freqs, mag = frequency_responses(filters, sr)
    peak = freqs[np.argmax(mag, axis=1)]
    order = np.argsort(peak, kind="stable")
    with torch.no_grad():
        pred = int(model(torch.from_numpy(wave).float()[None, None]).argmax(1))
    shown = order[np.linspace(0, len(order) - 1, SHOW_FILTERS).round().astype(int)]
    words = getattr(test, "classes", [str(i) for i in range(10)])

    # Drawn for the page (PAGE_WIDTH_IN wide, labels >= LABEL_PT), in rows: the clip and its spectrogram;
    # eight filters; their responses and all filters' responses.
    fig = new_figure(PAGE_WIDTH_IN, 11.0)
    outer = fig.add_gridspec(3, 1, height_ratios=[1, 1.25, 1.3])
    top = outer[0].subgridspec(1, 2, width_ratios=[1.7, 1])
    ax = fig.add_subplot(top[0, 0])
    t = np.arange(len(wave)) / sr
    ax.plot(t, wave, color=PALETTE[0], lw=0.5)
    ax.set_xlabel(words_["time"])
    ax.set_ylabel(words_["amplitude"])
    decimal_ticks(lang, ax.xaxis, ax.yaxis)
    ax.set_title(words_["clip"].format(word=words[label], sr=sr, pred=words[pred]), fontsize=LABEL_PT)
    ax = fig.add_subplot(top[0, 1])
    f, tt, S = _spectrogram(wave, sr)
    ax.pcolormesh(tt, f, 10 * np.log10(S + 1e-10), shading="auto", cmap="magma")
    ax.set_xlabel(words_["time"])
    ax.set_ylabel("Hz")
    decimal_ticks(lang, ax.xaxis)
    ax.set_title(words_["spectrogram"], fontsize=LABEL_PT)
    _draw_filters(fig, outer[1], filters, shown, peak, sr, words_, lang)
    bottom = outer[2].subgridspec(1, 2)
    ax = fig.add_subplot(bottom[0, 0])
    for i, ch in enumerate(shown[::2]):
        ax.plot(freqs, 20 * np.log10(mag[ch] / mag[ch].max() + 1e-6), lw=0.8, label=f"#{ch}")
    ax.set_ylim(-40, 15)                              # the legend sits above the curves
    ax.set_xlabel("Hz")
    ax.set_ylabel("dB")
    ax.legend(fontsize=LABEL_PT, frameon=False, ncol=2, loc="upper center")
    ax.set_title(words_["responses"], fontsize=LABEL_PT)
    ax = fig.add_subplot(bottom[0, 1])
    norm = mag[order] / mag[order].max(axis=1, keepdims=True)
    ax.imshow(20 * np.log10(norm + 1e-6), aspect="auto", origin="lower", cmap="viridis", vmin=-30, vmax=0,
              extent=[freqs[0], freqs[-1], 0, len(order)])
    ax.set_xlabel("Hz")
    ax.set_ylabel(words_["sorted"])
    ax.set_title(words_["all"].format(n=len(order)), fontsize=LABEL_PT)
    acc = report.get("accuracy")
    if acc is None:
        acc_text = words_["run"]
    else:
        acc_text = words_["accuracy"].format(acc=decimals(f"{acc:.2f}", lang)) + (
            words_["here"] if run_dir is None else words_["from_run"])
    fig.suptitle(words_["title"].format(acc=acc_text), fontsize=TITLE_PT)

    data = {"label": int(label), "word": words[label], "prediction": pred, "sample_rate": sr,
            "waveform": wave, "filters": filters, "freqs": freqs, "magnitude": mag, "peak_hz": peak,
            "shown_filters": shown.tolist(), "accuracy": acc, "model": MODEL, "trained_here": run_dir is None}
    paths = save_figure(fig, out_dir, stem_for("fig8_waveform", lang), formats)
    return FigureResult(8, "waveform", "1D convolution on raw audio (M5)", paths, data)



def _draw_filters(fig, cell, filters, shown, peak, sr: int, words_: dict, lang: str) -> None:
    """The shown first-layer filters in two rows, each titled with its peak frequency, one shared x label."""
    cols = SHOW_FILTERS // 2
    sub = cell.subgridspec(2, cols)
    taps = np.arange(filters.shape[1]) / sr * 1000
    for i, ch in enumerate(shown):
        axf = fig.add_subplot(sub[i // cols, i % cols])
        axf.plot(taps, filters[ch], color=PALETTE[1], lw=0.8)
        axf.set_yticks([])
        axf.set_title(words_["peak"].format(ch=ch, hz=f"{peak[ch]:.0f}"), fontsize=LABEL_PT)
        decimal_ticks(lang, axf.xaxis)
        if i // cols == 0:
            axf.set_xticks([])
    axf_label = fig.add_subplot(sub[:, :], frameon=False)
    axf_label.set_xticks([])
    axf_label.set_yticks([])
    axf_label.set_xlabel(words_["taps"], fontsize=LABEL_PT, labelpad=22)

def _spectrogram(wave: np.ndarray, sr: int):
    spectrogram = require("scipy.signal", "figures", "the spectrogram").spectrogram

    return spectrogram(wave, fs=sr, nperseg=256, noverlap=192)
