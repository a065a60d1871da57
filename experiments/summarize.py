"""Print the results JSONs of experiments/ as Markdown tables (merging split runs of one experiment).

    .venv/bin/python experiments/summarize.py experiments/results/waveform_spoken_digits*.json
"""
from __future__ import annotations

import json
import sys


def main(paths: list[str]) -> int:
    runs = [json.load(open(p)) for p in paths]
    rows = [dict(r, command=run["command"]) for run in runs for r in run["rows"]]
    if not rows:
        print("no rows")
        return 1
    first = runs[0]
    print(f"{first['experiment']} on {first['dataset']}: {first['train_size']} train / "
          f"{first['test_size']} test; epochs {first['config']['epochs']}, batch "
          f"{first['config']['batch_size']}, lr {first['config']['lr']}\n")
    print("| Model | Test acc | Params | MACs | Latency (ms) | Wall time (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        macs = f"{r['macs'] / 1e6:.1f}M" if r.get("macs") else "-"
        print(f"| `{r['model']}` | {100 * r['accuracy']:.2f}% | {r['params']:,} | {macs} | "
              f"{r['latency_ms']:.2f} | {r['wall_time_s']} |")
    print()
    for c in dict.fromkeys(r["command"] for r in rows):
        print(f"    {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
