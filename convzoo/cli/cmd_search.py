"""``convzoo search``: MnasNet / EfficientNetV2-style architecture search with Optuna, resumable.

Several workers share one study through ``--storage`` (PostgreSQL, or the SQLite file of one
``--out`` on one machine); ``--trials`` is the study's total.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..ranges import Range
from ..scaling.budget import CUT_SHORT
from ._common import default_out, flag_type as t, study_errors

_minutes = Range(float, 0, None, lo_open=True).argtype()


HELP = "architecture search over MBConv/Fused-MBConv stages; Pareto front + best spec"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search", help=HELP,
        description="Optuna search over a per-stage space of MBConv and Fused-MBConv (kernel 3/5, "
                    "expansion 1/4/6, layers, SE, width), rewarded by ACC*(COST/T)^w (MnasNet) or "
                    "by accuracy, training step time and size (EfficientNetV2). The study lives in "
                    "OUT/study.db (or --storage URL): rerun the same command to resume, or start "
                    "the same command on more machines to share the work. Writes pareto.{json,md,png}, "
                    "trials.csv and best_spec.json (train it: convzoo train --model searched "
                    "--model-arg spec=OUT/best_spec.json --dataset shapes --data-arg resolution=64).",
    )
    p.add_argument("--out", default=None,
                   help="run folder (created; reused to resume; default runs/search-<time>)")
    p.add_argument("--budget", default="small",
                   help="the work: tiny (4 trials x 3 epochs, ~2 min idle) | small (default: 8 trials x 4 epochs) "
                        "| medium | large; a busy machine takes longer and runs the same trials. A number N of "
                        "minutes: the largest preset that fits, with --time-limit N")
    p.add_argument("--time-limit", type=_minutes, default=None, metavar="MINUTES",
                   help="opt-in: start no trial that would end after MINUTES; says how many were cut and exits "
                        f"{CUT_SHORT} (rerun to continue). Default: none, every trial runs")
    p.add_argument("--cost", choices=("macs", "latency"), default="macs",
                   help="COST(m) of the reward: MACs (default), or batch-1 latency measured here")
    p.add_argument("--mode", choices=("mnasnet", "v2"), default="mnasnet",
                   help="mnasnet (default): ACC*(COST/T)^w; v2: ACC*S^-0.07*P^-0.05 (training step "
                        "time S, params P)")
    p.add_argument("--constraint", choices=("soft", "hard"), default="soft",
                   help="soft (default): w=-0.07 on both sides of T; hard: w=0 below T, -1 above")
    p.add_argument("--target", type=t("target"), default=None,
                   help="T, in MACs or ms (default: the cost of the scaling study's base net)")
    p.add_argument("--objective", choices=("reward", "pareto"), default="reward",
                   help="reward (default): maximise the reward; pareto: multi-objective (accuracy, cost)")
    p.add_argument("--trials", type=t("trials"), default=None,
                   help="the study's total number of trials, over all workers (default: from --budget)")
    p.add_argument("--epochs", type=t("epochs"), default=None, help="training epochs per trial (default: budget)")
    p.add_argument("--train-size", type=t("train_size"), default=None, help="training images (default: budget)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="SQLAlchemy URL of the study, shared by every worker, e.g. "
                        "postgresql://user:pw@host:5432/db (default: sqlite OUT/study.db)")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe",
                   help="tpe (default) or random; trial n is drawn from (seed, n), so with random "
                        "the study is the same for any number of workers")
    p.add_argument("--heartbeat", type=t("heartbeat"), default=10, metavar="S",
                   help="seconds between a worker's heartbeats; a trial silent for 3 beats is "
                        "marked failed and re-queued (default 10)")
    p.add_argument("--seed", type=t("seed"), default=0, help="sampler and training seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..scaling.budget import parse_budget
    from ..search.study import run_search
    out = Path(args.out) if args.out else default_out("search")
    with study_errors():
        budget = parse_budget(args.budget)
        if args.train_size:
            budget = replace(budget, train_size=args.train_size)
        if args.time_limit is not None:
            budget = budget.with_limit(args.time_limit)
        result = run_search(out, budget, cost=args.cost, mode=args.mode, constraint=args.constraint,
                            target=args.target, objective=args.objective, trials=args.trials,
                            epochs=args.epochs, seed=args.seed, progress=not args.no_progress,
                            storage=args.storage, sampler=args.sampler, heartbeat_s=args.heartbeat)
    cut = result.get("stopped") == "time"
    if not result.get("best"):
        print("no trial finished yet; rerun to continue")
        return _cut_note(result) if cut else 1
    print((out / "pareto.md").read_text())
    b = result["best"]
    print(f"best: trial {b['trial']}  top-1 {100 * b['accuracy']:.1f} %  MACs {b['macs'] / 1e6:.2f}M  "
          f"reward {b['reward']:.4f}")
    print(f"{result['trials']} trials complete in the study")
    print(f"wrote {out / 'best_spec.json'} (create_model('searched', spec=...)), pareto.png, trials.csv")
    return _cut_note(result) if cut else 0


def _cut_note(result: dict) -> int:
    """Say what the time limit cut (on stderr) and return the exit code of a study cut short."""
    import sys
    limit, done = result.get("time_limit"), result.get("trials", 0)
    print(f"convzoo search: the time limit{f' of {limit:g} min' if limit else ''} cut the study short: "
          f"{done} of {result.get('requested', '?')} trials finished; rerun the same command to continue",
          file=sys.stderr)
    return CUT_SHORT
