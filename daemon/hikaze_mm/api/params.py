"""Reading one parameter of a request: query values, path segments, the JSON body. Each refuses what it cannot
take with a BadRequest that names the parameter and what it must be; the typed requests are built from these."""

from __future__ import annotations

import json
from typing import Any, TypeVar, overload

from aiohttp import web
from multidict import MultiMapping

from hikaze_mm.api.errors import BadRequest
from hikaze_mm.store.records import MAX_INTEGER, is_sha256

MAX_DEPTH = 32  # levels of objects and lists in a JSON body; the API's own need at most three

Query = MultiMapping[str]

C = TypeVar("C", bound=str)


def int_param(query: Query, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: int() also takes "٣", "1_000" and " 5", and gives up on more than 4300 digits.
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise BadRequest(f"`{name}` must be a whole number, got {raw[:80]!r}")
    if len(digits) > len(str(maximum)) or not minimum <= int(raw) <= maximum:
        raise BadRequest(f"`{name}` must be between {minimum} and {maximum}, got {raw[:80]}")
    return int(raw)


@overload
def choice_param(query: Query, name: str, choices: tuple[C, ...]) -> C | None: ...
@overload
def choice_param(query: Query, name: str, choices: None) -> str | None: ...
def choice_param(query: Query, name: str, choices: tuple[str, ...] | None) -> str | None:
    """One of `choices` (returned as the choice itself, so it keeps the choices' type), or any text for None."""
    raw = query.get(name)
    if raw is None or raw == "" or choices is None:
        return raw or None
    return one_of(raw, choices, f"`{name}` must be one of {', '.join(choices)}, got {raw!r}")


def one_of(raw: str, choices: tuple[C, ...], refusal: str) -> C:
    for choice in choices:
        if raw == choice:
            return choice
    raise BadRequest(refusal)


def bool_param(query: Query, name: str) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return False
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest(f"`{name}` must be true, false, 1 or 0, got {raw!r}")
    return raw in ("true", "1")


def whole(raw: str, what: str, minimum: int = 0) -> int:
    """A path segment that must be a whole number (ASCII digits only: `²` is a digit to str.isdigit)."""
    # The length goes first: int() refuses strings of more than 4300 digits with a ValueError.
    digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_INTEGER))
    if not digits or not minimum <= int(raw) <= MAX_INTEGER:
        raise BadRequest(f"{what} is a whole number of at least {minimum}, got {raw[:80]!r}")
    return int(raw)


def pending_id(request: web.Request) -> int:
    return whole(request.match_info["id"], "a pending id", 1)


def tag_id(request: web.Request) -> int:
    return whole(request.match_info["id"], "a tag id", 1)


def image_seq(request: web.Request) -> int:
    return whole(request.match_info["seq"], "an image number")


def model_id(request: web.Request) -> str:
    value = request.match_info["sha256"]
    if not is_sha256(value):
        raise BadRequest(f"a model id is a sha256: 64 lower-case hex digits, got {value[:80]!r}")
    return value


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as `{}`."""
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest("the body is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    _check_values(body)
    return body


def _check_values(body: dict[str, Any]) -> None:
    """No body the API takes nests deeper than a few levels, and a deeper one would take the recursion limit of
    whatever walks it next; JSON may also escape half a surrogate pair, which no database or file name can hold.
    Walked with a stack of its own, since json.loads may return more levels than Python can recurse."""
    todo: list[tuple[Any, int]] = [(body, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, str):
            if any("\ud800" <= c <= "\udfff" for c in value):
                raise BadRequest("the body holds a string that is not valid Unicode (a lone surrogate escape)")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadRequest(f"the body nests objects and lists more than {MAX_DEPTH} levels deep")
            items = [x for pair in value.items() for x in pair] if isinstance(value, dict) else value
            todo.extend((v, depth + 1) for v in items)


def only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
