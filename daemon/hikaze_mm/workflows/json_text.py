"""JSON read with bounds: a workflow is data from anywhere, so its size in objects and its depth are capped
before anything walks it."""

from __future__ import annotations

import json
from typing import Any

from hikaze_mm.workflows.errors import WorkflowError

MAX_DEPTH = 100  # levels of objects and lists; ComfyUI's own workflows nest fewer than ten
# Objects the parser may build before it gives up: a 20,000-node workflow holds about ten per node, and a body of
# millions of tiny objects would otherwise take gigabytes before the node count could refuse it.
MAX_OBJECTS = 400_000
# Objects and lists together, counted as the `{` and `[` of the text before it is parsed (those inside strings too,
# so a real workflow's count is a little high): the parser's hook sees objects only, and millions of empty lists
# would take gigabytes. ComfyUI's own workflows write about fifteen per node.
MAX_CONTAINERS = 1_000_000
# Values of any kind, likewise counted before parsing as the commas besides: every value but a container's first
# follows one. Sixteen million numbers fit in 64 MiB and would take 600 MiB; ComfyUI writes about 35 per node.
MAX_VALUES = 4_000_000


class _TooMany(Exception):
    pass


def parse_json(text: str | bytes, what: str) -> Any:
    """`text` parsed, or WorkflowError naming `what` and the problem."""
    if isinstance(text, bytes):
        opened, commas = text.count(b"{") + text.count(b"["), text.count(b",")
    else:
        opened, commas = text.count("{") + text.count("["), text.count(",")
    if opened > MAX_CONTAINERS:
        raise WorkflowError(f"{what} holds more than {MAX_CONTAINERS} JSON objects and lists; no workflow is that "
                            "large")
    if opened + commas > MAX_VALUES:
        raise WorkflowError(f"{what} holds more than {MAX_VALUES} JSON values; no workflow is that large")
    built = 0

    def counted(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal built
        built += 1
        if built > MAX_OBJECTS:
            raise _TooMany
        return dict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=counted)
    except _TooMany:
        raise WorkflowError(f"{what} holds more than {MAX_OBJECTS} JSON objects; no workflow is that large") from None
    except RecursionError:
        raise WorkflowError(f"{what} nests objects and lists more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise WorkflowError(f"{what} is not UTF-8 text") from None
    except ValueError as e:
        raise WorkflowError(f"{what} is not valid JSON: {e}") from None
    _check_depth(value, what)
    return value


def _check_depth(value: Any, what: str) -> None:
    # Walked with a stack of its own: the parser may return more levels than Python can recurse through.
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise WorkflowError(f"{what} nests objects and lists more than {MAX_DEPTH} levels deep")
            todo.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
