"""``shapes``: a generated image dataset whose class lives in fine detail, for resolution studies.

Each image is one shape (circle or rotated square, random place, size and colours) on a smooth
random background, filled with one of seven textures. The class is the texture:

    0 solid           the *mean colour* of a random texture (same low frequencies as the others)
    1 stripes-coarse  2 stripes-fine
    3 checker-coarse  4 checker-fine
    5 dots-coarse     6 dots-fine

Why this is a fair test bed for resolution scaling (EfficientNet, arXiv:1905.11946, Sec. 3):
the scene is defined in continuous image coordinates and rendered at any resolution R by drawing
it 2x supersampled and area-averaging down, as a camera would. Every class has the same
low-frequency content (the solid class is literally the texture's mean colour), so what separates
classes is only detail above a known spatial frequency: coarse texture periods are 9-12/128
of the image width, fine ones 3-4/128. Below R ~ 64 px the fine textures fall past Nyquist
(period < 2 px) and average to the solid colour, so at most 4/7 of the images can be told apart;
from R ~ 96 px on all seven can. Width and depth cannot recover information the input no longer
has, resolution can: the data rewards resolution, but only up to the point where the detail is
resolved, and a network must still be deep and wide enough to use the detail it gets.

Deterministic: image ``i`` of a split depends only on (seed, split, i), not on how many images
are asked for. Generated sets are cached as ``.npz`` under ``<cache>/shapes/`` (``root``, else
``$CONVZOO_CACHE``, else ``~/.cache/convzoo``) with atomic writes (temp file + ``os.replace``).
"""
from __future__ import annotations

import hashlib
import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ._cache import cached_arrays
from .registry import register_dataset

CLASSES = ("solid", "stripes-coarse", "stripes-fine", "checker-coarse", "checker-fine",
           "dots-coarse", "dots-fine")
# Texture periods as fractions of the image width, in units of 1/128 (so "3-4 px at 128 px").
# Periods are drawn log-uniformly in these ranges, so each doubling of resolution resolves more.
COARSE_PERIOD = (10.0 / 128, 16.0 / 128)
FINE_PERIOD = (3.0 / 128, 6.0 / 128)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
_VERSION = 1              # bump when the renderer changes, so old caches are not reused
_CHUNK = 128              # images are generated in chunks with their own seed
_SUB = 8                  # images drawn at once (keeps the supersampled arrays in cache)


def _chunk_seed(seed: int, split: str, chunk: int) -> int:
    key = f"shapes-v{_VERSION}-{seed}-{split}-{chunk}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") & ((1 << 63) - 1)


def _texture(kind: torch.Tensor, period: torch.Tensor, theta: torch.Tensor, phase: torch.Tensor,
             u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Binary texture in {0, 1} for each image: 0 stripes, 1 checker, 2 dots. (B,) params -> (B, H, W)."""
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    p = period[:, None, None]
    a = (u * c + v * s) / p + phase[:, 0, None, None]      # rotated lattice coordinates
    b = (-u * s + v * c) / p + phase[:, 1, None, None]
    fa, fb = torch.floor(a), torch.floor(b)
    stripes = (a - fa < 0.5).float()
    checker = ((fa + fb) % 2).float()
    da, db = a - fa - 0.5, b - fb - 0.5                      # offset from the nearest lattice point
    dots = (da * da + db * db < 0.3 ** 2).float()            # dot radius 0.3 period
    k = kind[:, None, None]
    return torch.where(k == 0, stripes, torch.where(k == 1, checker, dots))


def render(labels: torch.Tensor, resolution: int, generator: torch.Generator,
           supersample: int = 2, count: Optional[int] = None) -> torch.Tensor:
    """Render one image per label at ``resolution`` px. Returns uint8 (count or B, 3, R, R).

    Drawn at ``supersample * max(R, 128)`` px, then area-averaged to R (anti-aliased, like a sensor).
    All random draws are made for every label; ``count`` renders only the first ``count`` images.
    """
    B, g = labels.numel(), generator

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    # every random draw happens here, before the pixel work, so the result is independent of _SUB
    lab = labels.long()
    p = dict(bg0=rand(B, 3), bg1=rand(B, 3), gdir=rand(B) * 2 * math.pi,
             cx=0.3 + 0.4 * rand(B), cy=0.3 + 0.4 * rand(B), radius=0.2 + 0.12 * rand(B),
             is_square=rand(B) < 0.5, rot=rand(B) * math.pi / 2)
    # texture kind and period from the label; the solid class takes a random kind and period
    p["kind"] = torch.where(lab == 0, torch.randint(0, 3, (B,), generator=g), (lab - 1) // 2)
    fine = torch.where(lab == 0, rand(B) < 0.5, (lab - 1) % 2 == 1)
    log_lo = torch.log(torch.where(fine, torch.tensor(FINE_PERIOD[0]), torch.tensor(COARSE_PERIOD[0])))
    log_hi = torch.log(torch.where(fine, torch.tensor(FINE_PERIOD[1]), torch.tensor(COARSE_PERIOD[1])))
    p.update(period=torch.exp(log_lo + (log_hi - log_lo) * rand(B)), theta=rand(B) * math.pi,
             phase=rand(B, 2))
    # two texture colours with a clear contrast: one is the other shifted by 0.5 in every channel
    col_a = 0.1 + 0.3 * rand(B, 3)
    col_b = col_a + 0.5
    flip = rand(B) < 0.5
    p["col_a"] = torch.where(flip[:, None], col_b, col_a)
    p["col_b"] = torch.where(flip[:, None], col_a, col_b)
    p["solid"] = lab == 0
    noise = 0.02 * torch.randn(B, 3, resolution, resolution, generator=g)   # sensor noise

    hi = supersample * max(resolution, 128)
    coords = (torch.arange(hi, dtype=torch.float32) + 0.5) / hi
    v, u = torch.meshgrid(coords, coords, indexing="ij")      # (H, W), v down, u right
    n = B if count is None else min(count, B)
    out = [_draw({k: t[i:min(i + _SUB, n)] for k, t in p.items()}, u[None], v[None], resolution)
           for i in range(0, n, _SUB)]                         # small batches stay in cache
    img = torch.cat(out) + noise[:n]
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def _draw(p: dict, u: torch.Tensor, v: torch.Tensor, resolution: int) -> torch.Tensor:
    """Pixel work for a few images: background, shape mask, texture; area-average to R. -> (b, 3, R, R)."""
    def col(t):
        return t[:, None, None]
    t = (u - 0.5) * col(torch.cos(p["gdir"])) + (v - 0.5) * col(torch.sin(p["gdir"])) + 0.5
    bg = p["bg0"][:, :, None, None] + (p["bg1"] - p["bg0"])[:, :, None, None] * 0.5 * t[:, None]

    du, dv = u - col(p["cx"]), v - col(p["cy"])
    cr, sr = col(torch.cos(p["rot"])), col(torch.sin(p["rot"]))
    square = torch.maximum((du * cr + dv * sr).abs(), (-du * sr + dv * cr).abs()) * 1.15
    dist = torch.where(col(p["is_square"]), square, torch.sqrt(du * du + dv * dv))
    mask = (dist < col(p["radius"])).float()[:, None]         # (b, 1, H, W)

    tex = _texture(p["kind"], p["period"], p["theta"], p["phase"], u, v)[:, None]
    a, b = p["col_a"][:, :, None, None], p["col_b"][:, :, None, None]
    fill = a + (b - a) * tex
    # solid: the texture's mean colour inside the shape, so low frequencies match the textured classes
    mean_fill = (fill * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1.0)
    fill = torch.where(p["solid"][:, None, None, None], mean_fill[:, :, None, None], fill)
    img = bg + (fill - bg) * mask
    if img.shape[-1] != resolution:
        img = F.interpolate(img, size=(resolution, resolution), mode="bilinear", antialias=True,
                            align_corners=False)
    return img


def generate(split: str, n: int, resolution: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3, R, R), labels int64 (n,)), balanced classes, deterministic per index."""
    images, labels = [], []
    for chunk in range(math.ceil(n / _CHUNK)):
        g = torch.Generator().manual_seed(_chunk_seed(seed, split, chunk))
        lab = torch.randint(0, len(CLASSES), (_CHUNK,), generator=g)
        count = min(_CHUNK, n - chunk * _CHUNK)
        with torch.no_grad():
            images.append(render(lab, resolution, g, count=count))
        labels.append(lab[:count])
    return torch.cat(images).numpy(), torch.cat(labels).numpy()


class ShapesDataset(Dataset):
    """The ``shapes`` split at one resolution: (float image (3, R, R) in [0, 1], label) pairs.

    ``mean``/``std`` are the per-channel statistics the trainer normalises with.
    Shape: item -> ((3, R, R) float32, int).
    """

    classes = CLASSES
    num_classes = len(CLASSES)
    modality = "image"
    mean, std = MEAN, STD

    def __init__(self, split: str = "train", resolution: int = 64, size: Optional[int] = None,
                 seed: int = 0, root: Optional[str] = None, cache: bool = True):
        if split not in ("train", "test", "val"):
            raise ValueError(f"split must be 'train', 'test' or 'val', got {split!r}")
        if not isinstance(resolution, int) or not 8 <= resolution <= 512:
            raise ValueError(f"resolution must be an int in [8, 512] px, got {resolution!r}")
        size = size if size is not None else (4000 if split == "train" else 1000)
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.split, self.resolution, self.size, self.seed = split, resolution, size, seed
        self.input_size = (3, resolution, resolution)
        split_key = "test" if split == "val" else split
        params = dict(version=_VERSION, split=split_key, size=size, resolution=resolution, seed=seed)

        def make() -> dict[str, np.ndarray]:
            x, y = generate(split_key, size, resolution, seed)
            return {"x": x, "y": y}
        arrays = cached_arrays("shapes", params, make, root=root, cache=cache)
        self.images = torch.from_numpy(np.ascontiguousarray(arrays["x"]))
        self.labels = torch.from_numpy(np.ascontiguousarray(arrays["y"])).long()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int):
        return self.images[i].float() / 255, int(self.labels[i])


@register_dataset("shapes", modality="image", num_classes=len(CLASSES), input_size=(3, 64, 64),
                  description="generated shapes whose class is a fine texture (resolution matters)")
def shapes(split: str = "train", root: Optional[str] = None, resolution: int = 64,
           size: Optional[int] = None, seed: int = 0, **kwargs) -> ShapesDataset:
    """Generated shapes/textures at ``resolution`` px (default 64; fine detail needs ~96+)."""
    if "image_size" in kwargs:          # the name other commands use for the input resolution
        resolution = kwargs.pop("image_size")
    if kwargs:
        raise TypeError(f"shapes() got unexpected options {sorted(kwargs)}; "
                        "expected resolution, size, seed, root")
    return ShapesDataset(split, resolution=int(resolution), size=size, seed=seed, root=root)
