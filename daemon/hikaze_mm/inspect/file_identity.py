"""Whether two paths name one file. A file reached through a symlinked folder, a bind mount, `/proc/self/root` or
a hard link has several names but one identity (device and inode, or one resolved real path): under any of its
names it is the same file, never a duplicate of itself. Blocking; call it from a thread."""

from __future__ import annotations

import os
from collections.abc import Iterable


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    ia, ib = _identity(a), _identity(b)
    if ia is not None and ia == ib:
        return True
    # Also when a name cannot be stat-ed right now: one real path is one file, whatever the device says.
    return os.path.realpath(a) == os.path.realpath(b)


def same_as_any(path: str, others: Iterable[str]) -> str | None:
    """The first of `others` that names the file at `path`, or None."""
    return next((other for other in others if same_file(path, other)), None)
