"""``convzoo list``: registered models with params, MACs and default input size."""
from __future__ import annotations

import argparse
import json
import sys

HELP = "list registered models with their params, MACs and default input size"

EPILOG = """MACs are multiply-adds of one forward pass at the model's default input size, batch 1,
counted as the papers count them (convs and matmuls; not BN, activations, pooling or adds).
FLOPs = 2 x MACs. Models are built on the meta device, so no weights are allocated. Counts are
cached per version of the code (a change to any convzoo source file starts a new cache).

examples:
  convzoo list
  convzoo list --pattern "efficientnet_b*"
  convzoo list --modality audio --no-macs
  convzoo list --pattern "convnext_*" --json"""


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pattern", default="*", metavar="GLOB",
                   help='only models whose name matches this glob, e.g. "mobilenet*" (default: all)')
    p.add_argument("--modality", choices=["image", "audio", "video"], help="only this modality")
    p.add_argument("--no-macs", action="store_true",
                   help="skip the MAC count (a forward pass per model); params only, much faster")
    p.add_argument("--exact", action="store_true", help="print MACs as exact integers")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-cache", action="store_true",
                   help="recount every model instead of reading counts cached for this exact code "
                        "(cache: $CONVZOO_CACHE or ~/.cache/convzoo)")
    p.set_defaults(func=run)


def human(n: int) -> str:
    """300774272 -> '300.77 M'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def format_table(rows, exact: bool = False) -> str:
    head = ["Model", "Modality", "Input", "Params", "MACs"]
    body = []
    for r in rows:
        size = "x".join(map(str, r.input_size)) if r.input_size else "-"
        params = f"{r.params:,}" if r.params is not None else "-"
        macs = "-" if r.macs is None else (f"{r.macs:,}" if exact else human(r.macs))
        line = [r.name, r.modality, size, params, macs]
        if r.error:
            line.append(f"({r.error})")
        body.append(line)
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]

    def fmt(row):
        cells = [c.rjust(w) if i in (3, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells + row[len(widths):]).rstrip()

    return "\n".join([fmt(head), "-" * len(fmt(head)), *(fmt(b) for b in body)])


def run(args) -> int:
    from convzoo.suggest import did_you_mean

    from tqdm import tqdm

    import convzoo
    from convzoo.catalog import CostCache, model_cost
    from convzoo.cli import CLIError

    names = convzoo.list_models(args.pattern, modality=args.modality)
    if not names:
        every = convzoo.list_models(modality=args.modality)
        hint = did_you_mean(args.pattern, every, substrings=True)
        where = f" {args.modality}" if args.modality else ""
        raise CLIError(f"no{where} models match {args.pattern!r}{hint} ({len(every)} registered)")
    rows = []
    cache = CostCache() if not (args.no_macs or args.no_cache) else None
    bar = tqdm(names, desc="profiling" if not args.no_macs else "building", unit="model",
               file=sys.stderr, disable=args.no_progress or None, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        row = cache.get(name) if cache else None
        if row is None:
            row = model_cost(name, macs=not args.no_macs)
            if cache:
                cache.put(row)
        rows.append(row)
    bar.close()
    if cache:
        cache.save()
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print(format_table(rows, exact=args.exact))
        if not args.no_macs:
            print("MACs: multiply-adds at the default input size, batch 1 (FLOPs = 2 x MACs).")
    return 0


