"""Where a study lives: an SQLAlchemy URL checked before any work, opened with Optuna's heartbeat.

Optuna's RDB storage (SQLite, PostgreSQL, MySQL: any URL SQLAlchemy takes) lets several worker
processes, on one machine or many, share one study: each asks the storage for the next trial, so
no trial is trained twice. SQLite is the embedded default (``OUT/study.db``); Optuna does not
recommend it across machines (file locking over network file systems), PostgreSQL is the tested
server (``postgresql://`` goes to the psycopg 3 driver under SQLAlchemy 2).

:func:`check_storage` parses the URL, connects and looks at the tables, so a typo, a server that
is down, an unwritable or garbage SQLite file, or a database that belongs to another tool is one
line before the ~30 s reference measurement. :func:`open_storage` turns on the heartbeat: a worker
killed mid-trial stops beating, and the next worker that looks (any start, or a waiting worker)
marks its trial FAIL and re-queues the same parameters as a WAITING trial (Optuna's retry callback).

A once-per-study job (the reference measurement) is claimed through the database's unique study
names (:func:`claim`): exactly one worker wins the ``create_study`` race, the others wait for the
result in the study's ``user_attrs``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from .._extras import require

# tables an Optuna RDB storage creates (optuna/storages/_rdb/models.py); any one of them means "ours"
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info", "alembic_version", "study_directions",
                           "trial_params", "trial_values", "study_user_attributes"})


class StorageError(ValueError):
    """A storage URL or database that cannot hold a study (exit code 2)."""


class StorageUnreachable(RuntimeError):
    """The database server did not answer (exit code 1: a runtime fault, not bad input)."""


def optuna_module():
    """Optuna, or one line naming the ``search`` extra."""
    return require("optuna", "search", "convzoo search / convzoo scale --storage")


def default_url(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def _shown(url) -> str:
    return url.render_as_string(hide_password=True)


def check_storage(url: str) -> None:
    """Parse, connect, and refuse a database that holds another tool's tables; one-line errors."""
    sa = require("sqlalchemy", "search", "the study storage")
    from sqlalchemy import exc
    try:
        u = sa.engine.make_url(url)
    except (exc.ArgumentError, ValueError):
        raise StorageError(f"--storage must be an SQLAlchemy URL such as sqlite:///study.db or "
                           f"postgresql://user:password@host:5432/db, got {url!r}") from None
    kind = u.get_backend_name()
    if kind == "sqlite":
        _check_sqlite_path(u.database)
    connect_args = {"connect_timeout": 5} if kind in ("postgresql", "mysql") else {}
    try:
        engine = sa.create_engine(u, connect_args=connect_args)
    except exc.NoSuchModuleError:
        raise StorageError(f"--storage: unknown database kind {u.drivername!r} in {_shown(u)} "
                           "(expected sqlite, postgresql or mysql)") from None
    except ImportError as e:
        raise StorageError(f"--storage {kind}: the database driver is not installed ({e}); "
                           "pip install 'convzoo[search]' (psycopg 3 for postgresql://)") from None
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
    except exc.OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
        if kind == "sqlite":
            raise StorageError(f"--storage {_shown(u)}: cannot open the SQLite file ({reason})") from None
        raise StorageUnreachable(f"--storage {_shown(u)}: cannot connect to the server ({reason})") from None
    except exc.DatabaseError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
        raise StorageError(f"--storage {_shown(u)} is not a usable database ({reason})") from None
    finally:
        engine.dispose()
    if tables and not tables & OPTUNA_TABLES:
        names = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        raise StorageError(f"--storage {_shown(u)} holds tables of another tool ({names}), not an "
                           "Optuna study: use an empty database or one made by convzoo/Optuna")
    if tables and "version_info" not in tables:
        raise StorageError(f"--storage {_shown(u)} holds some Optuna-like tables but no version_info: "
                           "not a complete Optuna storage")


def _check_sqlite_path(database: Optional[str]) -> None:
    if not database or database == ":memory:":
        raise StorageError("--storage sqlite needs a file (sqlite:///path/study.db); an in-memory "
                           "database cannot be shared or resumed")
    path = Path(database)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise StorageError(f"--storage: folder {parent} of the SQLite file does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StorageError(f"--storage: {path} is not writable (SQLite needs to write the file and "
                           "its journal next to it)")
    if path.exists() and not path.is_file():
        raise StorageError(f"--storage: {path} is not a regular file")
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise StorageError(f"--storage: {path} is not an SQLite database (a garbage or "
                                   "foreign file; move it away or pick another --out)")


def open_storage(url: str, heartbeat_interval: int = 10, grace_period: Optional[int] = None):
    """An Optuna RDBStorage with the heartbeat on and stale trials re-queued (same params, once)."""
    optuna = optuna_module()
    import warnings
    storages = optuna.storages
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    kw: dict[str, Any] = dict(heartbeat_interval=int(heartbeat_interval),
                              grace_period=int(grace_period or 3 * heartbeat_interval))
    engine_kwargs = {"pool_pre_ping": True} if not url.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # the heartbeat arguments are marked experimental
        if retry is not None:        # Optuna >= 4.9 renamed the callback and its argument
            kw["heartbeat_stale_trial_callback"] = retry(max_retry=3)
        else:
            kw["failed_trial_callback"] = storages.RetryFailedTrialCallback(max_retry=3)
        return _create_racing(lambda: storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kw))


def _create_racing(make, attempts: int = 8):
    """Optuna creates its tables with CREATE TABLE/TYPE, which two workers starting together on an
    empty PostgreSQL database can race on (a unique violation for the loser): the loser retries
    and then finds the tables made."""
    from sqlalchemy import exc
    for i in range(attempts):
        try:
            return make()
        except (exc.IntegrityError, exc.ProgrammingError):
            if i == attempts - 1:
                raise
            time.sleep(0.2 * (i + 1))


def fail_stale(study) -> None:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna_module().storages.fail_stale_trials(study)


def claim(storage, name: str) -> bool:
    """True for exactly one caller per ``name``: the database's unique study names decide."""
    optuna = optuna_module()
    try:
        optuna.create_study(study_name=name, storage=storage)
        return True
    except optuna.exceptions.DuplicatedStudyError:
        return False


def once_per_study(study, key: str, compute: Callable[[], Any], *, wait_s: float = 600.0,
                   poll_s: float = 0.5) -> Any:
    """``study.user_attrs[key]``, computed by the one worker that claims it; the others wait for it.

    If the claiming worker dies before storing the value, a waiter computes it after ``wait_s``.
    """
    attrs = study.user_attrs
    if key in attrs:
        return attrs[key]
    if claim(study._storage, f"{study.study_name}:{key}"):
        value = compute()
        study.set_user_attr(key, value)
        return value
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        attrs = study._storage.get_study_user_attrs(study._study_id)
        if key in attrs:
            return attrs[key]
    value = compute()
    study.set_user_attr(key, value)
    return value
