"""The token a page of the library hands out for the page after it (`next`, sent back as `after`): the sort order
and its direction, and the sort key and sha256 of the page's last model, as URL-safe base64 of JSON. Opaque to
clients, so its shape may
change; a token from another sort order, or one that was altered, is refused rather than misread."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from hikaze_mm.store.records import NATURAL_DIRECTION, is_sha256

# The longest token of ours holds a name of 256 characters each escaped to 6 (`\udcff`, a byte of a name that is
# not UTF-8): under 2,200 characters. A longer one is forged, and is refused before it costs a decode.
MAX_TOKEN = 4096
KEY_LIMIT = 2**63  # the stores' integers are 64-bit: a key outside them fails in the driver, not as a bad token
NOT_OURS = "`after` is not a token this daemon gave out (a page's `next`)"


class BadCursor(ValueError):
    pass


def _order(sort: str, direction: str | None) -> str:
    return f"{sort} {direction or NATURAL_DIRECTION.get(sort, '')}"


def encode_cursor(sort: str, direction: str | None, after: tuple[Any, str]) -> str:
    raw = json.dumps([_order(sort, direction), after[0], after[1]], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str, direction: str | None) -> tuple[Any, str]:
    """The key a token names for this sort order and direction; raises BadCursor saying what is wrong."""
    if len(token) > MAX_TOKEN:
        raise BadCursor(NOT_OURS)
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)), parse_constant=_no_constant)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise BadCursor(NOT_OURS) from None
    if not (isinstance(value, list) and len(value) == 3 and is_sha256(value[2])):
        raise BadCursor(NOT_OURS)
    token_sort, key, sha256 = value
    if token_sort != _order(sort, direction):
        raise BadCursor(f"`after` continues a listing sorted by {str(token_sort)[:20]!r}; ask with that `sort` "
                        "and `dir`, or start again without `after`")
    if not _key_fits(sort, key):
        raise BadCursor(NOT_OURS)
    return key, sha256


def _key_fits(sort: str, key: Any) -> bool:
    """Whether a token's key is what the sort order's key is: a name, a size, a time, or most used's pair of a
    count and a time."""
    if sort == "most_used":
        return isinstance(key, list) and len(key) == 2 and _of_kind(key[0], int) and _of_kind(key[1], (int, float))
    return _of_kind(key, str if sort == "name" else int if sort == "size" else (int, float))


def _of_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    """Of that kind and storable: an int of 64 bits, a finite float (JSON's `1e999` reads as infinity)."""
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    if isinstance(value, int):
        return -KEY_LIMIT <= value < KEY_LIMIT
    return not isinstance(value, float) or math.isfinite(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON")  # Python's parser takes NaN and Infinity; no key of ours is either
