"""`hikaze-mm backup | restore | verify`: the user's tools for keeping the database and the library sound."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hikaze_mm.config.settings import Settings
from hikaze_mm.store.backup import backup_now, restore

COMMANDS = {
    "backup": "write a consistent copy of the database (also while the daemon runs)",
    "restore": "replace the database with a backup (the daemon must be stopped; the current one is backed up first)",
    "verify": "re-hash the library's files and report those whose content no longer matches the recorded hash",
}


def add_arguments(parsers: dict[str, argparse.ArgumentParser]) -> None:
    parsers["backup"].add_argument("--to", metavar="FILE", help="where to write it (default: <data_dir>/backups/)")
    parsers["restore"].add_argument("file", metavar="FILE", help="a backup written by `hikaze-mm backup`")
    parsers["restore"].add_argument("--yes", action="store_true", help="do not ask before replacing the database")
    parsers["verify"].add_argument("--changed-only", action="store_true",
                                   help="only files whose size or mtime differ from the recorded ones")


def run(args: argparse.Namespace, settings: Settings, lock: Callable[[Settings], Any]) -> int:
    """`lock` takes the daemon's lock on the data_dir: restore must not swap the file under a running daemon."""
    db = Path(settings.db_path)
    try:
        if settings.postgres_url is not None and args.command in ("backup", "restore"):
            print(f"hikaze-mm: the library is in PostgreSQL ({settings.postgres_url}); back it up with "
                  "`pg_dump --format=custom --file=FILE URL` and restore with `pg_restore --clean --dbname=URL "
                  "FILE` (the images in data_dir are each host's own)", file=sys.stderr)
            return 1
        if args.command == "backup":
            print(backup_now(db, Path(args.to).absolute() if args.to else None))
            return 0
        if args.command == "restore":
            with lock(settings):
                return _restore(db, Path(args.file).absolute(), args.yes)
        return _verify(settings, args.changed_only)
    except (FileNotFoundError, FileExistsError) as e:
        print(f"hikaze-mm: {e}", file=sys.stderr)
        return 1


def _restore(db: Path, source: Path, yes: bool) -> int:
    if not yes:
        if not sys.stdin.isatty():
            print(f"hikaze-mm: restore replaces {db}; add --yes to do it without a terminal to confirm on",
                  file=sys.stderr)
            return 1
        if input(f"Replace {db} with {source}? The current database is backed up first. [y/N] ").lower() != "y":
            print("nothing was changed")
            return 1
    saved, version = restore(db, source)
    if saved is not None:
        print(f"backed up the current database to {saved}")
    print(f"restored {source} (schema {version}) as {db}")
    return 0


def _verify(settings: Settings, changed_only: bool) -> int:
    from tqdm import tqdm

    from hikaze_mm.ops.verify import recorded_files, recorded_files_shared, rehash, to_check
    from hikaze_mm.pipeline.devices import Media, auto_workers

    setting = settings.hash_workers
    if settings.postgres_url is not None:
        files = asyncio.run(recorded_files_shared(settings.postgres_url, settings.host_id))
    elif not settings.db_path.exists():
        print(f"hikaze-mm: there is no database at {settings.db_path}", file=sys.stderr)
        return 1
    else:
        files = recorded_files(settings.db_path)
    todo, findings = to_check(files, changed_only)
    bar = tqdm(total=sum(size for _, size in todo), unit="B", unit_scale=True, unit_divisor=1024,
               desc=f"verifying {len(todo)} files", disable=None, file=sys.stderr)
    with contextlib.closing(bar):
        findings += rehash(todo, auto_workers() if setting == "auto" else int(setting), bar.update, Media())
    for f in sorted(findings, key=lambda f: f.path):
        print(f"{f.problem}: {f.path}: {f.detail}")
    print(f"checked {len(todo)} of {len(files)} files: {len(findings)} problem{'s' * (len(findings) != 1)}")
    return 1 if findings else 0
