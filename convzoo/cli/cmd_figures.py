"""``convzoo figures``: draw the ten figures of the documentation from convzoo's own computations."""
from __future__ import annotations

import argparse
import json
import sys

HELP = "draw the ten explanatory figures (PNG and SVG), each computed by convzoo"

EPILOG = """figures:
  1 separable filters         4 EfficientNet scaling       7 transposed conv
  2 conv variants and costs   5 ConvNeXt vs bottleneck     8 1D conv on raw audio (trains M5)
  3 inverted residual         6 dilation, receptive field  9 2D vs 3D on video (trains two nets)

examples:
  convzoo figures figs/
  convzoo figures figs/ --only 1,6 --format png
  convzoo figures figs/ --only 8 --audio-run runs/waveform_m5-spoken_digits-...
  convzoo figures figs/ --only 4 --scaling-run runs/scale-small

A figure whose external program is missing (figure 8 synthesises speech with espeak-ng) is skipped
with a one-line note when all figures are drawn; named in --only, it is an error (exit code 2)."""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    p = subparsers.add_parser("figures", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder for the figure files (created if missing)")
    p.add_argument("--only", metavar="LIST", help="figures to draw, e.g. 1,6 or 2-4 (default: all ten)")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg, pdf (default: png,svg)")
    p.add_argument("--fast", action="store_true",
                   help="train figures 8 and 9 for a few seconds only (for smoke tests)")
    p.add_argument("--scaling-run", metavar="DIR", help="figure 4: a `convzoo scale --out` folder")
    p.add_argument("--audio-run", metavar="DIR", help="figure 8: a `convzoo train` run of waveform_m5")
    p.add_argument("--video-runs", metavar="DIR",
                   help="figure 9: a folder holding runs named frame2d_small/ and c3d_small/")
    p.add_argument("--seed", type=t("seed"), default=0)
    p.add_argument("--threads", type=t("threads"), default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print the written files and timings as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from convzoo.figures import make_figures, parse_selection
    from convzoo.figures._common import check_formats

    numbers = parse_selection(args.only)                  # ValueError -> one-line error
    run_dirs = {n: d for n, d in ((4, args.scaling_run), (8, args.audio_run), (9, args.video_runs)) if d}
    if args.only and set(run_dirs) - set(numbers):
        raise ValueError(f"a run folder was given for figure(s) {sorted(set(run_dirs) - set(numbers))}, "
                         f"but --only selects {numbers}")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    formats = check_formats([f.strip() for f in args.format.split(",") if f.strip()])
    # drawing all: skip (and name) a figure whose program is missing; asked for by --only: fail
    skipped: list[tuple[int, str]] = []
    results = make_figures(args.out_dir, numbers, formats=formats, progress=not args.no_progress,
                           run_dirs=run_dirs, fast=args.fast, seed=args.seed,
                           skipped=None if args.only else skipped)
    if args.json:
        print(json.dumps([{"figure": r.number, "title": r.title, "files": [str(p) for p in r.paths],
                           "seconds": round(r.seconds, 2)} for r in results]
                         + [{"figure": n, "skipped": reason} for n, reason in skipped], indent=1))
    else:
        for r in results:
            print(f"fig {r.number} ({r.seconds:5.1f} s)  " + "  ".join(str(p) for p in r.paths))
        print(f"wrote {sum(len(r.paths) for r in results)} files to {args.out_dir}", file=sys.stderr)
    for n, reason in skipped:
        print(f"fig {n} skipped: {reason}", file=sys.stderr)
    return 0
