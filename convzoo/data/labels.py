"""Class names that ship with convzoo: ImageNet-1k's, in index order (no download).

The file is timm's ``ImageNetInfo`` (WordNet synsets and their descriptions), as ``synset<TAB>names``.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["imagenet_labels", "imagenet_synsets"]


@lru_cache(maxsize=None)
def _rows() -> tuple[tuple[str, str], ...]:
    text = resources.files("convzoo.data").joinpath("imagenet1k_labels.tsv").read_text(encoding="utf-8")
    rows = tuple(tuple(line.split("\t", 1)) for line in text.splitlines() if line and not line.startswith("#"))
    if len(rows) != 1000:
        raise RuntimeError(f"convzoo's ImageNet label file has {len(rows)} rows, expected 1000 (broken install)")
    return rows  # type: ignore[return-value]


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class descriptions, index order (e.g. 281: "tabby, tabby cat")."""
    return [names for _, names in _rows()]


def imagenet_synsets() -> list[str]:
    """The 1000 WordNet ids, index order (e.g. 281: "n02123045")."""
    return [syn for syn, _ in _rows()]
