"""``convzoo compare``: the convolution variants side by side on real data (what ``make run`` runs)."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train nets that differ only in their convolution and compare accuracy, params, MACs, latency"

EPILOG = """Trains standard conv, spatially separable, depthwise separable, MBConv, Fused-MBConv and
ConvNeXt-block nets of equal depth and width on scikit-learn's handwritten digits (no download),
then prints and writes the table (compare.md/.csv/.json) and compare.png to the run folder.

examples:
  convzoo compare
  convzoo compare --epochs 10 --variants conv,dwsep,mbconv --out runs/cmp"""


def register(subparsers) -> None:
    from convzoo.cli._common import flag_type as t
    from convzoo.models.variants import VARIANTS
    p = subparsers.add_parser("compare", help=HELP, description=HELP + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--epochs", type=t("epochs"), default=5)
    p.add_argument("--image-size", type=t("image_size"), default=16,
                   help="digits are 8x8 scans, upsampled to this side")
    p.add_argument("--lr", type=t("lr"), default=3e-3)
    p.add_argument("--batch-size", type=t("batch_size"), default=64)
    p.add_argument("--seed", type=t("seed"), default=0)
    p.add_argument("--threads", type=t("threads"), default=1, help="torch CPU threads for training and latency")
    p.add_argument("--out", help="run folder (default: a new folder under runs/)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import time
    from convzoo.cli import CLIError
    from convzoo.compare import default_config, run_compare, to_markdown
    from convzoo.models.variants import VARIANTS
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not variants:
        raise CLIError(f"--variants expects a comma-separated subset of {','.join(VARIANTS)}, got "
                       f"{args.variants!r}")
    out = Path(args.out) if args.out else Path("runs") / time.strftime("compare-%Y%m%d-%H%M%S")
    if out.exists() and any(out.iterdir()):
        raise CLIError(f"{out} already holds files; choose another --out")
    cfg = default_config(epochs=args.epochs, seed=args.seed, image_size=args.image_size, lr=args.lr,
                         batch_size=args.batch_size)
    t0 = time.perf_counter()
    rows = run_compare(out, variants=variants, cfg=cfg, progress=not args.no_progress, threads=args.threads)
    print(to_markdown(rows))
    print(f"\n{len(rows)} variants in {time.perf_counter() - t0:.0f} s; table, plot and runs in {out}/ "
          f"(compare.md, compare.csv, compare.json, compare.png)")
    return 0
