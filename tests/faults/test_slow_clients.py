"""Clients that hold connections open without finishing a request (slow loris): the daemon keeps answering, keeps
its file descriptors for hashing, and its log stays readable."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import aiohttp

from conftest import DEADLINE_S, Daemon, digests, poll, with_site, write_model

SOFT_NOFILE, HARD_NOFILE = 96, 192  # below what 300 held connections need
ATTACKERS = 300
MAX_OPENS = 6000  # the attack is bounded even if the daemon closes every connection at once
REQUEST_TIMEOUT = "2"


class SlowLoris:
    """`count` loopback connections that each send a header byte a second and never finish; one the daemon closes
    is opened again, as an attacker would."""

    def __init__(self, port: int, count: int):
        self.port = port
        self.count = count
        self.opened = 0  # connections that got through connect()
        self.closed_by_daemon = 0
        self.answers: list[bytes] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._hold()) for _ in range(self.count)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pause(self, seconds: float) -> None:
        """Paces the attacker; it waits on nothing but the end of the attack."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _hold(self) -> None:
        while not self._stop.is_set() and self.opened < MAX_OPENS:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await self._pause(0.1)
                continue
            self.opened += 1
            try:
                writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                while not self._stop.is_set():
                    writer.write(b"a")
                    await writer.drain()
                    # The read paces the bytes a second apart and notices the daemon closing the connection.
                    with contextlib.suppress(asyncio.TimeoutError):
                        data = await asyncio.wait_for(reader.read(4096), 1.0)
                        if data:
                            self.answers.append(data[:12])
                        self.closed_by_daemon += 1
                        break
            except OSError:
                self.closed_by_daemon += 1
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await self._pause(1.0)  # the attacker comes back a second later


async def fresh_health(url: str) -> bool:
    """/api/health on a connection of its own, as a supervisor asks it."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=3)) as session:
        try:
            async with session.get(url + "/api/health") as resp:
                return resp.status == 200 and (await resp.json())["status"] == "ok"
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False


def nofile_limits(pid: int) -> tuple[int, int]:
    limits = Path(f"/proc/{pid}/limits").read_text()
    match = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.MULTILINE)
    assert match, limits
    return int(match[1]), int(match[2])


async def test_slow_connections_cannot_starve_the_daemon(daemon_factory, models: Path):
    d: Daemon = await daemon_factory(
        "--models-root", str(models), "--request-timeout", REQUEST_TIMEOUT,
        prefix=("prlimit", f"--nofile={SOFT_NOFILE}:{HARD_NOFILE}", "--"),
        env={"INVOCATION_ID": "", "JOURNAL_STREAM": ""},  # a log file, as outside systemd
    )
    assert d.proc is not None
    assert nofile_limits(d.proc.pid) == (HARD_NOFILE, HARD_NOFILE)  # the soft limit raised to the hard one
    await d.wait_idle()
    log_file = d.data_dir / "logs" / "hikaze-mm.log"
    loris = SlowLoris(d.port, ATTACKERS)
    loris.start()
    try:
        await poll(lambda: asyncio.sleep(0, loris.opened >= ATTACKERS), "the attack to hold its connections")
        dropped = write_model(models / "loras" / "during-the-attack.safetensors", size=256 * 1024)
        row = await d.wait_row(dropped, "ready")
        assert (row["sha256"], row["blake3"]) == digests(dropped)
        for _ in range(5):
            await poll(lambda: fresh_health(d.url), "/api/health to answer during the attack")
        # Connections that never finish their headers are closed by the daemon, not held for ever.
        await poll(lambda: asyncio.sleep(0, loris.closed_by_daemon >= ATTACKERS),
                   "the daemon to close the slow connections")
        assert all(a.startswith(b"HTTP/1.1 4") or a.startswith(b"HTTP/1.1 5") for a in loris.answers), loris.answers
    finally:
        await loris.stop()
    assert await fresh_health(d.url)
    assert not [r for r in await d.pending() if r["status"] == "error"], await d.pending()
    assert not log_file.with_name(log_file.name + ".1").exists(), "the log rotated its history away"
    assert log_file.stat().st_size < 256 * 1024, log_file.stat().st_size
    assert "event=daemon.serving" in log_file.read_text(encoding="utf-8")


async def test_a_body_that_does_not_arrive_is_cut_off_and_changes_nothing(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--request-timeout", REQUEST_TIMEOUT)
    (sha,) = await d.import_files(write_model(models / "loras" / "kept.safetensors"))
    await d.call("PATCH", f"/api/models/{sha}", {"name": "before"})
    body = b'{"name": "after"}'
    reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
    try:
        writer.write(f"PATCH /api/models/{sha} HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode() + body)
        await writer.drain()

        async def cut_off() -> bytes | None:
            with contextlib.suppress(asyncio.TimeoutError):
                writer.write(b" ")  # one byte a second, never the whole body
                await writer.drain()
                return await asyncio.wait_for(reader.read(4096), 1.0) or b"closed"
            return None

        answer = await poll(cut_off, "the daemon to give up on the body")
    except ConnectionResetError:
        answer = b"reset"
    finally:
        writer.close()
    assert answer in (b"closed", b"reset") or answer.startswith(b"HTTP/1.1 408"), answer
    assert (await d.get(f"/api/models/{sha}"))["name"] == "before"
    assert await fresh_health(d.url)


async def test_headers_that_do_not_arrive_are_answered_408(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--request-timeout", REQUEST_TIMEOUT)
    reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        async def answered() -> bytes | None:
            with contextlib.suppress(asyncio.TimeoutError):
                writer.write(b"X")  # a header byte a second, never the end of the headers
                await writer.drain()
                return await asyncio.wait_for(reader.read(4096), 1.0) or b"closed"
            return None

        answer = await poll(answered, "the daemon to give up on the headers")
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request headers did not arrive in time" in answer, answer


# Loaded into the daemon as its sitecustomize: once the folder HIKAZE_TEST_HOG exists, a thread takes every free
# file descriptor (as a leak elsewhere in the process, or other clients, would) and holds them until the folder is
# removed. It makes a folder to say it holds them, since making one needs no descriptor.
HOG_SITE = '''
import os, threading

def _hog():
    flag = os.environ["HIKAZE_TEST_HOG"]
    while not os.path.isdir(flag):
        threading.Event().wait(0.02)
    held = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    os.mkdir(flag + "-held")
    while os.path.isdir(flag):
        threading.Event().wait(0.02)
    for fd in held:
        os.close(fd)

threading.Thread(target=_hog, daemon=True).start()
'''


async def test_a_file_hashed_while_no_descriptor_is_free_is_tried_again(daemon_factory, models: Path, tmp_path: Path):
    hog = tmp_path / "hog"
    d: Daemon = await daemon_factory(
        "--models-root", str(models), prefix=("prlimit", f"--nofile={HARD_NOFILE}:{HARD_NOFILE}", "--"),
        env={**with_site(tmp_path, HOG_SITE), "HIKAZE_TEST_HOG": str(hog)})
    await d.wait_idle()
    hog.mkdir()
    await poll(lambda: asyncio.sleep(0, hog.with_name("hog-held").is_dir()), "the descriptors to be taken")
    dropped = write_model(models / "loras" / "no-descriptor.safetensors")
    tried = (f"event=file.retry_later path={dropped}", f"event=file.error path={dropped}")
    await poll(lambda: asyncio.sleep(0, any(t in d.log() for t in tried)), "the daemon to try to open the file")
    hog.rmdir()
    row = await d.wait_row(dropped, "ready")
    assert (row["sha256"], row["blake3"]) == digests(dropped)
    assert "Too many open files" not in str(row["error"])


async def test_a_kept_alive_connection_is_closed_without_an_answer_when_idle(daemon_factory, models: Path):
    """Also after a request the Host check refused: an answer the client did not ask for would be read as the
    answer to its next request."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--request-timeout", REQUEST_TIMEOUT)
    reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
    try:
        for host in (f"127.0.0.1:{d.port}", "evil.example"):
            writer.write(f"GET /api/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)[1])
            await reader.readexactly(length)
            assert head.startswith(b"HTTP/1.1 403 " if host == "evil.example" else b"HTTP/1.1 200 "), head
        assert await asyncio.wait_for(reader.read(4096), 30) == b""  # closed after the timeout, without a word
    finally:
        writer.close()



async def _open_requests(port: int, count: int, head: bytes) -> list[asyncio.StreamWriter]:
    """`count` connections that each send `head` and nothing more (yet)."""
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        await writer.drain()
        writers.append(writer)
    return writers


async def _trickle(writers: list[asyncio.StreamWriter], stop: asyncio.Event) -> None:
    """A byte a second on every connection still open, until `stop`."""
    while not stop.is_set():
        for w in writers:
            if not w.is_closing():
                with contextlib.suppress(OSError):
                    w.write(b"x")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)  # paces the trickle; ends at once on stop


async def _health_answers(d: Daemon) -> None:
    async def answered() -> bool:
        with contextlib.suppress(aiohttp.ClientError):
            return (await d.request("GET", "/api/health"))[0] == 200
        return False

    await poll(answered, "the health check to be answered while every connection is taken")


async def test_uploads_that_trickle_in_cannot_take_every_connection(daemon_factory, models: Path):
    """Requests that declare a huge body and send a byte a second: the declared length buys no time, and at the
    connection cap the slowest body makes room."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--request-timeout", REQUEST_TIMEOUT,
                                     "--max-connections", "8")
    (sha,) = await d.import_files(write_model(models / "loras" / "m.safetensors"))
    head = (f"POST /api/models/{sha}/images HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
            "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 1000000000000\r\n\r\n"
            '--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n').encode()
    writers = await _open_requests(d.port, 12, head)
    stop = asyncio.Event()
    trickling = asyncio.create_task(_trickle(writers, stop))
    try:
        await _health_answers(d)

        async def cut_off() -> bool:
            return "what=request_body" in d.log()

        await poll(cut_off, "a trickling upload to be cut off within the timeout")
        assert (await d.get(f"/api/models/{sha}/images"))["images"] == []
    finally:
        stop.set()
        await trickling
        for w in writers:
            w.close()


async def test_event_streams_cannot_take_every_connection(daemon_factory, models: Path):
    """Event streams stay open as long as the client likes; at the cap the oldest is closed (EventSource opens it
    again by itself) rather than refusing everyone else."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--max-connections", "8")
    head = f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n".encode()
    streams = []
    try:
        # Every slot an answered stream first: a request whose headers are in but not yet read would count as
        # half-sent (slow loris) and go first, which is the guard's rule, not what this test is about.
        for _ in range(8):
            reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
            streams.append(writer)
            writer.write(head)
            await writer.drain()
            assert (await asyncio.wait_for(reader.readline(), DEADLINE_S)).startswith(b"HTTP/1.1 200")
        streams += await _open_requests(d.port, 4, head)
        await _health_answers(d)
        assert "event=http.evicted" in d.log()
    finally:
        for w in streams:
            w.close()


async def test_a_declared_body_length_buys_no_time(daemon_factory, models: Path):
    """One upload that declares a terabyte and sends a byte a second, far below the cap: it is cut once it falls
    behind the minimum rate, not in the 177 days its declared length would have bought."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--request-timeout", REQUEST_TIMEOUT)
    (sha,) = await d.import_files(write_model(models / "loras" / "m.safetensors"))
    head = (f"POST /api/models/{sha}/images HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
            "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 1000000000000\r\n\r\n").encode()
    writers = await _open_requests(d.port, 1, head)
    stop = asyncio.Event()
    trickling = asyncio.create_task(_trickle(writers, stop))
    try:
        async def cut_off() -> bool:
            return "what=request_body" in d.log()

        await poll(cut_off, "the trickling upload to be cut off")
        assert "event=http.evicted" not in d.log()
    finally:
        stop.set()
        await trickling
        writers[0].close()
