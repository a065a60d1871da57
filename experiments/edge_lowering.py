"""The lowering table: does each family go to ExecuTorch (``.pte``, XNNPACK) and LiteRT (``.tflite``),
fp32 and int8, and does the file compute what eager PyTorch computes?

For every family module of the registry (``convzoo.registry.list_modules``), its first registered
model that is its own code's representative (no ``same_code``), built with random weights and random
BatchNorm statistics at its default input size (images above 224 px at 224, the segmenters at 256):

    model --to_executorch / to_litert (verify=False), batch 1-->  file (size, seconds)
          --the file in its runtime vs eager on 2 random inputs-->
             fp32: max |diff| / max |eager| (the export tests' bound is 1e-4)
             int8: calibrated on 16 random inputs; top-1 agreement with eager fp32 on 16 others
                   (random weights and inputs: agreement here says the graph runs, not that int8
                   keeps accuracy; docs/edge.md measures that on the real Lite0 file)

Each (model, format, precision) runs in its own process with a time limit, so a converter that
crashes or hangs is a row, not the end of the study.

    .venv/bin/python experiments/edge_lowering.py                   # every family, both formats, fp32 + int8
    .venv/bin/python experiments/edge_lowering.py --precisions fp32 --formats pte
    .venv/bin/python experiments/edge_lowering.py --summary-only    # the table from the rows on disk

writes ``experiments/results/edge_lowering.jsonl`` (one row per try, appended) and prints the table
(docs/edge.md). Needs the ``edge`` extra (ExecuTorch) and the ``litert`` extra (LiteRT).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = RESULTS / "edge_lowering.jsonl"
MAX_SIDE, SEG_SIDE = 224, 256


def family_models() -> dict[str, str]:
    """{family module: its first registered model that is its own code's representative}."""
    import convzoo
    from convzoo.registry import get_pretrained_cfg, list_modules
    out = {}
    for module in list_modules():
        names = [n for n in convzoo.list_models(module=module, task=None)
                 if "same_code" not in get_pretrained_cfg(n) and n != "searched"]
        if names:
            out[module] = names[0]
    return out


def _input_size(model) -> tuple:
    size = tuple(model.default_cfg["input_size"])
    if getattr(model, "task", "") == "segmentation":
        return (size[0], SEG_SIDE, SEG_SIDE)
    if len(size) == 3 and size[-1] > MAX_SIDE:
        return (size[0], MAX_SIDE, MAX_SIDE)
    return size


def one(name: str, fmt: str, precision: str) -> dict:
    """Lower ``name`` to ``fmt`` at ``precision`` and check it; the row."""
    import torch

    import convzoo
    from convzoo.export import (load_pte, load_tflite, relative_error, to_executorch, to_litert)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = convzoo.create_model(name).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    if getattr(model, "task", "") == "segmentation":
        model = model.logits_only()
    size = _input_size(model)
    to_file, load = (to_executorch, load_pte) if fmt == "pte" else (to_litert, load_tflite)
    calib = [torch.randn(1, *size) for _ in range(16)] if precision == "int8" else None
    row = dict(model=name, format=fmt, precision=precision, input_size=list(size))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"m.{'pte' if fmt == 'pte' else 'tflite'}"
        t0 = time.perf_counter()
        to_file(model, path, input_size=size, precision=precision, calibration_data=calib, verify=False)
        row.update(seconds=round(time.perf_counter() - t0, 1), mb=round(path.stat().st_size / 1e6, 2))
        runner = load(path)
        with torch.inference_mode():
            if precision == "fp32":
                x = torch.randn(2, *size)
                row["rel_err"] = float(f"{relative_error(runner(x).float(), model(x).float()):.2e}")
            else:
                x = torch.randn(16, *size)
                got, ref = runner(x).float(), model(x).float()
                if ref.dim() > 2:                    # a segmenter: per-pixel top-1
                    got, ref = got.movedim(1, -1).flatten(0, -2), ref.movedim(1, -1).flatten(0, -2)
                row["agreement"] = round(float((got.argmax(1) == ref.argmax(1)).float().mean()), 3)
    return row


def _run(family: str, name: str, fmt: str, precision: str, limit: int) -> dict:
    """``one`` in a child process with a time limit; a crash or a timeout is a row saying so."""
    cmd = [sys.executable, __file__, "--one", name, fmt, precision]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        return dict(family=family, model=name, format=fmt, precision=precision, ok=False,
                    error=f"no result after {limit} s", seconds=round(time.perf_counter() - t0, 1))
    last = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode == 0 and last:
        return dict(family=family, ok=True, **json.loads(last[-1]))
    err = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    why = next((ln for ln in reversed(err) if "Error" in ln or "error" in ln), err[-1] if err else
               f"exit code {res.returncode}")
    return dict(family=family, model=name, format=fmt, precision=precision, ok=False, error=why.strip()[:300],
                seconds=round(time.perf_counter() - t0, 1))


def table(rows: list[dict]) -> str:
    """Markdown: one line per family, one cell per format x precision (the last try of each)."""
    cols = [(f, p) for f in ("pte", "tflite") for p in ("fp32", "int8")]
    last = {(r["family"], r["format"], r["precision"]): r for r in rows}
    fams = sorted({r["family"]: r["model"] for r in rows}.items())
    head = "| family | model | " + " | ".join(f"`.{f}` {p}" for f, p in cols) + " |"
    out = [head, "|" + "---|" * (2 + len(cols))]
    for fam, model in fams:
        cells = []
        for f, p in cols:
            r = last.get((fam, f, p))
            if r is None:
                cells.append("")
            elif not r["ok"]:
                cells.append(f"fails: {r['error'][:90]}")
            elif p == "fp32":
                cells.append(f"{r['rel_err']:.0e}, {r['mb']} MB, {r['seconds']:.0f} s")
            else:
                cells.append(f"runs ({100 * r['agreement']:.0f} %), {r['mb']} MB, {r['seconds']:.0f} s")
        out.append(f"| {fam} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", help="family modules (default: every one)")
    p.add_argument("--formats", nargs="+", default=["pte", "tflite"], choices=["pte", "tflite"])
    p.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"])
    p.add_argument("--limit", type=int, default=600, help="seconds per try (default 600)")
    p.add_argument("--summary-only", action="store_true")
    p.add_argument("--one", nargs=3, metavar=("MODEL", "FORMAT", "PRECISION"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)), flush=True)
        return
    if not args.summary_only:
        fams = family_models()
        for fam in args.families or sorted(fams):
            for fmt in args.formats:
                for prec in args.precisions:
                    row = _run(fam, fams[fam], fmt, prec, args.limit)
                    print(json.dumps(row), flush=True)
                    RESULTS.mkdir(exist_ok=True)
                    with ROWS.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    rows = [json.loads(ln) for ln in ROWS.read_text().splitlines()] if ROWS.exists() else []
    print(table(rows))


if __name__ == "__main__":
    main()
