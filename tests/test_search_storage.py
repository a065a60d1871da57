"""``convzoo search`` on shared storage: bad storage refused up front, and several workers on a real
PostgreSQL server (a throw-away cluster, see ``_postgres.py``) doing exactly the requested trials."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convzoo.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from _postgres import postgres  # noqa: E402,F401  (the fixture)

WORKER = str(Path(__file__).parent / "_search_worker.py")


def _cli(tmp_path, storage, capsys):
    t0 = time.monotonic()
    rc = main(["search", "--out", str(tmp_path / "s"), "--storage", storage, "--no-progress"])
    err = capsys.readouterr().err.strip()
    return rc, err, time.monotonic() - t0


@pytest.mark.parametrize("make_storage, expect, code", [
    (lambda p: "not a url", "must be an SQLAlchemy URL", 2),
    (lambda p: "nosuchdb://x/y", "unknown database kind", 2),
    (lambda p: f"sqlite:///{p}/missing/dir/study.db", "does not exist", 2),
    (lambda p: "postgresql://nobody@127.0.0.1:1/db", "cannot connect to the server", 1),
])
def test_bad_storage_urls_are_one_line_before_any_work(tmp_path, capsys, make_storage, expect, code):
    rc, err, took = _cli(tmp_path, make_storage(tmp_path), capsys)
    assert rc == code and expect in err and len(err.splitlines()) == 1, err
    assert took < 10 and not (tmp_path / "s" / "search.json").exists()


def test_bad_sqlite_files_are_refused(tmp_path, capsys):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    rc, err, _ = _cli(tmp_path, f"sqlite:///{garbage}", capsys)
    assert rc == 2 and "not an SQLite database" in err and len(err.splitlines()) == 1
    foreign = tmp_path / "other_tool.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
    rc, err, _ = _cli(tmp_path, f"sqlite:///{foreign}", capsys)
    assert rc == 2 and "tables of another tool (invoices)" in err
    with sqlite3.connect(foreign) as c:             # and it was left alone
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):               # root can write anyway
            rc, err, _ = _cli(tmp_path, f"sqlite:///{ro}/study.db", capsys)
            assert rc == 2 and "not writable" in err
    finally:
        ro.chmod(0o700)


def _start(tmp_path, name, storage, trials, hang=None):
    root = str(Path(__file__).resolve().parents[1])        # this checkout's convzoo, not an installed one
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    cmd = [sys.executable, WORKER, str(tmp_path / name), storage, str(trials)] + ([str(hang)] if hang else [])
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=240):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _complete(url):
    import optuna
    study = optuna.load_study(study_name="convzoo-search", storage=url)
    return study, [t for t in study.trials if t.state.name == "COMPLETE"]


def test_three_workers_share_one_postgres_study(tmp_path, postgres):  # noqa: F811
    url = postgres.new_database("three")
    results = [_finish(p) for p in [_start(tmp_path, f"w{i}", url, 6) for i in range(3)]]
    study, done = _complete(url)
    assert len(done) == 6                                          # the study's total, not 3 x 6
    trained = [n for r in results for n in r["trained"]]
    assert sorted(trained) == sorted(set(trained))                 # no trial trained twice
    assert {t.number for t in done} == set(trained)
    assert all(r["summary"] == results[0]["summary"] for r in results)   # every worker says the same
    assert "convzoo_targets" in study.user_attrs                   # measured once, in the study

    # the same seeds, one worker, SQLite: the same nets with the same accuracies
    one = _finish(_start(tmp_path, "single", "-", 6))
    _, alone = _complete(f"sqlite:///{tmp_path / 'single' / 'study.db'}")
    ours = {json.dumps(t.params, sort_keys=True): t.user_attrs["accuracy"] for t in done}
    theirs = {json.dumps(t.params, sort_keys=True): t.user_attrs["accuracy"] for t in alone}
    if len(study.trials) == 6:               # no worker lost a start-up race: trials 0-5 both ways
        assert ours == theirs
    common = ours.keys() & theirs.keys()
    assert len(common) >= 5 and all(ours[k] == theirs[k] for k in common)
    assert one["summary"]["trials"] == 6


def test_killed_worker_trial_is_requeued_and_run_once(tmp_path, postgres):  # noqa: F811
    url = postgres.new_database("killed")
    marker = tmp_path / "hung"
    victim = _start(tmp_path, "victim", url, 6, hang=marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline and victim.poll() is None, victim.stderr.read()[-2000:]
        time.sleep(0.2)
    others = [_start(tmp_path, f"w{i}", url, 6) for i in range(2)]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    hung = int(marker.read_text())
    results = [_finish(p) for p in others]
    study, done = _complete(url)
    assert len(done) == 6
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert [t.number for t in failed] == [hung]
    retried = [t for t in done if t.system_attrs.get("failed_trial") == hung]
    assert len(retried) == 1 and retried[0].params == failed[0].params   # re-run once, same net
    trained = [n for r in results for n in r["trained"]]
    assert sorted(trained) == sorted(set(trained)) and retried[0].number in trained
    assert results[0]["summary"] == results[1]["summary"]


SCALE_WORKER = """
import json, sys, torch
torch.set_num_threads(1)
from convzoo.scaling.budget import Budget
from convzoo.scaling.study import run_study
b = Budget("det", minutes=10, train_size=24, test_size=12, epochs=1, batch_size=12, phis=(1.0,),
           grid_points=0)
storage = None if sys.argv[2] == "-" else sys.argv[2]
res = run_study(sys.argv[1], b, progress=False, latency_runs=1, keep_train_folders=False,
                storage=storage, heartbeat_s=1, grace_s=3, poll_s=0.2, log=lambda s: None)
print(json.dumps(res["runs"]))
"""


def test_scale_grid_spread_over_two_workers(tmp_path, postgres):  # noqa: F811
    url = postgres.new_database("scale")
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=root)
    procs = [subprocess.Popen([sys.executable, "-c", SCALE_WORKER, str(tmp_path / f"w{i}"), url], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    runs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    assert runs[0] == runs[1] and len(runs[0]) == 5                 # both write the whole table
    trained = [sorted(d.name for d in (tmp_path / f"w{i}" / "runs").iterdir()) for i in range(2)]
    assert not set(trained[0]) & set(trained[1])                    # each run trained once
    assert sorted(trained[0] + trained[1]) == sorted(r["key"] for r in runs[0])


def test_postgres_with_another_tools_tables_is_refused(tmp_path, postgres, capsys):  # noqa: F811
    import psycopg
    url = postgres.new_database("foreign")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id integer, total numeric)")
    rc, err, took = _cli(tmp_path, url, capsys)
    assert rc == 2 and "tables of another tool (orders)" in err and len(err.splitlines()) == 1
    assert took < 10


def test_missing_optuna_names_the_extra(tmp_path, capsys, monkeypatch):
    import convzoo._extras as extras
    real = extras.importlib.import_module

    def no_optuna(name, *a, **k):
        if name.split(".")[0] in ("optuna", "sqlalchemy"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)
    monkeypatch.setattr(extras.importlib, "import_module", no_optuna)
    assert main(["search", "--out", str(tmp_path / "s"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'convzoo[search]'" in err and len(err.splitlines()) == 1
