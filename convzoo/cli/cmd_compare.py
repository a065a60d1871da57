"""``convzoo compare``: the convolution variants side by side, with error bars (what ``make run`` runs)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "train nets that differ only in their convolution, several seeds each, and compare accuracy and cost"

EPILOG = """Trains standard conv, spatially separable, depthwise separable, MBConv, Fused-MBConv and
ConvNeXt-block nets of equal depth and width on cluttered_digits (scikit-learn's digit scans shifted
on a 16x16 canvas among fragments of other digits, with noise; no download; here 1 fragment and noise
0.1 unless --clutter/--noise say otherwise; --train-size new training images every epoch, none seen
twice, unless --fixed-train-set), 4 seeds each and 12 for the standard conv, spatially separable and
ConvNeXt, whose claims sit near their thresholds (--budget default), plus the variants whose
MACs differ from the standard conv's by over 10% rebuilt at matched widths. Prints and writes the
table (compare.md/.csv/.json; mean test accuracy with its 95% t-interval, a paired t-test vs the
standard conv over the shared seeds with Holm's correction, params, MACs, batch-1 latency median and
IQR, training time) and compare.png to the run folder. Training runs in --workers processes of
--threads threads; the same seeds give the same accuracies whatever the worker count on one machine.
Another CPU takes another floating-point path and prints other last digits: the verdicts, not the
digits, are what carries across machines (docs/cli.md says why).

One recipe for every block: AdamW (ConvNeXt's optimizer family), weight decay 0.05, one warmup epoch,
batch 32, the same images and seeds (data order and initialisation stream), channels-last; 3e-3,
then a constant-rate tail at 3e-4 over the last ~40% of the epochs (10 epochs: epochs 7-10),
evaluated one epoch into the tail and at the end. A row whose gap to the standard conv moved between
those two evaluations (at the same learning rate) by more than the spread of its per-seed differences
and 1 point is still moving: marked † and kept out of the headline, which only compares rows within
1.25x of the standard conv's MACs. Each accuracy claim is tested on the per-seed differences from the
standard conv, one-sided bounds at Holm's levels (0.05/4, 0.05/3, ... in order of evidence) against a
2-point margin ("at least as accurate": lower bound above -2; "less accurate": upper bound below 0),
and must reach the same verdict at the tail's first evaluation. Verdicts: holds / does not hold at
this budget / not decided: the interval spans the margin / not decided: the verdict changed over the
tail / not decided: Holm stopped at a claim before it; latency claims: not significant when the IQRs
overlap. --budget quick is a preview (3 seeds x 6 epochs) that decides fewer claims.

examples:
  convzoo compare
  convzoo compare --budget quick          # a preview, about a third of the default's time
  convzoo compare --budget full           # 12 seeds every row: narrower intervals, 1.7x the time
  convzoo compare --seeds 5 --epochs 20 --variants conv,dwsep,mbconv --out runs/cmp
  convzoo compare --match params          # matched-cost rows at the standard conv's params"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    from convzoo.compare.setup import BUDGETS, CLUTTER, DATASETS, FRESH, NOISE
    from convzoo.variant_table import DEFAULT_VARIANTS, VARIANTS
    p = subparsers.add_parser("compare", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (default: the first six)")
    p.add_argument("--dataset", choices=DATASETS, default="cluttered_digits")
    budgets = "; ".join(f"{k}: {v['seeds']} seeds x {v['epochs']} epochs"
                        + "".join(f", {n} for {r}" for r, n in v.get("more_seeds", {}).items())
                        for k, v in BUDGETS.items())
    p.add_argument("--budget", choices=tuple(BUDGETS), default="default",
                   help=f"the work ({budgets}); quick is a preview that decides fewer claims")
    p.add_argument("--seeds", type=t("seeds"), default=None,
                   help="seeds per row, every row alike: --seed, --seed+1, ... (default: the budget's)")
    p.add_argument("--seed", type=t("seed"), default=0, help="first seed (default 0)")
    p.add_argument("--epochs", type=t("epochs"), default=None, help="epochs per run (default: the budget's)")
    p.add_argument("--schedule", choices=("tail", "cosine"), default="tail",
                   help="tail (default): 3e-3, then a constant 3e-4 over the last ~40%% of the epochs, "
                        "evaluated twice in it; cosine: the recipe before 2026-12-07")
    p.add_argument("--match", choices=("macs", "params", "none"), default="macs",
                   help="matched-cost rows: widen/narrow each variant to the standard conv's MACs or params")
    p.add_argument("--train-size", type=t("train_size"), default=1200,
                   help="training images per epoch (cluttered_digits; default 1200, new ones every epoch "
                        "unless --fixed-train-set)")
    p.add_argument("--fixed-train-set", action="store_true", default=not FRESH,
                   help="train on the same --train-size images every epoch (the task before 2026-12-07, on "
                        "which every block memorises them) instead of new ones each epoch")
    p.add_argument("--test-size", type=t("test_size"), default=2000,
                   help="test images (cluttered_digits; default 2000)")
    p.add_argument("--clutter", type=t("clutter"), default=CLUTTER,
                   help=f"fragments of other digits per image (cluttered_digits; default {CLUTTER})")
    p.add_argument("--noise", type=t("noise"), default=NOISE,
                   help=f"Gaussian noise sd on a 0-1 image (cluttered_digits; default {NOISE})")
    p.add_argument("--image-size", type=t("image_size"), default=None,
                   help="resize inputs to this side (default: the data's)")
    p.add_argument("--lr", type=t("lr"), default=3e-3)
    p.add_argument("--batch-size", type=t("batch_size"), default=32)
    p.add_argument("--workers", type=t("compare_workers"), default=min(2, os.cpu_count() or 1),
                   help="training processes (default: 2, or 1 on a 1-core machine)")
    p.add_argument("--threads", type=t("threads"), default=1,
                   help="torch CPU threads per process, training and latency")
    p.add_argument("--out", help="run folder (default: a new folder under runs/)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    import time

    from convzoo.cli import CLIError
    from convzoo.compare import default_config, run_compare, to_markdown
    from convzoo.variant_table import VARIANTS
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not variants:
        raise CLIError(f"--variants expects a comma-separated subset of {','.join(VARIANTS)}, got "
                       f"{args.variants!r}")
    from convzoo.cli._common import default_out
    out = Path(args.out) if args.out else default_out("compare")
    if out.exists() and any(out.iterdir()):
        raise CLIError(f"{out} already holds files; choose another --out")
    from convzoo.compare import BUDGETS
    budget = BUDGETS[args.budget]
    seeds, epochs = args.seeds or budget["seeds"], args.epochs or budget["epochs"]
    # --seeds gives every row the same seeds; the budget's rows that need more get them only by default
    more = None if args.seeds else budget.get("more_seeds")
    cfg = default_config(epochs=epochs, image_size=args.image_size, lr=args.lr, batch_size=args.batch_size,
                         schedule=args.schedule)
    sizes = (dict(train_size=args.train_size, test_size=args.test_size,
                  data_options=dict(clutter=args.clutter, noise=args.noise, fresh=not args.fixed_train_set))
             if args.dataset != "digits" else {})
    t0 = time.perf_counter()
    if args.budget == "quick":
        print(f"compare --budget quick: a preview ({seeds} seeds x {epochs} epochs): wider intervals, fewer "
              f"claims decided; --budget default or full for the study", file=sys.stderr)
    result = run_compare(out, variants=variants, cfg=cfg, seeds=range(args.seed, args.seed + seeds),
                         match=None if args.match == "none" else args.match, dataset=args.dataset,
                         workers=args.workers, threads=args.threads, progress=not args.no_progress,
                         budget=args.budget, more_seeds=more, **sizes)
    print(to_markdown(result))
    print(f"\n{len(result['runs'])} training runs in {time.perf_counter() - t0:.0f} s; table, plot and runs in "
          f"{out}/ (compare.md, compare.csv, compare.json, compare.png, runs/)")
    return 0
