"""Log lines as `key=value` pairs, one record per line, for a person, `journalctl` and grep alike.

A call names what happened in `extra`: `log.info("ready", extra={"event": "file.ready", "path": p})`. Values
come from file names and errors, so they are quoted and escaped: a name with a newline in it can never start a
line of its own that looks like a record.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import logging.handlers
import math
import os
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

LOG_FILE = "hikaze-mm.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 2  # with the live file, three files at most
REPEATS = 20  # the same line at most this often per REPEAT_WINDOW_S, then one line with the count
REPEAT_WINDOW_S = 10.0
SUPPRESSED = "log.suppressed"
# Everything a LogRecord carries by itself; any other attribute came from `extra`.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "event"}
_NEEDS_QUOTES = frozenset(' "=\\')
# json.dumps leaves these as they are with ensure_ascii=False, yet they break a line (U+2028, NEL) on some
# readers, are invisible (C1, DEL), or cannot be written as UTF-8 at all (lone surrogates of undecodable names).
_STILL_RAW = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def quote(value: Any) -> str:
    text = str(value)
    if text and text.isprintable() and not _NEEDS_QUOTES.intersection(text):
        return text
    return _STILL_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def under_systemd(env: Mapping[str, str] = os.environ) -> bool:
    """Started by systemd: the journal reads stderr and stamps every line itself."""
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


class KeyValueFormatter(logging.Formatter):
    def __init__(self, timestamps: bool = True):
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        fields: list[tuple[str, Any]] = []
        if self.timestamps:
            fields.append(("time", datetime.fromtimestamp(record.created).astimezone().isoformat("T", "milliseconds")))
        fields.append(("level", record.levelname))
        fields.append(("event", getattr(record, "event", record.name)))
        fields.extend((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS)
        fields.append(("msg", record.getMessage()))
        if record.exc_info:
            fields.append(("exc", self.formatException(record.exc_info)))
        elif record.exc_text:
            fields.append(("exc", record.exc_text))
        return " ".join(f"{k}={quote(v)}" for k, v in fields)


@dataclass
class _Window:
    started: float
    first: logging.LogRecord
    last: float = 0.0
    count: int = 0


class Repeats(logging.Filter):
    """Lets the same line (logger, level, event, message, fields and exception: all but the time) through at most
    `limit` times per `window` seconds, and then writes one line that says how many were left out. A failure
    that repeats in a tight loop (`accept()` out of descriptors, thousands of times a second) would otherwise
    rotate the whole history out of the log file within seconds. One filter per handler, each writing its own
    count lines into it. Time is read from the records themselves (unless a `clock` is given), so every handler
    counts the same windows and writes the same count line."""

    def __init__(self, handler: logging.Handler, limit: int = REPEATS, window: float = REPEAT_WINDOW_S,
                 clock: Callable[[], float] | None = None):
        super().__init__()
        self.handler = handler
        self.limit = limit
        self.window = window
        self.clock = clock
        # Windows in the order they opened, so those that ended are at the front: counting them out touches only
        # them, however many are open (a first index opens one per file's line, thousands a second).
        self._windows: OrderedDict[tuple[Any, ...], _Window] = OrderedDict()
        self._next_end = float("inf")
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "event", None) == SUPPRESSED:
            return True
        key = _line_key(record)
        now = self.clock() if self.clock is not None else record.created
        with self._lock:
            due = self._ended(now) if now >= self._next_end else []
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(now, record)
                self._next_end = min(self._next_end, now + self.window)
            window.count += 1
            window.last = now
            passed = window.count <= self.limit
        for summary in due:
            self.handler.handle(summary)
        return passed

    def flush(self) -> None:
        """Write the counts of windows still open (at shutdown)."""
        with self._lock:
            due = self._ended(float("inf"))
        for summary in due:
            self.handler.handle(summary)

    def _ended(self, now: float) -> list[logging.LogRecord]:
        summaries = []
        while self._windows:
            window = next(iter(self._windows.values()))
            # A line another thread stamped a moment earlier may sit behind a later one: it is counted out when
            # the one before it is, that moment late.
            if now - window.started < self.window:
                break
            self._windows.popitem(last=False)
            if window.count > self.limit:
                # At shutdown (now is infinite) the count is dated by the last line it counts.
                summaries.append(self._summary(window, now if math.isfinite(now) else window.last))
        first = next(iter(self._windows.values()), None)
        self._next_end = float("inf") if first is None else first.started + self.window
        return summaries

    def _summary(self, window: _Window, at: float) -> logging.LogRecord:
        first = window.first
        left_out = window.count - self.limit
        return logging.makeLogRecord({
            "name": first.name, "levelno": first.levelno, "levelname": first.levelname,
            "msg": "%d more lines like this one were left out",
            "args": (left_out,), "event": SUPPRESSED, "of": getattr(first, "event", first.name),
            "count": left_out, "seconds": f"{min(at - window.started, self.window):.3g}",
            "created": at, "msecs": at % 1 * 1000,
            "line": first.getMessage(),
        })


def _line_key(record: logging.LogRecord) -> tuple[Any, ...]:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the handler's to report (logging's handleError), never a raise here
        message = str(record.msg)
    extra = tuple((k, repr(v)) for k, v in vars(record).items() if k not in _RECORD_FIELDS)
    exc = record.exc_info[1] if record.exc_info else None
    return (record.name, record.levelno, getattr(record, "event", None), message, extra, type(exc), str(exc))


_repeat_filters: list[Repeats] = []


@atexit.register
def flush_repeats() -> None:
    """Registered after `logging` registered its shutdown, so it runs before the handlers close."""
    for repeats in _repeat_filters:
        repeats.flush()


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file in the data folder. When it cannot be written (the disk is full), stderr says so once, and
    once more when it can be written again, instead of logging's traceback for every line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._errors = 0
        self._broken = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._errors += 1
        if not self._broken:
            self._broken = True
            error = sys.exc_info()[1]
            sys.stderr.write(f"hikaze-mm: the log file {self.baseFilename} cannot be written ({error}); "
                             "lines go to stderr only until it can\n")

    def emit(self, record: logging.LogRecord) -> None:
        errors = self._errors
        super().emit(record)
        if self._broken and self._errors == errors:
            self._broken = False
            sys.stderr.write(f"hikaze-mm: the log file {self.baseFilename} is written again\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # lines that could not be written were said to be so already
            super().close()


def configure(level: str, data_dir: Path | None, env: Mapping[str, str] = os.environ) -> None:
    """stderr always; under systemd that is all (the journal keeps it), else also a rotating file in
    `<data_dir>/logs/` when a data_dir is given."""
    systemd = under_systemd(env)
    formatter = KeyValueFormatter(timestamps=not systemd)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    failed: OSError | None = None
    if data_dir is not None and not systemd:
        try:
            (data_dir / "logs").mkdir(parents=True, exist_ok=True)
            handlers.append(_LogFile(
                data_dir / "logs" / LOG_FILE, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"))
        except OSError as e:
            failed = e
    _repeat_filters.clear()
    for handler in handlers:
        handler.setFormatter(formatter)
        repeats = Repeats(handler)
        handler.addFilter(repeats)
        _repeat_filters.append(repeats)
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=handlers, force=True)
    if failed is not None and data_dir is not None:
        logging.getLogger(__name__).warning("logging to stderr only", extra={
            "event": "log.file_failed", "path": str(data_dir / "logs"), "reason": failed.strerror or str(failed)})
