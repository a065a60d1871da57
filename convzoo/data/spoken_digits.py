"""``spoken_digits``: the words "zero" ... "nine" spoken by espeak-ng, as 8 kHz raw waveforms.

Each clip: one word synthesised by the espeak-ng speech synthesiser (Debian package ``espeak-ng``)
with an English accent (8 of its ``gmw`` English voices), a voice variant (``+name``: formant and
pitch settings of one "speaker"), a random speaking rate (130-200 words/min) and pitch (20-80),
resampled from 22.05 kHz to 8 kHz (Dai et al. 2016's rate, arXiv:1610.00087), trimmed of silence,
placed at a random offset in a 1 s clip (8000 samples), mixed with background noise (white plus
brown noise at 10-30 dB SNR) and standardised to mean 0 / variance 1 as Dai et al. do.

Speaker-independent split: the voice variants are split once, by a fixed list: every 5th variant
is a *test voice* that never occurs in training, so the test accuracy measures generalisation to
unseen voices. (The accents occur in both splits; the variant is the speaker.)

Deterministic: clip ``i`` depends only on (seed, split, i) and the espeak-ng version, which is part
of the cache key. Generated sets are cached (see :mod:`convzoo.data._cache`).
"""
from __future__ import annotations

import io
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from ._cache import cached_arrays
from .registry import register_dataset
from .._extras import require

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# espeak-ng's English voices (language group gmw); MBROLA voices need extra packages, so they are out.
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
           "en-029", "en-us-nyc")
# espeak-ng voice variants (files in espeak-ng-data/voices/!v), the "speakers". Novelty voices
# (robots, whisper, croak, "Demonic") are left out. Fixed here so the split never changes.
VARIANTS = ("Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Denis", "Diogo", "Gene",
            "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike",
            "Nguyen", "RicishayMax", "Storm", "Tweaky", "adam", "anika", "announcer", "antonio",
            "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "f1", "f2",
            "f3", "f4", "f5", "grandma", "grandpa", "gustave", "iven", "iven2", "john", "kaukovalta",
            "klatt", "klatt2", "klatt3", "linda", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
            "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy",
            "rob", "robert", "sandro", "shelby", "steph", "travis", "victor", "zac")
TEST_VARIANTS = VARIANTS[4::5]                     # 15 voices never heard in training
TRAIN_VARIANTS = tuple(v for v in VARIANTS if v not in TEST_VARIANTS)
SAMPLE_RATE = 8000
ESPEAK_RATE = 22050
_VERSION = 1

INSTALL_HINT = ("SpokenDigits synthesises speech with espeak-ng, which was not found on PATH. "
                "Install it: `sudo apt-get install espeak-ng` (Debian/Ubuntu), `brew install espeak-ng` "
                "(macOS), `dnf install espeak-ng` (Fedora), or pass espeak=/path/to/espeak-ng")


class EspeakNotFoundError(FileNotFoundError):
    """espeak-ng is not installed; the message says how to install it."""


def find_espeak(espeak: Optional[str] = None) -> str:
    path = shutil.which(espeak or "espeak-ng")
    if path is None:
        raise EspeakNotFoundError(INSTALL_HINT + (f" (looked for {espeak!r})" if espeak else ""))
    return path


def espeak_version(espeak: Optional[str] = None) -> str:
    out = subprocess.run([find_espeak(espeak), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().split("  ")[0]


def synthesize(word: str, voice: str, rate: int, pitch: int, espeak: Optional[str] = None) -> np.ndarray:
    """espeak-ng's waveform for ``word`` (float32 at 22.05 kHz)."""
    sf = require("soundfile", "audio", "reading WAV files")
    cmd = [find_espeak(espeak), "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", word]
    out = subprocess.run(cmd, capture_output=True, check=True)
    x, sr = sf.read(io.BytesIO(out.stdout), dtype="float32")
    if sr != ESPEAK_RATE:
        raise RuntimeError(f"espeak-ng returned {sr} Hz audio, expected {ESPEAK_RATE} Hz")
    return x


def _params(seed: int, split: str, i: int) -> dict:
    rng = np.random.default_rng([_VERSION, seed, {"train": 0, "test": 1}[split], i])
    variants = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
    return dict(label=int(rng.integers(10)), accent=ACCENTS[rng.integers(len(ACCENTS))],
                variant=variants[rng.integers(len(variants))], rate=int(rng.integers(130, 201)),
                pitch=int(rng.integers(20, 81)), offset=float(rng.random()),
                snr_db=float(rng.uniform(10, 30)), brown=float(rng.random()),
                noise_seed=int(rng.integers(2 ** 31)))


def _render(p: dict, length: int, espeak: Optional[str]) -> np.ndarray:
    resample_poly = require("scipy.signal", "audio", "resampling").resample_poly
    speech = synthesize(WORDS[p["label"]], f"{p['accent']}+{p['variant']}", p["rate"], p["pitch"], espeak)
    speech = resample_poly(speech.astype(np.float64), 160, 441)   # 22050 * 160 / 441 = 8000 Hz
    loud = np.flatnonzero(np.abs(speech) > 0.02 * np.abs(speech).max())
    speech = speech[loud[0]:loud[-1] + 1][:length]                 # trim leading/trailing silence
    clip = np.zeros(length)
    start = int(p["offset"] * (length - len(speech)))
    clip[start:start + len(speech)] = speech
    rng = np.random.default_rng(p["noise_seed"])
    white = rng.standard_normal(length)
    brown = np.cumsum(rng.standard_normal(length))
    brown -= np.linspace(brown[0], brown[-1], length)              # no drift
    noise = white / white.std() * (1 - p["brown"]) + brown / brown.std() * p["brown"]
    power = np.mean(speech ** 2)
    clip += noise / noise.std() * np.sqrt(power / 10 ** (p["snr_db"] / 10))
    clip = (clip - clip.mean()) / clip.std()                       # mean 0 / variance 1 (Dai et al.)
    return clip.astype(np.float32)


def generate(split: str, n: int, length: int = SAMPLE_RATE, seed: int = 0,
             espeak: Optional[str] = None, workers: int = 2) -> dict[str, np.ndarray]:
    """``{"x": float32 (n, length), "y": int64 (n,), "voice": (n,) str}``, clip ``i`` from (seed, split, i)."""
    find_espeak(espeak)
    params = [_params(seed, split, i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        clips = list(pool.map(lambda p: _render(p, length, espeak), params))
    return {"x": np.stack(clips), "y": np.array([p["label"] for p in params], np.int64),
            "voice": np.array([f"{p['accent']}+{p['variant']}" for p in params])}


class SpokenDigits(Dataset):
    """SpokenDigits: item -> (float32 (1, 8000) waveform at 8 kHz, digit 0..9).

    ``size`` (default 2000 train / 600 test) clips; ``length`` samples per clip (default 1 s).
    ``.voices`` holds each clip's ``accent+variant``.
    Shape: item -> ((1, length), int).
    """

    num_classes = 10
    modality = "audio"
    classes = WORDS
    sample_rate = SAMPLE_RATE

    def __init__(self, split: str = "train", root: Optional[str] = None, size: Optional[int] = None,
                 length: int = SAMPLE_RATE, seed: int = 0, cache: bool = True,
                 espeak: Optional[str] = None, workers: int = 2):
        if split == "val":
            split = "test"
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        n = size if size is not None else (2000 if split == "train" else 600)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if not isinstance(length, int) or length < 800:
            raise ValueError(f"length must be an int >= 800 samples (0.1 s), got {length!r}")
        params = dict(version=_VERSION, split=split, n=n, length=length, seed=seed,
                      espeak=espeak_version(espeak))
        arrays = cached_arrays("spoken_digits", params,
                               lambda: generate(split, n, length, seed, espeak, workers), root, cache)
        self.x = torch.from_numpy(arrays["x"]).unsqueeze(1)            # (N, L) -> (N, 1, L)
        self.y = torch.from_numpy(arrays["y"])
        self.voices = [str(v) for v in arrays["voice"]]
        self.split, self.input_size = split, (1, length)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


@register_dataset("spoken_digits", modality="audio", num_classes=10, input_size=(1, 8000))
def spoken_digits(split: str = "train", root: Optional[str] = None, **kwargs) -> SpokenDigits:
    """SpokenDigits: "zero".."nine" by espeak-ng voices, 1 s at 8 kHz; test voices unseen in training."""
    return SpokenDigits(split, root, **kwargs)
