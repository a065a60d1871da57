"""``convzoo.predict``: classify (or segment) image files with any source.

    images --image_list--> files --preprocess (the source's recorded pipeline, or the model's
    resolve_data_config)--> tensors --model--> top-k labels per image | one palette PNG mask per image
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from .source import Source, open_source


class NonFiniteOutput(RuntimeError):
    """The model gave NaN or inf: a fault of the weights, not of the input (exit code 1)."""
    exit_code = 1


def image_list(items: Sequence[Union[str, os.PathLike]]) -> list[Path]:
    """Image files of ``items`` (files, or folders searched recursively); one line for a missing one."""
    from convzoo.data.imagefolder import image_files
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = image_files(p)
            if not found:
                raise ValueError(f"{p} holds no image files (looked for .jpg, .png, ... recursively)")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"image not found: {p}")
    return files


def labels_of(model, data=None) -> list[str]:
    """Class names: the model's ``label_names``, the recorded data's, ImageNet's for 1000 classes, else indices."""
    n = int(getattr(model, "num_classes", 0) or (data.num_classes if data is not None else 0) or 0)
    names = (getattr(model, "default_cfg", None) or {}).get("label_names") or (data and data.class_names)
    if names and len(names) == n:
        return [str(x) for x in names]
    if n == 1000:
        from convzoo.data.labels import imagenet_labels
        return imagenet_labels()
    return [str(i) for i in range(n)]


def _from_model(name: str, pretrained: Optional[str]):
    """A model name or folder with its weights: (model, path -> tensor)."""
    import torch

    import convzoo
    from convzoo.data.imagefolder import open_image
    from convzoo.data.transforms import create_transform, resolve_data_config
    if name.startswith(("local-dir:", "hf-hub:")):
        model = convzoo.create_model(name)
    elif pretrained:
        model = convzoo.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=pretrained))
    else:
        model = convzoo.create_model(name, pretrained=True)   # the local caches, or one line why not
    model.eval()
    cfg = resolve_data_config(model)
    tf = create_transform(cfg)
    mode = "L" if cfg["input_size"][0] == 1 else "RGB"
    return model, (lambda p: tf(open_image(p, mode)).to(torch.float32))


def _load(src: Source, pretrained: Optional[str]):
    """(model or runner, path -> input tensor, DataSpec or None)."""
    from .use import check_feeds, load_source
    if src.kind in ("model", "hub"):
        return (*_from_model(src.name, pretrained), None)
    if pretrained:
        raise ValueError(f"pretrained weights go with a model name; {src.describe()} already holds its weights")
    loaded = load_source(src)
    if loaded.data is None:
        raise ValueError(f"{src.describe()} records no preprocessing (exported from a bare model name): predict "
                         f"from the run it came from, or export it from a run")
    preprocess = loaded.data.image_preprocess()
    check_feeds(loaded, loaded.data.model_input_size(), "its recorded preprocessing")
    if loaded.fixed_input and loaded.data.task == "segmentation":     # images come at their own size

        def fixed(path, _pre=preprocess):
            x = _pre(path)
            check_feeds(loaded, tuple(x.shape), f"image {path}")
            return x
        return loaded.model, fixed, loaded.data
    return loaded.model, preprocess, loaded.data


def predict(source: Union[str, os.PathLike, Source], images: Sequence[Union[str, os.PathLike]], *, topk: int = 5,
            pretrained: Optional[str] = None, batch_size: int = 16,
            out: Union[str, os.PathLike] = "masks") -> list[dict[str, Any]]:
    """Top-``topk`` classes of each image (``{"image", "top": [{"index", "label", "prob"}, ...]}``), or
    for a segmentation source one palette PNG mask per image under ``out`` (new or empty) at the
    image's size (``{"image", "mask", "pixels": {class: fraction}}``). ``source``: a model name (with
    ``pretrained``: a weights file or folder; default the local caches), a model folder, a run folder
    or an artifact, fed as its producer recorded."""
    files = image_list(images)                 # a missing image before any model is loaded
    src = open_source(source)
    model, preprocess, data = _load(src, pretrained)
    if (data.task if data is not None else getattr(model, "task", "classification")) == "segmentation":
        return _segment(model, preprocess, files, Path(out))
    labels = labels_of(model, data)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(files), batch_size):
        rows += _classify(model, preprocess, files[i:i + batch_size], min(topk, len(labels)), labels)
    return rows


def _classify(model, preprocess, files: list[Path], k: int, labels: list[str]) -> list[dict]:
    import torch
    xs = [preprocess(f) for f in files]
    with torch.no_grad():
        probs = torch.as_tensor(model(torch.stack(xs))).float().softmax(-1)
    if not bool(torch.isfinite(probs).all()):
        raise NonFiniteOutput(f"the model gave non-finite outputs on {[str(f) for f in files][:3]} (broken weights?)")
    vals, idx = probs.topk(k, dim=-1)
    return [{"image": str(f), "top": [{"index": int(i), "label": labels[int(i)], "prob": float(v)}
                                      for v, i in zip(vs, ix)]}
            for f, vs, ix in zip(files, vals, idx)]


def _segment(model, preprocess, files: list[Path], out: Path) -> list[dict]:
    """One palette PNG mask per image, at the image's own size (segmenters take any size)."""
    import torch

    from convzoo.data.segmentation import masks_from_logits, save_mask_png
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} exists and is not an empty folder (masks are never written over)")
    xs = [preprocess(f) for f in files]   # all read first: a bad image stops it before any mask is written
    rows, used = [], set()
    for i, (f, x) in enumerate(zip(files, xs)):
        with torch.no_grad():
            mask = masks_from_logits(model(x[None]))[0]
        name = f"{f.stem}.png" if f.stem not in used else f"{f.stem}-{i}.png"
        used.add(f.stem)
        path = save_mask_png(mask, out / name)
        counts = torch.bincount(mask.flatten().long(), minlength=1).double() / mask.numel()
        rows.append({"image": str(f), "mask": str(path),
                     "pixels": {int(c): round(float(v), 6) for c, v in enumerate(counts) if v > 0}})
    return rows


__all__ = ["predict", "image_list", "labels_of", "NonFiniteOutput"]
