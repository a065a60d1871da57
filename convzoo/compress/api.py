"""``compress(model, method, ...)``: a trained network made cheaper by the lecture's splits, and
``apply_spec``: the same architecture rebuilt on a fresh model so saved weights load into it.

    model --walk--> convs (+ why the others stay dense) --ranks from one target--> factors
          --build--> copy with factorised modules (--engine: slower layers put back) -> (model, report)
"""
from __future__ import annotations

import copy
from typing import Optional, Sequence

import torch
from torch import nn

from . import channel, cp, dwsep, latency, ranks, report, separable_dw, spatial, tucker2, walk
from ._conv import stage_macs
from .method import Method, rank_tuple

METHODS: dict[str, Method] = {m.METHOD.name: m.METHOD for m in (spatial, channel, tucker2, cp, dwsep, separable_dw)}
MAX_ENGINE_ROUNDS = 3


def get_method(method) -> Method:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return METHODS[method]


def _example(model: nn.Module, example_input) -> torch.Tensor:
    if example_input is not None:
        if not isinstance(example_input, torch.Tensor):
            raise TypeError(f"example_input must be a tensor (N, C, *S), got {type(example_input).__name__}")
        return example_input[:1]
    cfg = getattr(model, "default_cfg", None) or getattr(model, "pretrained_cfg", None) or {}
    if "input_size" not in cfg:
        raise ValueError(f"{type(model).__name__} has no default_cfg input_size: pass example_input=")
    p = next(model.parameters(), None)
    return torch.zeros(1, *cfg["input_size"], device=p.device if p is not None else "cpu")


def _candidates(model, m: Method, layers, x) -> tuple[list, list]:
    """Layers the method can factor (with spectra and costs) and dense rows for the others."""
    convs = walk.select(model, layers)
    sizes = walk.spatial_sizes(model, x, [n for n, _ in convs])
    cands, dense = [], []
    for name, conv in convs:
        reason = walk.generic_skip(conv, m.name) or m.skip(conv)
        if reason is None and name not in sizes:
            reason = "not run on the example input"
        if reason:
            dense.append(report.dense_row(name, m.name, reason))
            continue
        walk.check_finite(name, conv)
        w = conv.weight.detach().double().cpu().numpy()
        in_sp, out_sp = sizes[name]
        cands.append({"name": name, "conv": conv, "w": w, "full": m.full_rank(w.shape), "spectra": m.spectra(w),
                      "in_sp": in_sp,
                      "dense_macs": stage_macs(conv.in_channels, conv.out_channels, conv.groups,
                                               conv.kernel_size, out_sp),
                      "cost": lambda r, c=conv, i=in_sp, o=out_sp: m.macs(c, r, i, o)})
    return cands, dense


def _plan(cands: list, m: Method, target: str, value, energy: Optional[float]) -> tuple[dict, list]:
    """name -> rank for the layers to factor; dense rows for those a speed-up target leaves alone."""
    plan, dense = {}, []
    for L in cands:
        r = ranks.chosen_rank(L, target, value, energy)
        if target == "speedup" and L["cost"](r) >= L["dense_macs"]:
            dense.append(report.dense_row(L["name"], m.name, f"factorized form at rank {r} costs as many MACs "
                                                             "or more"))
            continue
        plan[L["name"]] = r
    return plan, dense


def _build(model: nn.Module, cands: list, plan: dict, m: Method) -> tuple[nn.Module, list, dict]:
    new = copy.deepcopy(model)
    rows, modules = [], {}
    for L in cands:
        if L["name"] not in plan:
            continue
        r, conv = plan[L["name"]], L["conv"]
        f = m.factor(L["w"], r)
        mod = m.build(conv, f).to(device=conv.weight.device, dtype=conv.weight.dtype)
        mod.train(conv.training)
        walk.replace(new, L["name"], mod)
        modules[L["name"]] = mod
        err = report.relative_error(L["w"], m.reconstruct(f))
        rows.append(report.factored_row(L["name"], m.name, r, L["full"], err, L["dense_macs"], L["cost"](r)))
    return new, rows, modules


def _time_layers(cands, rows, modules, new, engine) -> list:
    """Per-layer dense vs factorised times; a factorised layer that is not faster is put back dense."""
    by_name = {L["name"]: L for L in cands}
    table, kept = [], []
    for row in rows:
        L = by_name[row["name"]]
        x = torch.randn(1, L["conv"].in_channels, *L["in_sp"], device=L["conv"].weight.device)
        ms = latency.compare_ms({"dense": L["conv"], "factorized": modules[row["name"]]}, x, engine)
        s = ms["dense"] / ms["factorized"]
        table.append({"name": row["name"], "dense_ms": ms["dense"], "factorized_ms": ms["factorized"], "speedup": s})
        row.update(measured_speedup=s, dense_ms=ms["dense"], factorized_ms=ms["factorized"])
        if s <= 1.0:
            walk.replace(new, row["name"], copy.deepcopy(L["conv"]))
            kept.append(report.dense_row(row["name"], row["method"], f"not faster on {engine}: measured "
                                                                      f"{s:.2f}x at rank {row['rank']}"))
        else:
            kept.append(row)
    return table, kept


def compress(model: nn.Module, method: str, *, rank: Optional[int] = None, energy: Optional[float] = None,
             speedup: Optional[float] = None, example_input: Optional[torch.Tensor] = None,
             engine: Optional[str] = None, layers: Optional[Sequence[str]] = None) -> tuple[nn.Module, dict]:
    """Replace the convs of ``model`` by their ``method`` factorisation; return ``(new_model, report)``.

    One target: ``rank`` (global, capped per layer), ``energy`` in (0, 1] (1.0 keeps every factor) or
    ``speedup`` > 1 (over MACs; over latency measured on ``engine`` when given). ``model`` is left
    untouched. See docs/compress.md.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"compress expects an nn.Module, got {type(model).__name__}")
    m = get_method(method)
    target = ranks.check_target(rank, energy, speedup)
    latency.check_engine(engine)
    value = {"rank": rank, "energy": energy, "speedup": speedup}[target]
    x = _example(model, example_input)
    cands, dense = _candidates(model, m, layers, x)
    if target == "rank":
        if not cands:
            raise ValueError(f"method {method!r} can factor none of the model's convs: {dense[0]['reason']}")
        ranks.check_rank_range(rank, [L["full"] for L in cands])
    before = report.cost(model, x)
    mac_goal = speedup
    for round_ in range(MAX_ENGINE_ROUNDS if (engine and target == "speedup") else 1):
        e = ranks.energy_for_speedup(cands, before[0], mac_goal, method) if target == "speedup" else None
        plan, skipped = _plan(cands, m, target, value, e)
        new, rows, modules = _build(model, cands, plan, m)
        timing, lat = None, None
        if engine:
            timing, rows = _time_layers(cands, rows, modules, new, engine)
            ms = latency.compare_ms({"before": model, "after": new}, x, engine)
            lat = {"engine": engine, "latency_ms_before": ms["before"], "latency_ms_after": ms["after"],
                   "timing": timing}
            got = ms["before"] / ms["after"]
            if target != "speedup" or got >= speedup:
                break
            lat["note"] = f"measured {got:.2f}x < target {speedup:g}x after round {round_ + 1}"
            try:
                ranks.energy_for_speedup(cands, before[0], mac_goal * speedup / got, method)
            except ValueError:
                break
            mac_goal *= speedup / got
    spec = {"method": m.name, "layers": {r["name"]: r["rank"] for r in rows if r["status"] == "factorized"}}
    tgt = {target: value, **({"energy": e} if e is not None else {})}
    return new, report.summary(m.name, tgt, before, report.cost(new, x), rows + skipped + dense, spec, lat)


def apply_spec(model: nn.Module, spec: dict) -> nn.Module:
    """Rebuild the factorised architecture ``spec`` (``report["spec"]``) on ``model`` in place, so the
    compressed run's weights load; the factors are placeholders (the weights file holds the real ones)."""
    if not isinstance(spec, dict) or "method" not in spec or not isinstance(spec.get("layers"), dict):
        raise ValueError(f"a compression spec is {{'method': M, 'layers': {{name: rank}}}}, got {spec!r}")
    m = get_method(spec["method"])
    mods = dict(model.named_modules())
    for name, r in spec["layers"].items():
        conv = mods.get(name)
        if conv is None or walk.generic_skip(conv, m.name) or m.skip(conv):
            raise ValueError(f"compression spec names layer {name!r}, which is not a conv {m.name} can factor "
                             "in this model")
        r = tuple(r) if isinstance(r, list) else int(r)
        w = torch.randn_like(conv.weight, dtype=torch.float64, device="cpu").numpy()
        f = m.factor(w, r, iters=1) if m.name == "cp" else m.factor(w, r)
        walk.replace(model, name, m.build(conv, f).to(device=conv.weight.device, dtype=conv.weight.dtype))
    return model


__all__ = ["compress", "apply_spec", "METHODS", "rank_tuple"]
