"""`hikaze-mm db migrate | copy`: making a shared PostgreSQL database ready, and moving a library into it."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from hikaze_mm.config.settings import ConfigError, Settings, add_flags, database_url

ACTIONS = {
    "migrate": "create the schema of the shared PostgreSQL database in `database_url`, or upgrade it",
    "copy": "copy a whole library from one database to another (e.g. this machine's SQLite file into PostgreSQL)",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    text = "the shared PostgreSQL database: create or upgrade its schema, copy a library into it"
    db = sub.add_parser("db", help=text, description=text)
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    parsers = {name: actions.add_parser(name, help=help_, description=help_) for name, help_ in ACTIONS.items()}
    for parser in parsers.values():
        add_flags(parser)
    parsers["copy"].add_argument("--from", dest="source", required=True, metavar="URL",
                                 help="the library to copy: sqlite:///FILE (its daemon stopped), or a shared "
                                      "postgresql://USER@HOST/DB to copy as this host sees it")
    parsers["copy"].add_argument("--to", dest="target", required=True, metavar="URL",
                                 help="where to: postgresql://USER@HOST/DB, migrated and holding no library yet; or "
                                      "sqlite:///FILE, a file that does not exist yet")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "migrate":
        return asyncio.run(_migrate(settings))
    return asyncio.run(_copy(database_url(args.source), database_url(args.target), settings))


async def _migrate(settings: Settings) -> int:
    from hikaze_mm.store.postgres.database import migrate

    url = settings.postgres_url
    if url is None:
        raise ConfigError("`db migrate` is for a shared PostgreSQL database: set `database_url` "
                          "(--database-url postgresql://USER@HOST/DB); a SQLite file is upgraded by the daemon itself")
    before, after = await migrate(url)
    if before == after:
        print(f"the schema is up to date (version {after})")
    elif before == 0:
        print(f"created the schema (version {after})")
    else:
        print(f"upgraded the schema from version {before} to {after}")
    return 0


async def _copy(source: str | None, target: str | None, settings: Settings) -> int:
    from hikaze_mm.store.copy_back import copy_to_sqlite
    from hikaze_mm.store.transfer import POSTGRES, SQLITE, CopyRefused, copy_library

    source, target = source or "", target or ""
    back = source.startswith(POSTGRES) and target.startswith(SQLITE)
    try:
        if back:
            counts = await copy_to_sqlite(source, Path(target[len(SQLITE):]), settings.host_id)
        else:
            counts = await copy_library(source, target, settings.host_id)
    except CopyRefused as e:
        print(f"hikaze-mm: {e}", file=sys.stderr)
        return 1
    print("copied " + ", ".join(f"{n} {what}" for what, n in counts.items()) + f" (files as host {settings.host_id})")
    # The images' files are not rows: without this line the copied library would show none of them. A SQLite
    # library keeps them beside its file unless its images_dir said otherwise; a shared one in its images_dir.
    here, there = ((settings.image_folder, Path(target[len(SQLITE):]).parent / "images") if back else
                   (Path(source[len(SQLITE):]).parent / "images", settings.image_folder))
    if counts["images"] + counts["pending_images"] and here.resolve() != there.resolve():
        print(f"the images' files are not in the database: copy them from {here} (unless the copied library's "
              f"images_dir said otherwise) to {there} (rsync -a {shlex.quote(f'{here}/')} "
              f"{shlex.quote(f'{there}/')}), or the new library shows none of them")
    return 0
