"""The token a page of the library hands out for the page after it (`next`, sent back as `after`): the sort order
and its direction, and the sort key and sha256 of the page's last model, as URL-safe base64 of JSON. Opaque to
clients, so its shape may
change; a token from another sort order, or one that was altered, is refused rather than misread."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from hikaze_mm.store.records import NATURAL_DIRECTION, is_sha256


class BadCursor(ValueError):
    pass


def _order(sort: str, direction: str | None) -> str:
    return f"{sort} {direction or NATURAL_DIRECTION.get(sort, '')}"


def encode_cursor(sort: str, direction: str | None, after: tuple[Any, str]) -> str:
    raw = json.dumps([_order(sort, direction), after[0], after[1]], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str, direction: str | None) -> tuple[Any, str]:
    """The key a token names for this sort order and direction; raises BadCursor saying what is wrong."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("`after` is not a token this daemon gave out (a page's `next`)") from None
    if not (isinstance(value, list) and len(value) == 3 and is_sha256(value[2])):
        raise BadCursor("`after` is not a token this daemon gave out (a page's `next`)")
    token_sort, key, sha256 = value
    if token_sort != _order(sort, direction):
        raise BadCursor(f"`after` continues a listing sorted by {str(token_sort)[:20]!r}; ask with that `sort` "
                        "and `dir`, or start again without `after`")
    if not _key_fits(sort, key):
        raise BadCursor("`after` is not a token this daemon gave out (a page's `next`)")
    return key, sha256


def _key_fits(sort: str, key: Any) -> bool:
    """Whether a token's key is what the sort order's key is: a name, a size, a time, or most used's pair of a
    count and a time."""
    if sort == "most_used":
        return isinstance(key, list) and len(key) == 2 and _of_kind(key[0], int) and _of_kind(key[1], (int, float))
    return _of_kind(key, str if sort == "name" else int if sort == "size" else (int, float))


def _of_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    return not isinstance(value, bool) and isinstance(value, kind)
