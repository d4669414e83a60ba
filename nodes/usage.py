"""Telling the daemon which models ComfyUI's prompts loaded, whichever loader loaded them.

The hook reads each prompt ComfyUI ran: its worker calls `prompt_queue.task_done(item_id, ...)` when a prompt ends
(done or failed: its models were loaded or were meant to be), and `currently_running[item_id][2]` is then still the
prompt. A ComfyUI without that queue gets an on-prompt handler instead, which sees a prompt when it is queued.
Either hook does a walk over the prompt and an append on ComfyUI's thread, and never raises into it.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from .usage_reporter import Reporter
from .usage_walk import references

log = logging.getLogger("hikaze.nodes")
MARK = "_hikaze_usage"  # on our wrapper and our handler: a second installation (the pack imported again) sees it

reporter = Reporter()
_failures = 0


def install_usage_hook() -> str:
    """Hook ComfyUI's server if it runs; which hook: "task_done", "on_prompt", "already" or "none"."""
    try:
        return _install()
    except Exception:  # a ComfyUI shaped otherwise must still load the nodes; only the usage goes unreported
        log.warning("Hikaze: the usage hook could not be installed; model uses are not reported", exc_info=True)
        return "none"


def _install() -> str:
    try:
        from server import PromptServer  # ComfyUI's own module: only there when ComfyUI loads the pack
    except ImportError:
        return "none"
    instance = getattr(PromptServer, "instance", None)
    if instance is None:
        return "none"
    queue: Any = getattr(instance, "prompt_queue", None)
    if callable(getattr(queue, "task_done", None)) and isinstance(getattr(queue, "currently_running", None), dict):
        if getattr(queue.task_done, MARK, False):
            return "already"
        queue.task_done = hook_task_done(queue, reporter)
        log.info("Hikaze: model uses are reported to the daemon when a prompt ends (prompt_queue.task_done)")
        return "task_done"
    add_handler = getattr(instance, "add_on_prompt_handler", None)
    if callable(add_handler):
        if any(getattr(h, MARK, False) for h in getattr(instance, "on_prompt_handlers", ())):
            return "already"
        add_handler(on_prompt_handler(reporter))
        log.info("Hikaze: model uses are reported to the daemon when a prompt is queued (this ComfyUI's "
                 "prompt_queue has no task_done and currently_running; an on-prompt handler counts instead)")
        return "on_prompt"
    log.warning("Hikaze: this ComfyUI offers no hook to see the prompts it runs; model uses are not reported")
    return "none"


def hook_task_done(queue: Any, reporter: Reporter) -> Any:
    """The queue's task_done, which notes the prompt's models first (task_done removes it from currently_running)
    and then does exactly what the original does."""
    original = queue.task_done

    @functools.wraps(original)
    def task_done(*args: Any, **kwargs: Any) -> Any:
        try:
            item_id = args[0] if args else kwargs["item_id"]
            running = queue.currently_running.get(item_id)
            if isinstance(running, (list, tuple)) and len(running) > 2:
                _note(running[2], reporter)
        except Exception:
            _failed()
        return original(*args, **kwargs)

    setattr(task_done, MARK, True)
    return task_done


def on_prompt_handler(reporter: Reporter) -> Any:
    def handler(json_data: Any) -> Any:
        try:
            if isinstance(json_data, dict):
                _note(json_data.get("prompt"), reporter)
        except Exception:
            _failed()
        return json_data

    setattr(handler, MARK, True)
    return handler


def _note(prompt: Any, reporter: Reporter) -> None:
    refs = references(prompt)
    if refs:
        reporter.submit(time.time(), refs)


def _failed() -> None:
    # Once in full: a fault here would be the same for every prompt, and ComfyUI's log is the user's to read.
    global _failures
    _failures += 1
    level = logging.WARNING if _failures == 1 else logging.DEBUG
    log.log(level, "Hikaze: the models of a prompt could not be noted; the prompt runs on, its uses are not "
                   "reported", exc_info=True)
