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

from . import model_folder
from .model_folder import PREPROCESS_KEYS, HubFolder, hf_hub_folder, sha256

__all__ = ["save_pretrained", "read_folder", "hf_hub_folder", "find_cached_weights", "resolve_source", "sha256",
           "HubFolder", "PREPROCESS_KEYS", "timm_names", "timm_name"]


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


def from_timm() -> dict[str, str]:
    """{timm name: convzoo name} where the two differ (:func:`timm_names` the other way round)."""
    from .registry import from_timm as registered
    return registered()


# reading, with timm's names translated (convzoo.model_folder reads; it knows no registry)
def read_folder(path: Union[str, os.PathLike]) -> HubFolder:
    """``config.json`` of a model folder (timm's or convzoo's), checked, with its weights file and the
    convzoo name of its architecture (:func:`convzoo.model_folder.read_folder`)."""
    return model_folder.read_folder(path, from_timm())


def resolve_source(spec: str) -> tuple[Path, Optional[HubFolder]]:
    """A pretrained source as users write it (a weights file, a model folder, ``local-dir:DIR``,
    ``hf-hub:ORG/NAME``) -> (weights file, its folder's config or None)."""
    return model_folder.resolve_source(spec, from_timm())


def find_cached_weights(arch: str) -> tuple[Optional[Path], list[str]]:
    """A local checkpoint of ``arch`` and the places looked (:func:`convzoo.model_folder.find_cached_weights`)."""
    return model_folder.find_cached_weights(arch, timm_name(arch))


def __getattr__(name: str) -> dict[str, str]:   # the derived tables, under their former names
    if name == "TIMM_NAMES":
        return timm_names()
    if name == "FROM_TIMM":
        return from_timm()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
