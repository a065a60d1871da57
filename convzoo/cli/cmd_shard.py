"""``convzoo shard``: write a dataset as WebDataset tar shards for ``--dataset webdataset``.

  convzoo shard --dataset imagefolder --data-root photos/ --out shards/ --per-shard 1000
  convzoo train --dataset webdataset --data-root 'shards/train-{000000..000009}.tar' ...
"""
from __future__ import annotations

from pathlib import Path

from . import CLIError
from ._common import flag_type as t


HELP = "write a dataset (an image folder or a built-in one) as tar shards"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "shard", help=HELP,
        description="Write the train and test splits of a dataset as WebDataset tar shards "
                    "OUT/<split>-000000.tar ... plus OUT/<split>.json (sample counts, classes, "
                    "shape). Images exact to 1/255 are stored as PNG, other samples as .npy, so "
                    "the shards give back the source's samples exactly. Train on them with "
                    "--dataset webdataset --data-root 'OUT/train-{000000..N}.tar'.")
    p.add_argument("--dataset", required=True, help="source dataset (convzoo list-datasets names; "
                                                     "imagefolder for your own folder)")
    p.add_argument("--data-root", default=None, help="the source dataset's folder, where it needs one")
    p.add_argument("--data-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="source dataset option (repeatable), e.g. size=64")
    p.add_argument("--out", required=True, help="folder for the shards (created)")
    p.add_argument("--per-shard", type=t("per_shard"), default=1000, help="samples per shard (default 1000)")
    p.add_argument("--splits", default="train,test", help="splits to write (default train,test)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .._extras import MissingExtraError
    from ..data.webdataset import write_shards
    from ..runs import build_data, parse_kv
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = [s for s in splits if s not in ("train", "test", "val")]
    if not splits or bad:
        raise CLIError(f"--splits must be a comma list of train, test, val; got {args.splits!r}")
    if args.dataset == "webdataset":
        raise CLIError("--dataset webdataset is already sharded; pick the source dataset")
    out = Path(args.out)
    if any(next(out.glob(f"{s}-*.tar"), None) for s in splits):
        raise CLIError(f"{out} already holds shards of {', '.join(splits)}; choose another --out")
    try:
        sets = build_data(args.dataset, args.data_root, parse_kv(args.data_arg, "--data-arg"), splits)
        for split, ds in zip(splits, sets):
            meta = write_shards(ds, out, split, args.per_shard)
            print(f"{split}: {meta['samples']} samples in {len(meta['shards'])} shards "
                  f"({out}/{split}-{{000000..{len(meta['shards']) - 1:06d}}}.tar)")
    except MissingExtraError as e:
        raise CLIError(str(e)) from None
    return 0
