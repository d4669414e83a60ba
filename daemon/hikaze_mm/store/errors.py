"""What the store raises: each a refusal that wrote nothing, meant to reach the user as it is."""

from __future__ import annotations


class SchemaTooNew(Exception):
    """The database was written by a newer hikaze-mm; it is left untouched."""


class EditRefused(ValueError):
    """A model edit that would break a limit as the model stands when it is written; nothing of it was written."""


class StorageFull(Exception):
    """The disk under the database is full: the change was not made, and nothing stored before is lost."""


class StoreUnreachable(Exception):
    """The database server cannot be reached or refused us (down, wrong host, no such database, bad password);
    the message names the server without its password and what to check."""


class SchemaMissing(Exception):
    """A shared database without our schema, or with an older one: `hikaze-mm db migrate` makes or upgrades it
    (a daemon never changes a schema that other hosts' daemons read)."""
