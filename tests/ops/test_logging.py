"""Log lines are `key=value` pairs, one per record whatever a file name holds, and every file the daemon decides
about leaves one line saying what and why."""

from __future__ import annotations

import io
import logging
import logging.handlers
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Daemon, poll, write_model
from hikaze_mm.ops import logs

LINE = re.compile(r'^(time=\S+ )?level=[A-Z]+ event=\S+ ')
NOT_SYSTEMD = {"INVOCATION_ID": "", "JOURNAL_STREAM": ""}


def record(msg: str = "hello", **extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "hikaze_mm.test", "levelname": "INFO", "levelno": logging.INFO,
                                 "msg": msg})
    rec.__dict__.update(extra)
    return rec


def test_fields_from_extra_follow_level_and_event():
    line = logs.KeyValueFormatter().format(record("ready (6.8 MB/s)", event="file.ready", path="/m/loras/x.safetensors",
                                                  duration_ms=312, sha256="ab12"))
    assert re.fullmatch(r'time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d level=INFO event=file\.ready '
                        r'path=/m/loras/x\.safetensors duration_ms=312 sha256=ab12 msg="ready \(6\.8 MB/s\)"', line)


def test_a_record_without_event_is_named_by_its_logger():
    line = logs.KeyValueFormatter(timestamps=False).format(record("plain"))
    assert line == "level=INFO event=hikaze_mm.test msg=plain"


@pytest.mark.parametrize(("value", "written"), [
    ("a b", '"a b"'),
    ('say "hi"', r'"say \"hi\""'),
    ("k=v", '"k=v"'),
    ("back\\slash", r'"back\\slash"'),
    ("", '""'),
    ("café", "café"),
    ("caf\udce9", r'"caf\udce9"'),
    ("tab\there", r'"tab\there"'),
    ("line\u2028sep\x85", r'"line\u2028sep\u0085"'),
])
def test_values_are_quoted_and_escaped(value: str, written: str):
    assert logs.quote(value) == written
    written.encode("utf-8")  # never a lone surrogate that stderr or the file could not write


def test_a_name_with_a_newline_stays_on_one_line():
    line = logs.KeyValueFormatter().format(record("ready", event="file.ready",
                                                  path="/m/x\ntime=0 level=ERROR event=forged.safetensors"))
    assert "\n" not in line
    assert r'path="/m/x\ntime=0 level=ERROR event=forged.safetensors"' in line


def test_a_traceback_stays_on_one_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        rec = logging.makeLogRecord({"name": "hikaze_mm", "levelname": "ERROR", "msg": "failed"})
        rec.exc_info = sys.exc_info()
    line = logs.KeyValueFormatter().format(rec)
    assert "\n" not in line and 'exc="Traceback' in line and r"ValueError: bad\nthing" in line


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """`configure` replaces the process's logging; give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


def test_under_systemd_no_timestamp_and_no_file(root_logging, tmp_path: Path, capsys):
    logs.configure("warning", tmp_path, {"JOURNAL_STREAM": "8:1234"})
    logging.getLogger("hikaze_mm.test").info("dropped by --log-level")
    logging.getLogger("hikaze_mm.test").warning("kept", extra={"event": "x.y"})
    assert capsys.readouterr().err == "level=WARNING event=x.y msg=kept\n"
    assert not (tmp_path / "logs").exists()


def test_otherwise_stderr_and_a_rotating_file(root_logging, tmp_path: Path, capsys):
    logs.configure("info", tmp_path, {})
    logging.getLogger("hikaze_mm.test").info("kept", extra={"event": "x.y", "path": "a b"})
    err = capsys.readouterr().err
    assert LINE.match(err) and err.startswith("time=") and err.endswith(' path="a b" msg=kept\n')
    rotating = [h for h in root_logging.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert [(h.maxBytes, h.backupCount) for h in rotating] == [(5 * 1024 * 1024, 2)]
    rotating[0].flush()
    assert (tmp_path / "logs" / "hikaze-mm.log").read_text(encoding="utf-8") == err


def test_a_line_repeated_in_a_flood_is_written_a_few_times_and_counted(root_logging, tmp_path: Path, capsys):
    logs.configure("info", tmp_path, {})
    flood = logging.getLogger("asyncio")
    for _ in range(1000):
        flood.error("socket.accept() out of system resource")
    logging.getLogger("hikaze_mm.test").info("other", extra={"event": "x.y"})
    logs.flush_repeats()
    for handler in root_logging.handlers:
        handler.flush()
    written = (tmp_path / "logs" / "hikaze-mm.log").read_text(encoding="utf-8").splitlines()
    assert written == capsys.readouterr().err.splitlines()
    assert len([ln for ln in written if ln.endswith("msg=\"socket.accept() out of system resource\"")]) == 20
    assert any(ln.endswith(" msg=other") for ln in written)
    (summary,) = [ln for ln in written if " event=log.suppressed " in ln]
    assert " level=ERROR " in summary and " of=asyncio count=980 " in summary, summary


def test_the_count_comes_once_the_window_is_over_and_the_line_is_let_through_again():
    now = [0.0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.KeyValueFormatter(timestamps=False))
    handler.addFilter(logs.Repeats(handler, limit=3, window=10, clock=lambda: now[0]))
    same = record("the same", event="x.same", path="/m/a")
    for _ in range(5):
        handler.handle(same)
    handler.handle(record("the same", event="x.same", path="/m/b"))  # another path is another line
    now[0] = 10.0
    handler.handle(same)
    assert stream.getvalue().splitlines() == [
        "level=INFO event=x.same path=/m/a msg=\"the same\"",
        "level=INFO event=x.same path=/m/a msg=\"the same\"",
        "level=INFO event=x.same path=/m/a msg=\"the same\"",
        "level=INFO event=x.same path=/m/b msg=\"the same\"",
        "level=INFO event=log.suppressed of=x.same count=2 seconds=10 line=\"the same\" "
        "msg=\"2 more lines like this one were left out\"",
        "level=INFO event=x.same path=/m/a msg=\"the same\"",
    ]


def test_windows_end_in_the_order_they_opened_and_open_ones_are_kept():
    """One window per line a path opens (a first index: thousands): each ends a window's length after it opened,
    its count written then, and windows still open keep counting."""
    now = [0.0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.KeyValueFormatter(timestamps=False))
    repeats = logs.Repeats(handler, limit=1, window=10, clock=lambda: now[0])
    handler.addFilter(repeats)
    for i in range(1000):
        now[0] = i / 100  # ten seconds' worth of distinct lines, each said twice
        for _ in range(2):
            handler.handle(record("new", event="file.new", path=f"/m/{i}"))
    assert stream.getvalue().count("event=log.suppressed") == 0
    now[0] = 10.005  # only the first window (opened at 0) has ended
    handler.handle(record("other", event="x.other"))
    assert stream.getvalue().count("event=log.suppressed") == 1
    now[0] = 15.0  # the first half has ended
    handler.handle(record("other", event="x.other"))
    assert stream.getvalue().count("event=log.suppressed") == 501
    handler.handle(record("new", event="file.new", path="/m/999"))  # its window is still open: counted, not written
    repeats.flush()
    suppressed = [line for line in stream.getvalue().splitlines() if "event=log.suppressed" in line]
    assert len(suppressed) == 1000 + 1  # every file's window and the other line's, each once
    assert " of=file.new count=2 " in suppressed[-2]  # /m/999: three lines, one let through
    assert " of=x.other count=1 " in suppressed[-1]  # opened last, ended last


# -- the real daemon -------------------------------------------------------------------------------------------
def lines(daemon: Daemon, event: str, path: Path, key: str = "path") -> list[str]:
    token = f"{key}={logs.quote(str(path))}"
    return [ln for ln in daemon.log().splitlines() if f" event={event} " in ln and f" {token} " in f" {ln} "]


async def one_line(daemon: Daemon, event: str, path: Path, key: str = "path") -> str:
    async def found() -> list[str]:
        return lines(daemon, event, path, key)

    return (await poll(found, f"event={event} for {path} in the log"))[0]


async def test_every_decision_leaves_one_line(daemon_factory, models: Path):
    daemon = await daemon_factory("--models-root", str(models), env=NOT_SYSTEMD)
    await daemon.wait_idle()
    dropped = write_model(models / "loras" / "dropped.safetensors")
    await daemon.wait_row(dropped)
    renamed = dropped.with_name("renamed.safetensors")
    dropped.rename(renamed)
    moved = await one_line(daemon, "file.moved", renamed)
    assert f"old_path={logs.quote(str(dropped))}" in moved
    await daemon.wait_row(renamed)
    renamed.unlink()
    await one_line(daemon, "file.gone", renamed)
    kept = write_model(models / "checkpoints" / "kept.safetensors", size=256 * 1024)
    (sha256,) = await daemon.import_files(kept)
    imported = await one_line(daemon, "model.imported", kept)
    assert " strategy=new " in imported and f" sha256={sha256} " in imported
    kept.unlink()
    assert f"sha256={sha256}" in await one_line(daemon, "model.missing", kept)
    await daemon.wait_idle()

    assert len(lines(daemon, "file.new", dropped)) == 1
    (ready,) = lines(daemon, "file.ready", dropped)
    assert re.search(r" duration_ms=\d+ ", ready) and re.search(r" sha256=[0-9a-f]{64} ", ready)
    assert len(lines(daemon, "file.moved", renamed)) == 1
    assert len(lines(daemon, "file.gone", renamed)) == 1
    assert len(lines(daemon, "file.new", kept)) == len(lines(daemon, "file.ready", kept)) == 1
    assert len(lines(daemon, "model.imported", kept)) == len(lines(daemon, "model.missing", kept)) == 1
    assert not lines(daemon, "file.new", renamed)  # a move is not a new file: nothing is read again
    for line in daemon.log().splitlines():
        assert LINE.match(line), line
    assert " event=daemon.serving " in daemon.log()
    logged = (daemon.data_dir / "logs" / "hikaze-mm.log").read_text(encoding="utf-8")
    assert ready in logged.splitlines()


async def test_a_hostile_name_cannot_forge_a_line(daemon_factory, models: Path):
    daemon = await daemon_factory("--models-root", str(models), env=NOT_SYSTEMD)
    await daemon.wait_idle()
    hostile = write_model(models / "loras" / 'two\nlevel=ERROR event=forged "q".safetensors')
    await daemon.wait_row(hostile)
    ready = await one_line(daemon, "file.ready", hostile)
    assert r'\nlevel=ERROR event=forged \"q\".safetensors"' in ready
    assert "event=forged" not in "\n".join(ln[:40] for ln in daemon.log().splitlines())


async def test_under_systemd_the_journal_gets_it_all(daemon_factory, models: Path):
    daemon = await daemon_factory("--models-root", str(models), env={**NOT_SYSTEMD, "INVOCATION_ID": "0123abcd"})
    await daemon.wait_idle()
    dropped = write_model(models / "loras" / "journal.safetensors")
    ready = await one_line(daemon, "file.ready", dropped)
    assert ready.startswith("level=INFO event=file.ready ")
    assert not (daemon.data_dir / "logs").exists()


def test_a_log_file_that_cannot_be_written_is_said_once_not_per_line(root_logging, tmp_path: Path, capsys):
    """The log file lives in the data folder: on a full disk every line would otherwise print a traceback."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "hikaze-mm.log").symlink_to("/dev/full")  # every write fails with ENOSPC
    logs.configure("info", tmp_path, {})
    for i in range(30):
        logging.getLogger("hikaze_mm.test").info("line %d", i, extra={"event": f"x.y{i}"})
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err, err[:2000]
    assert err.count("cannot be written") == 1, err[:2000]
    assert all(f'msg="line {i}"' in err for i in range(30))  # stderr still has every line
