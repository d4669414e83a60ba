"""Log lines as `key=value` pairs, one record per line, for a person, `journalctl` and grep alike.

A call names what happened in `extra`: `log.info("ready", extra={"event": "file.ready", "path": p})`. Values
come from file names and errors, so they are quoted and escaped: a name with a newline in it can never start a
line of its own that looks like a record.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

LOG_FILE = "hikaze-mm.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 2  # with the live file, three files at most
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
            handlers.append(logging.handlers.RotatingFileHandler(
                data_dir / "logs" / LOG_FILE, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"))
        except OSError as e:
            failed = e
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=handlers, force=True)
    if failed is not None:
        logging.getLogger(__name__).warning("logging to stderr only", extra={
            "event": "log.file_failed", "path": str(data_dir / "logs"), "reason": failed.strerror or str(failed)})
