"""``convzoo scale``: EfficientNet's scaling study (depth, width, resolution, compound) on ``shapes``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..ranges import Range
from ..scaling.budget import CUT_SHORT
from ._common import default_out, flag_type as t, study_errors

_minutes = Range(float, 0, None, lo_open=True).argtype()


HELP = "train width-, depth-, resolution- and compound-scaled nets; table + plot"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scale", help=HELP,
        description="Grow a small EfficientNet-style net by 2**phi MACs in depth, width, resolution "
                    "and all three (EfficientNet Fig. 3 / Table 3), then grid-search alpha, beta, gamma "
                    "at phi=1. Writes results.{json,csv,md}, grid.md and scaling.png to --out; "
                    "rerun the same command to resume. With --storage URL, every worker started "
                    "with it takes runs of the same grid (one run per trial).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=None,
                   help="run folder (created; reused to resume; default runs/scale-<time>)")
    p.add_argument("--budget", default="small",
                   help="the work: tiny (5 nets x 6 epochs, ~3 min idle) | small (7 nets, ~8 min) | medium | "
                        "large; a busy machine takes longer and trains the same nets. A number N of minutes: "
                        "the largest preset that fits, with --time-limit N")
    p.add_argument("--time-limit", type=_minutes, default=None, metavar="MINUTES",
                   help="opt-in: start no run that would end after MINUTES; the runs cut are listed and the "
                        f"exit code is {CUT_SHORT} (rerun to continue). Default: none, every planned run trains")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="SQLAlchemy URL of a study shared by several workers, e.g. "
                        "postgresql://user:pw@host/db (default: this process runs the whole grid)")
    p.add_argument("--heartbeat", type=t("heartbeat"), default=10, metavar="S",
                   help="with --storage: seconds between heartbeats; a run silent for 3 is re-queued")
    p.add_argument("--lr", type=t("lr"), default=3e-3, help="AdamW learning rate of every run")
    p.add_argument("--seed", type=t("seed"), default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from ..scaling.budget import parse_budget
    from ..scaling.study import run_study
    out = Path(args.out) if args.out else default_out("scale")
    with study_errors():
        budget = parse_budget(args.budget)
        if args.time_limit is not None:
            budget = budget.with_limit(args.time_limit)
        results = run_study(out, budget, progress=not args.no_progress, lr=args.lr, seed=args.seed,
                            storage=args.storage, heartbeat_s=args.heartbeat)
    print((out / "results.md").read_text())
    print((out / "grid.md").read_text())
    print(f"wrote {out / 'results.json'}, results.csv, results.md, grid.md, scaling.png")
    if results["skipped"]:
        limit = results.get("time_limit")
        print(f"convzoo scale: the time limit{f' of {limit:g} min' if limit else ''} cut the study short: "
              f"{len(results['skipped'])} of {len(results['skipped']) + len(results['runs'])} runs not "
              f"trained ({', '.join(results['skipped'])}); rerun the same command to continue", file=sys.stderr)
        return CUT_SHORT
    return 0
