"""How files decided together are logged: one summary line per batch at info, each file's own line at debug."""

from __future__ import annotations

import logging
import os


def file_line_level(files: int) -> int:
    """A file decided on its own says so in a line at info. Files decided together (a walk's finds, a batch of
    small files hashed or imported) each get their line at debug, and the batch one summary line at info: a first
    index of thousands of files would otherwise write thousands of lines, and format them on the event loop."""
    return logging.INFO if files == 1 else logging.DEBUG


def batch_fields(paths: list[str]) -> dict[str, str]:
    """Where a batch's files are, for its summary line: the folder that holds them all, and the first of them (which
    also keeps two batches of as many files from reading as one line repeated)."""
    return {"path": os.path.commonpath(paths) if paths else "", "first": paths[0] if paths else ""}
