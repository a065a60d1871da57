"""A throw-away PostgreSQL cluster for tests: initdb in a temp dir, 127.0.0.1 on a free port.

Runs the server as an unprivileged user (``postgres`` when the tests run as root, as in CI).
Outside CI a missing server is a skip with the reason; with ``CI=true`` it is a failure, so the
PostgreSQL tests cannot silently stop running there.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is needed in CI: {reason}")
    pytest.skip(reason)


class Cluster:
    def __init__(self):
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not (initdb and pg_ctl):
            unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
        self.pg_ctl = pg_ctl
        self.dir = tempfile.mkdtemp(prefix="convzoo-pg-")
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:           # postgres refuses to run as root
            if shutil.which("runuser") is None:
                unavailable("running as root without runuser")
            try:
                import pwd
                pw = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and no 'postgres' user to run the server as")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.dir, "data")
        self._run([initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], "initdb")
        self._run([pg_ctl, "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-t", "30", "-o",
                   f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F", "start"], "pg_ctl start")
        self.data = data

    def _run(self, cmd: list[str], what: str) -> None:
        r = subprocess.run(self.prefix + cmd, capture_output=True, text=True, timeout=120)
        if r.returncode:
            self.cleanup()
            unavailable(f"{what} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url().replace("postgresql://", "postgresql://", 1),
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        if getattr(self, "data", None):
            subprocess.run(self.prefix + [self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
            self.data = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg (v3) is not installed (pip install 'convzoo[search]')")
    cluster = Cluster()
    t0 = time.monotonic()
    try:
        yield cluster
    finally:
        cluster.cleanup()
        del t0
