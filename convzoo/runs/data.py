"""How a run's or an artifact's inputs are made: :class:`DataSpec`, recorded by every producer.

    dataset, root, kwargs --build--> the dataset's samples (C, *S)
        --[resize to image_size]--> normalise (mean, std) --> the model

``convzoo train`` keeps it in config.json (``dataset``, ``data_root``, ``data_kwargs``,
``preprocess``), deploy.json and quantize.json under ``data``, an exported ``.onnx`` in its
``convzoo`` metadata and an IR in ``convzoo.json``; so eval, predict and bench need no data flags.
"""
from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field, replace as _replace
from typing import Any, Optional, Sequence

DEFAULT_MODEL = {"digits": "variant_conv"}   # a sensible small default per built-in dataset


def parse_kv(items: Optional[Sequence[str]], what: str = "option") -> dict[str, Any]:
    """["depth=3", "norm=None", "widths=(16,32)"] -> {"depth": 3, "norm": None, "widths": (16, 32)}."""
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"{what} must look like KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if v.lower() in ("none", "null"):
            out[k.strip()] = None
            continue
        try:
            out[k.strip()] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k.strip()] = v
    return out


def build_data(dataset: str, root: Optional[str] = None, data_kwargs: Optional[dict] = None,
               splits: Sequence[str] = ("train", "test")) -> list:
    """The datasets for ``splits`` of registered dataset ``dataset`` (unknown names suggest close ones)."""
    from convzoo.data import dataset_info, get_dataset
    dataset_info(dataset)                              # unknown name -> ValueError with suggestions
    out = []
    for split in splits:
        try:
            out.append(get_dataset(dataset, split, root=root, **(data_kwargs or {})))
        except TypeError as e:
            raise ValueError(f"dataset {dataset!r}: {str(e).splitlines()[0]}") from None
    return out


def sample_shape(dataset) -> tuple:
    x, _ = dataset[0]
    return tuple(x.shape)


def preprocess_info(dataset, image_size: Optional[int]) -> dict[str, Any]:
    """How a run's images reach the model, recorded in config.json (``preprocess``): the dataset's
    sample shape, its normalisation, the size the trainer resizes to and the number of classes."""
    mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)
    return {"input_size": list(sample_shape(dataset)), "image_size": image_size,
            "mean": list(mean) if mean is not None else None, "std": list(std) if std is not None else None,
            "num_classes": getattr(dataset, "num_classes", None)}


def _list(v) -> Optional[list]:
    return list(v) if v is not None else None


@dataclass(frozen=True)
class DataSpec:
    """A dataset and the preprocessing between its samples and the model.

    ``input_size`` is the sample shape (C, *S) before the trainer's resize to ``image_size``;
    ``mean``/``std`` the per-channel normalisation (None: none); ``class_names``, ``num_classes`` and
    ``task`` what the model was trained to output. Only ``dataset`` is needed to build the data: the
    rest is what the producer saw, so a consumer can check and feed inputs without building it.
    """
    dataset: str
    root: Optional[str] = None
    kwargs: dict = field(default_factory=dict)
    image_size: Optional[int] = None
    input_size: Optional[tuple] = None
    mean: Optional[list] = None
    std: Optional[list] = None
    class_names: Optional[list] = None
    num_classes: Optional[int] = None
    task: str = "classification"

    @classmethod
    def from_run_config(cls, cfg: dict[str, Any]) -> "DataSpec":
        """The spec of a run folder's config.json (older runs without ``preprocess`` learn it on build)."""
        pre = cfg.get("preprocess") or {}
        train = cfg.get("train") or {}
        if "image_size" in pre:
            size = pre["image_size"]
        else:
            from convzoo.train import TrainConfig
            from convzoo.train.augment import eval_image_size
            size = eval_image_size(TrainConfig.from_dict(train))
        return cls(cfg["dataset"], cfg.get("data_root"), dict(cfg.get("data_kwargs") or {}), size,
                   tuple(pre["input_size"]) if pre.get("input_size") else None, _list(pre.get("mean")),
                   _list(pre.get("std")), _list(cfg.get("class_names")), pre.get("num_classes"),
                   train.get("task", "classification"))

    @classmethod
    def from_dict(cls, d: Optional[dict], legacy: Optional[dict] = None) -> Optional["DataSpec"]:
        """A spec written by :meth:`to_dict`; with ``legacy`` (a manifest written before the spec),
        its top-level ``dataset``, ``data_root``, ``data_kwargs`` and ``image_size``. None without either."""
        if isinstance(d, dict) and d.get("dataset"):
            return cls(d["dataset"], d.get("root"), dict(d.get("kwargs") or {}), d.get("image_size"),
                       tuple(d["input_size"]) if d.get("input_size") else None, _list(d.get("mean")),
                       _list(d.get("std")), _list(d.get("class_names")), d.get("num_classes"),
                       d.get("task") or "classification")
        if legacy and legacy.get("dataset"):
            return cls(legacy["dataset"], legacy.get("data_root"), dict(legacy.get("data_kwargs") or {}),
                       legacy.get("image_size"))
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = _list(self.input_size)
        return d

    def replace(self, *, dataset: Optional[str] = None, root: Optional[str] = None,
                kwargs: Optional[dict] = None, image_size: Optional[int] = None) -> "DataSpec":
        """The spec with the values given (None: keep). Another dataset keeps nothing of this one's
        options, root, shape or classes (they are learnt again when it is built); the task stays."""
        if dataset is not None and dataset != self.dataset:
            return DataSpec(dataset, root, dict(kwargs or {}), image_size if image_size is not None
                            else self.image_size, task=self.task)
        return _replace(self, root=self.root if root is None else root,
                        kwargs=self.kwargs if kwargs is None else dict(kwargs),
                        image_size=self.image_size if image_size is None else image_size)

    def build(self, splits: Sequence[str] = ("train", "test")) -> list:
        """The datasets of ``splits``, as the producer built them."""
        return build_data(self.dataset, self.root, self.kwargs, splits=splits)

    def model_input_size(self) -> Optional[tuple]:
        """(C, *S) the model sees: the sample shape, images resized to ``image_size``."""
        if not self.input_size:
            return None
        shape = tuple(self.input_size)
        return (shape[0], self.image_size, self.image_size) if self.image_size and len(shape) == 3 else shape

    def image_preprocess(self):
        """A function image path -> input tensor (C, H, W): the dataset's resize and centre crop to its
        sample size, then the trainer's resize to ``image_size`` and its normalisation; a segmentation
        run's images go in at their own size. ``ValueError`` when the samples are not images."""
        import torch
        from torchvision.transforms import v2

        from convzoo.data.imagefolder import open_image
        from convzoo.train.batches import prepare_batch
        if not self.input_size or len(self.input_size) != 3 or self.input_size[0] not in (1, 3):
            raise ValueError(f"the run trained on {self.dataset!r}, whose samples are not images this command can "
                             f"read (or it predates recorded preprocessing)")
        c, h, _ = self.input_size
        stats = (torch.tensor(self.mean), torch.tensor(self.std)) if self.mean and self.std else None
        mode = "L" if c == 1 else "RGB"
        if self.task == "segmentation":     # the image as it is: no resize, no crop
            to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
            return lambda p: prepare_batch(to_tensor(open_image(p, mode))[None], None, stats)[0]
        tf = v2.Compose([v2.ToImage(), v2.Resize(h, antialias=True), v2.CenterCrop(h),
                         v2.ToDtype(torch.float32, scale=True)])
        return lambda p: prepare_batch(tf(open_image(p, mode))[None], self.image_size, stats)[0]


__all__ = ["DataSpec", "DEFAULT_MODEL", "parse_kv", "build_data", "preprocess_info", "sample_shape"]
