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


class _TooMany(Exception):
    pass


def parse_json(text: str | bytes, what: str) -> Any:
    """`text` parsed, or WorkflowError naming `what` and the problem."""
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
