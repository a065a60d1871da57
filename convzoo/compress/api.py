"""``compress(model, method, ...)``: a trained network made cheaper by the lecture's splits, and
``apply_spec``: the same architecture rebuilt on a fresh model so saved weights load into it.

    model --walk--> convs (+ why the others stay dense) --ranks from one target--> factors
          --build--> copy with factorised modules (--engine: slower layers put back) -> (model, report)

``speedup=S`` is measured: MAC ratios are searched with the engine's timings in the loop (a round
that measures short raises the MAC ratio by the shortfall), and a search that ends short raises
:class:`SpeedupNotReached` saying by how much and why. ``macs_ratio=S`` is the MAC target.
"""
from __future__ import annotations

import copy
import functools
import sys
import time
from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from . import channel, cp, dwsep, latency, ranks, report, separable_dw, spatial, tucker2, walk
from ._conv import stage_macs
from .errors import NothingToCompress, SpeedupNotReached, nothing_to_compress
from .method import Method, rank_tuple

METHODS: dict[str, Method] = {m.METHOD.name: m.METHOD for m in (spatial, channel, tucker2, cp, dwsep, separable_dw)}
MAX_ENGINE_ROUNDS = 4               # measured rounds of the speed-up search


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
        if target in ("macs_ratio", "speedup") and L["cost"](r) >= L["dense_macs"]:
            dense.append(report.dense_row(L["name"], m.name, f"factorized form at rank {r} costs as many MACs "
                                                             "or more"))
            continue
        plan[L["name"]] = r
    return plan, dense


def _build(model: nn.Module, cands: list, plan: dict, m: Method, say: Callable) -> tuple[nn.Module, list, dict]:
    """A copy of ``model`` with the planned convs factorised; one progress line per layer."""
    new = copy.deepcopy(model)
    rows, modules = [], {}
    todo = [L for L in cands if L["name"] in plan]
    for j, L in enumerate(todo, 1):
        r, conv, t0, info = plan[L["name"]], L["conv"], time.perf_counter(), {}
        f = m.factor(L["w"], r, info=info) if m.name == "cp" else m.factor(L["w"], r)
        mod = m.build(conv, f).to(device=conv.weight.device, dtype=conv.weight.dtype)
        mod.train(conv.training)
        walk.replace(new, L["name"], mod)
        modules[L["name"]] = mod
        err = report.relative_error(L["w"], m.reconstruct(f))
        rows.append(report.factored_row(L["name"], m.name, r, L["full"], err, L["dense_macs"], L["cost"](r)))
        rows[-1].update(info)
        als = f", {info['als_sweeps']} ALS sweeps" if info.get("als_sweeps") else ""
        say(f"[{j}/{len(todo)}] {L['name']} {tuple(L['w'].shape)}: {m.name} rank {r}, weight error {err:.3f}"
            f"{als}, {time.perf_counter() - t0:.1f} s")
    return new, rows, modules


def _time_layers(cands, rows, modules, new, engine: str, timer: Callable) -> tuple[list, list]:
    """Per-layer dense vs factorised times; a factorised layer that is not faster is put back dense."""
    by_name = {L["name"]: L for L in cands}
    table, kept = [], []
    for row in rows:
        L = by_name[row["name"]]
        x = torch.randn(1, L["conv"].in_channels, *L["in_sp"], device=L["conv"].weight.device)
        st = timer({"dense": L["conv"], "factorized": modules[row["name"]]}, x)
        ms = {k: st[k]["median_ms"] for k in ("dense", "factorized")}
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


def _progress(progress) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(f"compress: {line}", file=sys.stderr, flush=True)
    return lambda line: None


def _timers(timer: Optional[Callable], engine: Optional[str], threads: Optional[int]) -> tuple[Callable, Callable]:
    """(per-layer timer, whole-model timer): the injected one for both, or ONNX Runtime / eager with
    fewer calls per layer than for the whole model."""
    if timer is not None:
        return timer, timer
    return (functools.partial(latency.compare_stats, engine=engine, threads=threads, runs=24, rounds=4),
            functools.partial(latency.compare_stats, engine=engine, threads=threads))


def compress(model: nn.Module, method: str, *, rank: Optional[int] = None, energy: Optional[float] = None,
             macs_ratio: Optional[float] = None, speedup: Optional[float] = None,
             example_input: Optional[torch.Tensor] = None, engine: Optional[str] = None,
             layers: Optional[Sequence[str]] = None, threads: Optional[int] = latency.DEFAULT_THREADS,
             progress: Union[bool, Callable[[str], None]] = False,
             timer: Optional[Callable] = None) -> tuple[nn.Module, dict]:
    """Replace the convs of ``model`` by their ``method`` factorisation; return ``(new_model, report)``.

    One target: ``rank`` (global, capped per layer), ``energy`` in (0, 1] (1.0 keeps every factor),
    ``macs_ratio`` > 1 (the model's MACs fall by this factor) or ``speedup`` > 1 (measured latency at batch
    1 on ``engine``, default ONNX Runtime, ``threads`` intra-op threads; :class:`SpeedupNotReached` when the
    search ends short). With ``engine`` and another target, layers not faster than their dense conv are
    put back and the latency is reported. ``progress``: a line per layer on stderr (or to a callable).
    ``timer``: replaces the measurement (``latency.compare_stats``'s signature; tests inject one).
    ``model`` is left untouched. Raises :class:`NothingToCompress` when no conv is factorised.
    See docs/compress.md.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"compress expects an nn.Module, got {type(model).__name__}")
    m = get_method(method)
    target = ranks.check_target(rank, energy, macs_ratio, speedup)
    latency.check_engine(engine)
    value = {"rank": rank, "energy": energy, "macs_ratio": macs_ratio, "speedup": speedup}[target]
    x = _example(model, example_input)
    say = _progress(progress)
    t0 = time.perf_counter()
    cands, dense = _candidates(model, m, layers, x)
    if not cands:
        raise nothing_to_compress(m.name, dense)
    if target == "rank":
        ranks.check_rank_range(rank, [L["full"] for L in cands])
    if target in ("macs_ratio", "speedup"):
        _check_some_layer_saves(cands, m, dense)
    say(f"{m.name}: {len(cands)} convs it can factor, {len(dense)} left dense; spectra in "
        f"{time.perf_counter() - t0:.1f} s")
    before = report.cost(model, x)
    eng, note = latency.resolve_engine(engine) if (target == "speedup" or engine) else (None, None)
    timers = _timers(timer, eng, threads)
    if target == "speedup":
        return _measured_search(model, m, cands, dense, before, x, speedup, eng, note, threads, timers, say)
    e = ranks.energy_for_speedup(cands, before[0], macs_ratio, method) if target == "macs_ratio" else None
    plan, skipped = _plan(cands, m, target, value, e)
    if not plan:
        raise nothing_to_compress(m.name, skipped + dense)
    new, rows, modules = _build(model, cands, plan, m, say)
    lat = None
    if engine:
        timing, rows = _time_layers(cands, rows, modules, new, eng, timers[0])
        if not any(r["status"] == "factorized" for r in rows):
            raise nothing_to_compress(m.name, rows + skipped + dense)
        lat = report.latency_summary(timers[1]({"before": model, "after": new}, x), eng, threads, note, timing)
    spec = {"method": m.name, "layers": {r["name"]: r["rank"] for r in rows if r["status"] == "factorized"}}
    tgt = {target: value, **({"energy": e} if e is not None else {})}
    return new, report.summary(m.name, tgt, before, report.cost(new, x), rows + skipped + dense, spec, lat)


def _check_some_layer_saves(cands: list, m: Method, dense: list) -> None:
    """A MAC or speed target needs a layer whose factorised form at rank 1 costs fewer MACs than it."""
    rows = []
    for L in cands:
        c = L["cost"](ranks.rank_at(L["spectra"], 0.0, L["full"]))
        if c < L["dense_macs"]:
            return
        rows.append(report.dense_row(L["name"], m.name, f"factorized form at rank 1 costs as many MACs or more "
                                                        f"({c:,} vs {L['dense_macs']:,})"))
    raise nothing_to_compress(m.name, rows + dense)


def _one_round(model, m, cands, before, x, goal, eng, timers, say) -> dict:
    """Factorise at the MAC ratio ``goal``, put back the layers not faster on ``eng``, time the model."""
    e = ranks.energy_for_speedup(cands, before[0], goal, m.name)
    plan, skipped = _plan(cands, m, "macs_ratio", goal, e)
    new, rows, modules = _build(model, cands, plan, m, say)
    timing, rows = _time_layers(cands, rows, modules, new, eng, timers[0])
    stats = timers[1]({"before": model, "after": new}, x)
    after = report.cost(new, x)
    return {"model": new, "rows": rows + skipped, "timing": timing, "stats": stats, "energy": e, "after": after,
            "goal": goal, "macs_ratio": before[0] / max(after[0], 1),
            "measured": stats["before"]["median_ms"] / stats["after"]["median_ms"],
            "put_back": sum(1 for r in rows if r["status"] == "dense"), "tried": len(plan)}


def _measured_search(model, m, cands, dense, before, x, speedup, eng, note, threads, timers, say):
    """``speedup=S`` measured: MAC ratio S first; each round short of S raises the MAC ratio by the
    shortfall (at most the rank-1 bound, ``MAX_ENGINE_ROUNDS`` rounds); the best round is kept."""
    cap = ranks.max_macs_ratio(cands, before[0]) * (1 - 1e-9)
    goal, rounds, best = min(speedup, cap), [], None
    for i in range(MAX_ENGINE_ROUNDS):
        r = _one_round(model, m, cands, before, x, goal, eng, timers, say)
        rounds.append({k: r[k] for k in ("goal", "macs_ratio", "measured", "put_back", "tried")})
        say(f"round {i + 1}: {r['macs_ratio']:.2f}x fewer MACs -> measured {r['measured']:.2f}x on {eng} "
            f"(target {speedup:g}x)")
        if best is None or r["measured"] > best["measured"]:
            best = r
        if r["measured"] >= speedup or goal >= cap:
            break
        goal = min(goal * speedup / max(r["measured"], 1e-3), cap)
    factored = [row for row in best["rows"] if row["status"] == "factorized"]
    spec = {"method": m.name, "layers": {row["name"]: row["rank"] for row in factored}}
    lat = report.latency_summary(best["stats"], eng, threads, note, best["timing"])
    lat["latency"]["search"] = rounds
    tgt = {"speedup": speedup, "engine": eng, "energy": best["energy"], "macs_ratio": best["macs_ratio"]}
    rep = report.summary(m.name, tgt, before, best["after"], best["rows"] + dense, spec, lat)
    if best["measured"] < speedup:
        raise SpeedupNotReached(_shortfall(best, rounds, speedup, eng, threads, cap), rep, best["model"])
    return best["model"], rep


def _shortfall(best: dict, rounds: list, speedup: float, eng: str, threads, cap: float) -> str:
    """One line: what was measured, against what, and why it fell short."""
    b, a = best["stats"]["before"], best["stats"]["after"]
    why = []
    if best["put_back"]:
        why.append(f"{best['put_back']} of {best['tried']} factorised convs were not faster than their dense conv "
                   f"on {eng} (a layer type it runs poorly at these sizes) and were put back")
    if best["macs_ratio"] >= speedup:
        why.append(f"the MACs fell {best['macs_ratio']:.2f}x but the time only {best['measured']:.2f}x: the net is "
                   f"too small to speed up (per-op overhead: the dense net runs in {b['median_ms']:.3f} ms and "
                   "each factorised conv adds ops)")
    if rounds[-1]["goal"] >= cap:
        why.append(f"rank 1 in every layer cuts the MACs at most {cap:.2f}x")
    if not why:
        why.append(f"still short after {len(rounds)} rounds")
    return (f"speedup {speedup:g}x not reached: measured {best['measured']:.2f}x on {eng} (batch 1, {threads} "
            f"thread(s); dense {b['median_ms']:.3f} ms [IQR {b['q1_ms']:.3f}-{b['q3_ms']:.3f}], compressed "
            f"{a['median_ms']:.3f} ms [IQR {a['q1_ms']:.3f}-{a['q3_ms']:.3f}], interleaved) at "
            f"{best['macs_ratio']:.2f}x fewer MACs, the best of {len(rounds)} round(s): " + "; ".join(why)
            + "; nothing compressed (macs_ratio= targets MACs instead)")


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
        f = m.factor(w, r, iters=0) if m.name == "cp" else m.factor(w, r)
        walk.replace(model, name, m.build(conv, f).to(device=conv.weight.device, dtype=conv.weight.dtype))
    return model


__all__ = ["compress", "apply_spec", "METHODS", "NothingToCompress", "SpeedupNotReached", "rank_tuple"]
