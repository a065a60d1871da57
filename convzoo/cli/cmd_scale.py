"""``convzoo scale``: EfficientNet's scaling study (depth, width, resolution, compound) on ``shapes``."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scale", help="train width-, depth-, resolution- and compound-scaled nets; table + plot",
        description="Grow a small EfficientNet-style net by 2**phi MACs in depth, width, resolution "
                    "and all three (EfficientNet Fig. 3 / Table 3), then grid-search alpha, beta, gamma "
                    "at phi=1. Writes results.{json,csv,md}, grid.md and scaling.png to --out; "
                    "rerun the same command to resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="run folder (created; reused to resume)")
    p.add_argument("--budget", default="small",
                   help="small | medium | large | a number of minutes (bounds the time)")
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate of every run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..scaling.study import run_study
    if not args.lr > 0:
        raise CLIError(f"--lr must be > 0, got {args.lr}")
    results = run_study(args.out, args.budget, progress=not args.no_progress, lr=args.lr, seed=args.seed)
    out = Path(args.out)
    print((out / "results.md").read_text())
    print((out / "grid.md").read_text())
    print(f"wrote {out / 'results.json'}, results.csv, results.md, grid.md, scaling.png")
    if results["skipped"]:
        print(f"time limit reached; {len(results['skipped'])} runs not done: rerun to continue")
    return 0
