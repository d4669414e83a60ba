"""What the store raises: each a refusal that wrote nothing, meant to reach the user as it is."""

from __future__ import annotations


class SchemaTooNew(Exception):
    """The database was written by a newer hikaze-mm; it is left untouched."""


class EditRefused(ValueError):
    """A model edit that would break a limit as the model stands when it is written; nothing of it was written."""


class StorageFull(Exception):
    """The disk under the database is full: the change was not made, and nothing stored before is lost."""
