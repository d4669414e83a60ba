"""The names in a folder, each folder listed once: looking beside a thousand files of one folder (for sidecars,
previews, a download still being written) lists it once instead of testing a dozen names per file."""

from __future__ import annotations

import os


class FolderNames:
    """Listings taken as they are first asked for and kept for the life of this object, which is meant to be
    short (one batch of files): a name that appears later is not seen."""

    def __init__(self) -> None:
        self._folders: dict[str, dict[str, list[str]] | None] = {}  # folder -> lower-cased name -> names

    def _listing(self, folder: str) -> dict[str, list[str]] | None:
        if folder not in self._folders:
            try:
                by_lower: dict[str, list[str]] | None = {}
                assert by_lower is not None
                for name in os.listdir(folder or "."):
                    by_lower.setdefault(name.lower(), []).append(name)
            except OSError:
                by_lower = None  # cannot be listed: every name might be there
            self._folders[folder] = by_lower
        return self._folders[folder]

    def absent(self, path: str) -> bool:
        """Surely not there: no name in its folder is this one, even ignoring case (so a filesystem that ignores
        case is not misread). False means it may be there, and the caller looks."""
        folder, name = os.path.split(path)
        listing = self._listing(folder)
        return listing is not None and name.lower() not in listing

    def like(self, folder: str, lower_name: str) -> list[str] | None:
        """The names in `folder` that are `lower_name` ignoring case; None when the folder cannot be listed."""
        listing = self._listing(folder)
        return None if listing is None else listing.get(lower_name, [])
