"""One ``run_search`` worker on a tiny space, for the multi-worker tests (run as a subprocess).

    python tests/_search_worker.py OUT STORAGE TRIALS [HANG_MARKER]

Prints the summary as JSON on its last stdout line. With HANG_MARKER, the first trial this worker
trains writes its trial number there and then hangs (the test kills the worker with SIGKILL).
"""
import json
import sys
import time
from pathlib import Path

import torch

from convzoo.scaling.budget import Budget
from convzoo.search import study as S
from convzoo.search.space import SearchSpace, StageChoices

SPACE = SearchSpace(stages=(StageChoices(stride=2, widths=(8, 12), layers=(1,)),
                            StageChoices(stride=2, widths=(16, 24), layers=(1, 2))),
                    stem_channels=8, head_channels=32, resolution=24)
BUDGET = Budget("test", minutes=10, train_size=24, test_size=24, epochs=1, batch_size=12, trials=6)


def main(argv):
    torch.set_num_threads(1)
    out, storage, trials = argv[0], argv[1], int(argv[2])
    if len(argv) > 3:
        marker, real = Path(argv[3]), S._Trials.measure

        def hang(self, trial, params):
            if not self.trained:
                self.trained.append(trial.number)
                marker.write_text(str(trial.number))
                time.sleep(600)
            return real(self, trial, params)
        S._Trials.measure = hang
    trained = []
    real_measure = S._Trials.measure

    def counting(self, trial, params):
        trained.append(trial.number)
        return real_measure(self, trial, params)
    S._Trials.measure = counting
    res = S.run_search(out, BUDGET, space=SPACE, trials=trials, progress=False, sampler="random",
                       storage=None if storage == "-" else storage, latency_runs=1, heartbeat_s=1,
                       grace_s=3, poll_s=0.2, log=lambda s: None)
    summary = {k: res.get(k) for k in ("trials", "best", "pareto")}
    print(json.dumps(dict(summary=summary, trained=trained)))


if __name__ == "__main__":
    main(sys.argv[1:])
