"""Model registry: ``register_model``, ``create_model`` and ``list_models`` (timm's signatures).

A builder is a function ``name(**kwargs) -> nn.Module`` decorated with ``@register_model``; its
function name is the model name. Its metadata (input size, mean/std, modality, ...) is handed to the
registry with it, ``@register_model(cfg=...)`` (as ``register_dataset`` takes a dataset's), and held
here once: a model can be listed and described without building it, and the builder's model gets it
as its ``default_cfg`` (:func:`convzoo.models._builder.build`). Modules under :mod:`convzoo.models`
are imported on first use; listing names and reading cfgs builds no model.

A cfg also holds the model's twin facts, once (:func:`convzoo.models._specs.twin_cfg`): ``twins``
({library or weight layout: the name of the model it equals there}), ``num_params``, ``paper``
({"gmacs", "mparams", "source"}) and ``same_code`` (the model whose code it runs at other widths or depths).
``hub``'s name table (:func:`twin_names`) and the tests' twin tables are read off them; a built
model's ``default_cfg`` leaves them out.
"""
from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from torch import nn

from .suggest import did_you_mean

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_CFGS: dict[str, dict[str, Any]] = {}
_IMPORTED = False
Filter = Union[str, Sequence[str]]
FEATURE_CLASSES = ("getter", "hook", "fx", "list", "dict")


class UnknownModelError(ValueError, KeyError):
    """An unknown model name; the message suggests the closest registered names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def register_model(fn: Optional[Callable[..., nn.Module]] = None, *, cfg: Optional[dict[str, Any]] = None):
    """Register ``fn`` under its function name, with its metadata ``cfg`` (timm's ``pretrained_cfg``
    keys; its ``architecture``, if given, must be that name).

    ``@register_model`` (timm's form) registers a builder without metadata (``get_pretrained_cfg``
    then gives ``{"modality": fn.modality or "image"}``); ``@register_model(cfg=...)`` with it.
    """
    def deco(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = f.__name__
        if name in _MODELS and _MODELS[name] is not f:
            raise ValueError(f"model {name!r} is registered twice")
        if cfg is not None and cfg.get("architecture", name) != name:
            raise ValueError(f"register_model: builder {name!r} was given the cfg of "
                             f"{cfg['architecture']!r}")
        if cfg is not None and cfg.get("same_code") == name:
            raise ValueError(f"register_model: {name!r} names itself as same_code (leave it out: a model "
                             "is its own representative by default)")
        _MODELS[name] = f
        if cfg is not None:
            _CFGS[name] = dict(cfg)
        return f
    return deco if fn is None else deco(fn)


def registered_cfg(name: str) -> Optional[dict[str, Any]]:
    """A copy of the metadata ``name`` was registered with (None if none; its ``twins`` and ``paper``
    copied too); imports nothing."""
    cfg = _CFGS.get(name)
    return None if cfg is None else {k: dict(v) if isinstance(v, dict) else v for k, v in cfg.items()}


def twin_names(library: str) -> dict[str, str]:
    """{registered name: the name of the model it equals in ``library``} ("timm", "torchvision", or
    another weight layout), from the cfgs' ``twins``; imports the model modules, builds nothing."""
    _import_models()
    return {n: cfg["twins"][library] for n, cfg in sorted(_CFGS.items()) if library in cfg.get("twins", {})}


def from_timm() -> dict[str, str]:
    """{timm name: convzoo name} where the two differ, from the cfgs' ``twins``: a folder written for
    timm names timm's model, and opens as ours (``hub.FROM_TIMM``)."""
    return {theirs: ours for ours, theirs in twin_names("timm").items() if theirs != ours}


def _import_models() -> None:
    global _IMPORTED
    if _IMPORTED:
        return
    _IMPORTED = True
    import convzoo.models as pkg
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def get_pretrained_cfg(name: str) -> dict[str, Any]:
    """The metadata a registered model was registered with (a copy).

    Builders registered without one (e.g. outside convzoo) get ``{"modality": fn.modality or "image"}``.
    """
    fn = model_entrypoint(name)
    cfg = registered_cfg(fn.__name__)
    return {"modality": getattr(fn, "modality", "image")} if cfg is None else cfg


def get_pretrained_cfg_value(name: str, key: str) -> Any:
    """One key of :func:`get_pretrained_cfg` (None when absent), as timm's function of that name."""
    return get_pretrained_cfg(name).get(key)


def _as_list(f: Optional[Filter]) -> list[str]:
    if not f:
        return []
    return [f] if isinstance(f, str) else list(f)


def list_models(filter: Filter = "", module: Filter = "", pretrained: bool = False,
                exclude_filters: Filter = "", name_matches_cfg: bool = False,
                include_tags: Optional[bool] = None, *, pattern: Optional[str] = None,
                modality: Optional[str] = None, task: Optional[str] = "classification") -> list[str]:
    """Registered model names, sorted, with timm's ``list_models`` arguments.

    ``filter`` / ``exclude_filters``: a glob or list of globs (``pattern`` is the older name of
    ``filter``); ``module``: family module name(s), e.g. ``"efficientnet"`` or ``"convnext"``;
    ``pretrained=True`` lists models with downloadable weights -- none (convzoo downloads nothing;
    load a file with ``create_model(..., pretrained=True, pretrained_cfg_overlay=dict(file=...))``);
    ``modality`` ("image", "audio", "video") filters by the table's ``modality``; ``task``
    (``"classification"``, the default, as timm's registry holds classifiers only; ``"segmentation"``;
    None: every task) by its ``task``.
    ``name_matches_cfg`` and ``include_tags`` are accepted for timm's callers: every convzoo name is
    its own config and has no weight tags.
    """
    _import_models()
    includes = _as_list(pattern if pattern is not None else filter) or ["*"]
    names = {n for n in _MODELS if any(fnmatch.fnmatch(n, f) for f in includes)}
    excludes = _as_list(exclude_filters)
    names = {n for n in names if not any(fnmatch.fnmatch(n, f) for f in excludes)}
    modules = _as_list(module)
    if modules:
        names = {n for n in names
                 if any(fnmatch.fnmatch(_MODELS[n].__module__.rsplit(".", 1)[-1], m) for m in modules)}
    if pretrained:
        names = set()
    if modality is not None:
        names = {n for n in names if get_pretrained_cfg(n).get("modality", "image") == modality}
    if task is not None:
        names = {n for n in names if get_pretrained_cfg(n).get("task", "classification") == task}
    return sorted(names)


def list_modules() -> list[str]:
    """The family modules that hold registered models (``module=`` values of :func:`list_models`)."""
    _import_models()
    return sorted({fn.__module__.rsplit(".", 1)[-1] for fn in _MODELS.values()})


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    _import_models()
    base = name.split(".", 1)[0]        # timm-style "arch.tag": the tag names weights, not the arch
    if base not in _MODELS:
        raise UnknownModelError(f"unknown model {name!r}{did_you_mean(base, _MODELS)} "
                                f"(convzoo.list_models(task=None) lists all {len(_MODELS)})")
    return _MODELS[base]


def is_model(name: str) -> bool:
    _import_models()
    return name.split(".", 1)[0] in _MODELS


def _pretrained_file(name: str, pretrained_cfg: Any, overlay: Optional[dict], checkpoint_path: str):
    """The local source of ``pretrained=True``: a file or folder given, else the local caches."""
    cfg = dict(pretrained_cfg) if isinstance(pretrained_cfg, dict) else {}
    cfg.update(overlay or {})
    source = checkpoint_path or cfg.get("file") or cfg.get("state_dict")
    if source:
        return source
    from .model_folder import find_cached_weights
    arch = name.split(".", 1)[0]
    found, looked = find_cached_weights(arch, twin_names("timm").get(arch))
    if found is None:
        raise FileNotFoundError(
            f"create_model({name!r}, pretrained=True): no local weights (convzoo downloads nothing); looked in "
            f"{'; '.join(looked)}. Give a file with pretrained_cfg_overlay=dict(file=...), or fill the cache on "
            f"a connected machine (python -c \"import timm; timm.create_model('{name}', pretrained=True)\") "
            f"and copy it here")
    return found


def _open_source(spec: str) -> tuple[str, Any]:
    """``local-dir:DIR`` / ``hf-hub:ORG/NAME`` -> (architecture, HubFolder)."""
    from .model_folder import hf_hub_folder, read_folder
    kind, _, where = spec.partition(":")
    folder = read_folder(where if kind == "local-dir" else hf_hub_folder(where), from_timm())
    if not is_model(folder.architecture):
        raise UnknownModelError(f"{spec}: its config.json names architecture {folder.architecture!r}, which "
                                f"convzoo does not have (convzoo.list_models() lists all)")
    return folder.architecture, folder


def _apply_folder_cfg(model: nn.Module, folder: Any) -> None:
    """A folder's preprocessing keys and label names become the model's default_cfg."""
    from .model_folder import PREPROCESS_KEYS
    cfg = getattr(model, "default_cfg", None)
    if not isinstance(cfg, dict):
        return
    pcfg = folder["pretrained_cfg"]
    for k in PREPROCESS_KEYS:
        if pcfg.get(k) is not None:
            cfg[k] = tuple(pcfg[k]) if isinstance(pcfg[k], list) else pcfg[k]
    labels = pcfg.get("label_names")
    if labels is not None and len(labels) == getattr(model, "num_classes", len(labels)):
        cfg["label_names"] = list(labels)


def _folder_for(name: str, path) -> Any:
    from .model_folder import read_folder
    folder = read_folder(path, from_timm())
    if folder.architecture != name.split(".", 1)[0]:
        raise ValueError(f"{path} holds {folder.architecture!r} (its config.json), not {name!r}: build "
                         f"create_model('local-dir:{path}') or the model it names")
    return folder


def _feature_options(feature_cls: Optional[str], out_indices, feature_cfg: Optional[dict]):
    cfg = dict(feature_cfg or {})
    feature_cls = cfg.pop("feature_cls", feature_cls)
    out_indices = cfg.pop("out_indices", out_indices)
    cfg.pop("flatten_sequential", None)   # our taps are stage outputs either way
    if cfg.pop("output_fmt", "NCHW") not in ("NCHW", "NCL", "NCTHW"):
        raise ValueError("features_only maps come channels-first; use forward_intermediates("
                         "output_fmt=...) for another layout")
    if cfg:
        raise ValueError(f"feature_cfg keys {sorted(cfg)} are not supported (supported: feature_cls, "
                         "out_indices, flatten_sequential, output_fmt)")
    if feature_cls is not None and str(feature_cls).lower() not in FEATURE_CLASSES:
        raise ValueError(f"feature_cls must be one of {FEATURE_CLASSES}, got {feature_cls!r}")
    return (str(feature_cls).lower() if feature_cls else "getter"), out_indices


_NONE_MEANS_DEFAULT = frozenset({"drop_rate", "drop_path_rate", "drop_block_rate", "global_pool", "bn_momentum",
                                 "bn_eps", "scriptable", "exportable", "no_jit", "pretrained_cfg",
                                 "pretrained_cfg_overlay", "checkpoint_path", "cache_dir", "out_indices",
                                 "feature_cfg", "feature_cls", "output_stride"})


def create_model(name: str, pretrained: bool = False, pretrained_cfg: Any = None,
                 pretrained_cfg_overlay: Optional[dict] = None, checkpoint_path: str = "", *,
                 num_classes: Optional[int] = None, in_chans: Optional[int] = None,
                 drop_rate: Optional[float] = None, drop_path_rate: Optional[float] = None,
                 global_pool: Optional[str] = None, features_only: bool = False,
                 feature_cls: Optional[str] = None, out_indices=None,
                 feature_cfg: Optional[dict] = None, **kwargs) -> nn.Module:
    """Build a registered model (timm's ``create_model`` arguments).

    ``num_classes`` and ``in_chans`` default to the model's own (1000 classes and 3 channels for the
    ImageNet families, 1 channel for waveform nets, ...). ``drop_rate`` is the dropout before the
    classifier, ``drop_path_rate`` the final stochastic-depth rate; a family without the option
    raises a ValueError naming it. ``global_pool=""`` leaves the head unpooled (``"avg"``: default).
    ``pretrained=True`` loads a local file, ``pretrained_cfg_overlay=dict(file=...)`` or
    ``checkpoint_path``, through :func:`convzoo.weights.load_weights` (layout detected); nothing is
    downloaded. ``features_only=True`` returns a :class:`~convzoo.models.base.FeatureExtractor`
    giving the maps at ``out_indices`` (an int n: the last n levels) of ``feature_info``;
    ``feature_cls`` ``"getter"``/``"hook"``/``"fx"``/``"list"`` give a list, ``"dict"`` a dict by
    module name; ``"fx"`` is a traced graph (:class:`~convzoo.models._feature_graph.FeatureGraphNet`)
    that ``torch.jit.script`` compiles. timm's factory arguments given as None (``drop_rate``,
    ``drop_path_rate``, ...) are dropped, as timm does.
    """
    folder = None
    # a classifier of another width is dropped only when the caller asked for another width (timm's
    # rule); with the checkpoint's own width implied, a head that does not fit is an error, not a
    # randomly initialised classifier that predicts nonsense
    new_head = num_classes is not None
    if name.startswith(("local-dir:", "hf-hub:")):   # timm's folder sources: weights come with them
        name, folder = _open_source(name)
        if num_classes is None:
            num_classes = int(folder["pretrained_cfg"].get("num_classes") or 0) or None
        kwargs = {**folder.get("model_args", {}), **kwargs}
        pretrained, checkpoint_path = True, str(folder.weights)
    fn = model_entrypoint(name)
    # timm's call sites pass these as None to mean "the model's default"; any other None is a value
    # (e.g. norm=None: no normalisation)
    kwargs = {k: v for k, v in kwargs.items() if v is not None or k not in _NONE_MEANS_DEFAULT}
    for key in ("scriptable", "exportable", "no_jit"):   # timm's layer-config flags: nothing to set
        kwargs.pop(key, None)
    for key, value in (("num_classes", num_classes), ("in_chans", in_chans),
                       ("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if value is not None:
            kwargs[key] = value
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 0):
        raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
    if in_chans is not None and (not isinstance(in_chans, int) or in_chans < 1):
        raise ValueError(f"in_chans must be a positive int, got {in_chans!r}")
    source = _pretrained_file(name, pretrained_cfg, pretrained_cfg_overlay, checkpoint_path) \
        if pretrained or checkpoint_path else None
    if features_only:
        feature_cls, out_indices = _feature_options(feature_cls, out_indices, feature_cfg)
    elif feature_cls is not None or out_indices is not None or feature_cfg is not None:
        raise ValueError("feature_cls, out_indices and feature_cfg need features_only=True")
    model = fn(**kwargs)
    if global_pool is not None:
        if not hasattr(model, "set_global_pool"):
            raise ValueError(f"{name} has no global_pool option")
        model.set_global_pool(global_pool)  # type: ignore[operator]
    if folder is None and isinstance(source, (str, Path)) and Path(source).is_dir():
        folder = _folder_for(name, source)   # a folder given as the file: its architecture must match
        source = str(folder.weights)
    if source is not None:
        from .weights import load_weights
        load_weights(model, source, allow_new_head=new_head)
    if folder is not None:
        _apply_folder_cfg(model, folder)
    if features_only and feature_cls == "fx":      # a traced graph: TorchScript compiles it
        from .models._feature_graph import FeatureGraphNet
        model = FeatureGraphNet(model, out_indices)  # type: ignore[arg-type]
    elif features_only:
        from .models.base import FeatureExtractor
        model = FeatureExtractor(model, out_indices, as_dict=feature_cls == "dict")  # type: ignore[arg-type]
    return model
