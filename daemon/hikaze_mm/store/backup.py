"""Consistent copies of the database: dated backups (before each migration, on request) and restoring one."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from hikaze_mm.store.sqlite.checks import SIDE_FILES, DatabaseDamaged, inspect_database, read_only

log = logging.getLogger(__name__)
BACKUP_DIR = "backups"
KEEP_MIGRATION_BACKUPS = 3


def backup_dir(db: Path) -> Path:
    return db.parent / BACKUP_DIR


def _stamp() -> str:
    # Microseconds keep names apart and let names sort in time order.
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def copy_database(db: Path, dest: Path) -> Path:
    """VACUUM INTO through a read-only connection: a consistent copy with everything committed, also what only
    the `-wal` holds, while a daemon keeps writing. A copy cut short is never left under the final name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; choose another file")
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    try:
        with read_only(db) as conn:
            conn.execute("VACUUM INTO ?", (str(part),))
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def backup_before_migration(db: Path, version: int) -> Path:
    dest = copy_database(db, backup_dir(db) / f"{db.stem}.{_stamp()}.v{version}.sqlite3")
    log.info("database %s is at schema %d: backed up to %s before migrating", db, version, dest)
    _prune(db)
    return dest


def _prune(db: Path) -> None:
    """Only the backups migrations made, and only beyond the newest three; nothing else in the folder."""
    made = re.compile(rf"{re.escape(db.stem)}\.\d{{8}}T\d{{12}}Z\.v\d+\.sqlite3")
    ours = sorted(p for p in backup_dir(db).iterdir() if made.fullmatch(p.name))
    for old in ours[:-KEEP_MIGRATION_BACKUPS]:
        old.unlink()
        log.info("removed old migration backup %s", old)


def backup_now(db: Path, to: Path | None = None) -> Path:
    if not db.exists():
        raise FileNotFoundError(f"there is no database at {db} to back up")
    try:
        return copy_database(db, to or backup_dir(db) / f"{db.stem}.{_stamp()}.sqlite3")
    except sqlite3.DatabaseError as e:
        raise DatabaseDamaged(f"database {db} cannot be copied ({e}); it was left untouched") from None


def check_restorable(source: Path) -> int:
    """The schema version of `source` if it is a sound hikaze-mm database this version can open."""
    if not source.is_file():
        raise FileNotFoundError(f"{source} is not a file")
    version = inspect_database(source, restore_hint=False)
    with read_only(source) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version < 1 or not {"models", "pending_import"} <= tables:
        raise DatabaseDamaged(f"{source} is not a hikaze-mm database (no library tables); nothing was changed")
    return version


def restore(db: Path, source: Path) -> tuple[Path | None, int]:
    """Replace `db` by a copy of `source`; the caller holds the daemon lock. Returns the backup of what `db` held
    (None when there was no database) and the restored schema version."""
    version = check_restorable(source)
    saved = _save_current(db) if db.exists() else None
    staged = db.with_name(f".{db.name}.restore-{os.getpid()}")
    staged.unlink(missing_ok=True)
    try:
        copy_database(source, staged)
        # The old database's journals would be replayed onto the new file; the backup above already holds
        # what they committed. They go first, so a crash in between leaves the old file, not a mixed one.
        for side in SIDE_FILES:
            Path(f"{db}{side}").unlink(missing_ok=True)
        os.replace(staged, db)
    finally:
        staged.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        fd = os.open(db.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return saved, version


def _save_current(db: Path) -> Path:
    """A damaged database cannot be vacuumed; its raw files are kept instead, for a recovery tool."""
    stamp = _stamp()
    try:
        return copy_database(db, backup_dir(db) / f"{db.stem}.{stamp}.pre-restore.sqlite3")
    except sqlite3.DatabaseError:
        dest = backup_dir(db) / f"{db.stem}.{stamp}.pre-restore.damaged.sqlite3"
        shutil.copy2(db, dest)
        for side in ("-wal", "-journal"):
            if Path(f"{db}{side}").exists():
                shutil.copy2(f"{db}{side}", f"{dest}{side}")
        return dest
