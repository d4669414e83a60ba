"""Looking at a database file without writing to it: is it sound, and which schema is it at."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from hikaze_mm.store.errors import SchemaTooNew
from hikaze_mm.store.sqlite.migrations import SCHEMA_VERSION
from hikaze_mm.store.sqlite.text import from_db

SIDE_FILES = ("-wal", "-shm", "-journal")


class DatabaseDamaged(Exception):
    """The database file fails SQLite's checks; it is left as it is for the user to restore."""


@contextlib.contextmanager
def read_only(path: Path, *, tidy: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write. A read-only reader of a WAL database still creates `-wal` and `-shm` and
    cannot remove them on close; with `tidy` the ones it created go. Only a caller that holds the daemon lock may
    ask for that: a daemon that opened the file meanwhile would be using them."""
    before = {s for s in SIDE_FILES if os.path.exists(f"{path}{s}")}
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    conn.text_factory = from_db
    try:
        yield conn
    finally:
        conn.close()
        for side in set(SIDE_FILES) - before if tidy else ():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{side}")


def inspect_database(path: Path, *, restore_hint: bool = True, tidy: bool = False, check: bool = True) -> int:
    """The schema version of a sound database (0 for a missing or empty file). Raises DatabaseDamaged or
    SchemaTooNew with a one-line message naming the file and what to do. `tidy` as for `read_only`; without
    `check`, SQLite's check of every page (seconds for a database of gigabytes) is left out."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    todo = "restore a backup with `hikaze-mm restore FILE` (see backups/ in the data_dir)" if restore_hint else ""
    try:
        with read_only(path, tidy=tidy) as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")] if check else ["ok"]
    except sqlite3.OperationalError:
        raise  # locked or unreadable: not damage, and nothing was written
    except sqlite3.DatabaseError as e:
        raise DatabaseDamaged(_damaged(path, str(e), todo)) from None
    if problems != ["ok"]:
        raise DatabaseDamaged(_damaged(path, problems[0].splitlines()[-1], todo))
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database {path} has schema {version}, newer than this hikaze-mm ({SCHEMA_VERSION}); upgrade "
            f"hikaze-mm{' or ' + todo if todo else ''}; the file was left untouched"
        )
    return version


def _damaged(path: Path, detail: str, todo: str) -> str:
    return f"database {path} is damaged ({detail}); it was left untouched; {todo or 'use another file'}"


def closed_cleanly(path: Path) -> Path:
    """Where the store notes the state its database file was left in by a clean close (beside it, hidden)."""
    return path.with_name(f".{path.name}.closed")


def file_state(path: Path) -> list[int] | None:
    """What says the database file is as it was: its size, mtime, inode and device, while no journal of
    changes not yet in it lies beside it (None otherwise)."""
    if any(os.path.exists(f"{path}{side}") for side in ("-wal", "-journal")):
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]
