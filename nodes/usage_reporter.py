"""The thread that hands model uses to the daemon, so that ComfyUI's queue never waits on it.

A prompt's references go into an intake (a deque append: the only work on ComfyUI's thread); this thread looks at
it five times a second, makes them into uses and keeps those in memory until the daemon has answered 200 for them
(at most CAPACITY, the oldest dropped first). While the daemon does not answer it asks again about every second;
when the daemon refuses a batch (400) the batch is dropped, since asking again would be refused again and hold up
every use behind it. Each use has its own id, which the daemon counts once ever, so a batch sent again after a lost
answer is not counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from .daemon import DaemonClient
from .usage_files import uses_of
from .usage_walk import Reference

log = logging.getLogger("hikaze.nodes")
CAPACITY = 10_000  # uses kept while the daemon does not answer; the oldest go first
BATCH = 1_000  # uses in one POST /api/usage, the most the daemon takes
RETRY_S = 1.0
# A daemon that answers 404 or 405 runs a version without POST /api/usage: asking every second would not change
# that, and an upgrade takes minutes at least.
TOO_OLD_RETRY_S = 300.0
TOO_OLD = (404, 405)
LOOK_S = 0.2  # how often the thread looks for new uses: a use reaches a daemon that answers within about that

Use = dict[str, Any]
Send = Callable[[list[Use]], tuple[int, str]]


class Reporter:
    def __init__(self, send: Send | None = None, capacity: int = CAPACITY, retry_s: float = RETRY_S,
                 look_s: float = LOOK_S, too_old_retry_s: float = TOO_OLD_RETRY_S) -> None:
        self._send = send or DaemonClient().post_usage
        self._capacity = capacity
        self._retry_s = retry_s
        self._too_old_retry_s = too_old_retry_s
        self._look_s = look_s
        self._intake: deque[tuple[float, list[Reference]]] = deque()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Only the reporter's thread touches these.
        self._outbox: deque[Use] = deque()
        self._failing: str | None = None  # why the daemon took no uses, while it does not
        self._dropped = 0  # uses dropped past the cap since the outbox was last empty

    def submit(self, at: float, refs: list[Reference]) -> None:
        """Called on ComfyUI's thread: an append, and the thread started on the first prompt. The thread is not
        woken: it would then run (and want the GIL) right while ComfyUI's worker finishes the prompt."""
        self._intake.append((at, refs))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                # A daemon thread: ComfyUI exits at once, whatever is still waiting here.
                thread = threading.Thread(target=self._run, name="hikaze-usage", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        retry_at = 0.0
        while True:
            time.sleep(self._look_s)  # the pace of the look at the intake, which nothing signals
            try:
                self._take_intake()
                if self._outbox and time.monotonic() >= retry_at:
                    wait = self._flush()
                    if wait is not None:
                        retry_at = time.monotonic() + wait
            except Exception:  # a bug here must not end the thread: later uses would pile up unsent
                log.exception("Hikaze: usage reporting failed; it goes on with the next prompt")
                retry_at = time.monotonic() + self._retry_s

    def _take_intake(self) -> None:
        added = 0
        while self._intake:
            at, refs = self._intake.popleft()
            try:
                uses = uses_of(at, refs)
            except Exception:
                log.exception("Hikaze: the models of a prompt could not be read; its uses are not reported")
                continue
            self._outbox.extend(uses)
            added += len(uses)
        over = len(self._outbox) - self._capacity
        if over > 0:
            for _ in range(over):
                self._outbox.popleft()
            # One line when the dropping starts and one with the total when it ends, not one every prompt.
            if not self._dropped:
                log.warning("Hikaze: more than %d model uses wait for the daemon; the oldest are dropped until it "
                            "takes them", self._capacity)
            self._dropped += over

    def _flush(self) -> float | None:
        """Send everything waiting, a batch at a time; the seconds to wait before the next try when the daemon did
        not take a batch, None when all went."""
        while self._outbox:
            batch = list(islice(self._outbox, BATCH))
            status, said = self._send(batch)
            if status == 400:
                log.warning("Hikaze: the daemon refused %d model uses (HTTP 400%s); they are dropped",
                            len(batch), f": {said}" if said else "")
            elif status != 200:
                why = said if status == 0 else f"HTTP {status}" + (f": {said}" if said else "")
                too_old = status in TOO_OLD
                if too_old:
                    why += "; this daemon is older than usage reports, so ComfyUI asks again every few minutes"
                if self._failing != why:
                    log.info("Hikaze: model uses wait in ComfyUI until the daemon takes them: %s", why)
                self._failing = why
                return self._too_old_retry_s if too_old else self._retry_s
            for _ in batch:
                self._outbox.popleft()
            if status == 200 and self._failing is not None:
                log.info("Hikaze: the daemon takes model uses again")
                self._failing = None
        if self._dropped:
            log.warning("Hikaze: %d model uses were dropped in all, the oldest, while more than %d waited",
                        self._dropped, self._capacity)
            self._dropped = 0
        return None
