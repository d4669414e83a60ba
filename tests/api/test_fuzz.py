"""Hostile input over every route of the real daemon: malformed JSON, wrong types, huge numbers, long strings, unicode
and control characters, and traversal in path parts, query values, body fields and multipart file names.

Whatever it is sent, the daemon answers below 500 without a stack trace, with a JSON `error` for a JSON error, and
never with a canary file's content; afterwards it is still up, an audit hook inside it (Python's `sys.addaudithook`,
installed through a `sitecustomize`) shows it wrote nothing outside its data_dir and the test's trash and never opened
the canaries or /etc/passwd, its database passes `PRAGMA integrity_check`, and the seeded library is as it was.

The routes come from docs/openapi.yaml (which test_openapi.py holds equal to the registered API routes) plus the
page's routes, so a new route is fuzzed without touching this file, and a route left out fails
`test_every_registered_route_is_fuzzed`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import struct
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import hypothesis
import pytest
import yaml
from hypothesis import strategies as st
from test_openapi import HTTP_METHODS, SPEC, png, seed

from conftest import DEADLINE_S, Daemon, free_port, poll, with_site, write_model
from hikaze_mm.api.page import page_dir
from hikaze_mm.api.routes import create_app
from hikaze_mm.app import MAX_LINE_BYTES, App
from hikaze_mm.config.settings import Settings

EXAMPLES = 25  # per route and input kind; with the sweeps about 30 s on 2 cores
MAX_LINE = MAX_LINE_BYTES - len("PROPFIND  HTTP/1.1")  # the longest target the daemon's HTTP parser takes
MAX_BODY = 1024 * 1024  # the daemon's client_max_size: it may hang up on a larger body instead of reading it
NO_BODY_FUZZ = {"GET /api/events"}  # an endless stream: only its query string is fuzzed
# The page's routes, as the router names them, and the URL each stands for.
PAGE_ROUTES = {"GET /": "/", "GET /index.html": "/index.html", "GET /{dir}/{name}": "/assets/{name}",
               "GET /{name}": "/{name}"}
# Names a file on the daemon's machine by contract (a v1 database, its images folder): it may *read* what it is
# pointed at, canaries included, so it is fuzzed last and its reads are judged apart; it may still write nothing.
READS_WHAT_IT_IS_TOLD = "POST /api/migrate/legacy"
# Runs after everything else, deletes last, so the other routes meet the seeded objects alive.
LAST = {"DELETE /api/models/{sha256}/images/{seq}": 1, "DELETE /api/tags/{id}": 2, "DELETE /api/models/{sha256}": 3,
        READS_WHAT_IT_IS_TOLD: 4}

# Things an answer must never hold: the signs of a Python stack trace or of an exception's name leaking out. (Names
# are matched as words: `hikaze_mm.sqlite3`, the v1 database's file name, is a fine thing to mention.)
TRACE = re.compile("|".join([
    r"Traceback", r'File "', r'\.py", line', r"<module>", r"site-packages", r"\bsqlite3\.[A-Z]\w+",
    r"\baiohttp\.[a-z_]+", r"\basyncio\.[a-z_]+", r"\bhikaze_mm\.[a-z_]+\.", r"\b(?:" + "|".join([
        "KeyError", "TypeError", "ValueError", "AttributeError", "IndexError", "RecursionError", "UnicodeDecodeError",
        "UnicodeEncodeError", "OverflowError", "ZeroDivisionError", "AssertionError", "RuntimeError", "NameError",
        "OSError", "FileNotFoundError", "PermissionError", "IsADirectoryError", "NotADirectoryError",
        "JSONDecodeError", "DecompressionBombError", "UnidentifiedImageError", "OperationalError", "IntegrityError",
        "ProgrammingError", "InterfaceError", "CancelledError", "MemoryError", "LegacyError", "LibraryError",
        "BadRequest", "MetaError", "ImageError"]) + r")\b",
]))
PAGE_CODE = ("text/javascript", "application/javascript", "text/css")
# What the daemon's log shows when a request broke a handler (the API's 500) or a background task died.
CRASH_SIGNS = ("unexpected error", "Task exception was never retrieved", "Exception in callback")

# -- the audit hook -------------------------------------------------------------------------------------------------
# Loaded into the daemon through PYTHONPATH (Python imports `sitecustomize` at start-up). Audit events are raised by
# Python's own file functions, so nothing in the daemon can go round it except C code of its own (SQLite opening its
# files): the folder of canaries is therefore also compared byte for byte before and after.
AUDIT_SITE = r'''
import json, os, sys, threading
from urllib.parse import unquote

_log = os.open(os.environ["HIKAZE_TEST_AUDIT_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# event -> (positions of its path arguments, position of the dir_fd they are relative to, or None)
_EVENTS = {
    "open": ((0,), None), "os.listdir": ((0,), None), "os.scandir": ((0,), None),
    "os.remove": ((0,), 1), "os.rmdir": ((0,), 1), "os.mkdir": ((0,), 2), "os.rename": ((0, 1), 2),
    "os.link": ((0, 1), 2), "os.symlink": ((0, 1), 2), "os.truncate": ((0,), None), "os.chmod": ((0,), 2),
    "os.chown": ((0,), 3), "os.utime": ((0,), 3), "os.setxattr": ((0,), None), "os.removexattr": ((0,), None),
    "shutil.rmtree": ((0,), 1), "shutil.copyfile": ((0, 1), None), "shutil.copytree": ((0, 1), None),
    "shutil.move": ((0, 1), None), "shutil.chown": ((0,), None), "tempfile.mkstemp": ((0,), None),
    "tempfile.mkdtemp": ((0,), None), "sqlite3.connect": ((0,), None),
}
_READS = {"os.listdir", "os.scandir"}
_inside = threading.local()  # the hook's own calls must not log themselves


def _where(path, dir_fd):
    if isinstance(path, int):
        return os.readlink(f"/proc/self/fd/{path}")
    path = os.fsdecode(path)
    relative = dir_fd is not None and dir_fd >= 0  # -1 stands for "no dir_fd" in these events
    base = os.readlink(f"/proc/self/fd/{dir_fd}") if relative else os.getcwd()
    return os.path.realpath(os.path.join(base, path))


def _hook(event, args):
    spec = _EVENTS.get(event)
    if spec is None or getattr(_inside, "on", False):
        return
    _inside.on = True
    try:
        positions, fd_at = spec
        dir_fd = args[fd_at] if fd_at is not None and len(args) > fd_at else None
        raw = [args[i] for i in positions if len(args) > i and args[i] is not None]
        if event == "open":
            write = isinstance(args[2], int) and bool(args[2] & _WRITES)
        elif event == "sqlite3.connect":
            name = os.fsdecode(raw[0])
            if name.startswith("file:"):
                path, _, query = name[5:].partition("?")
                raw = [unquote(path.removeprefix("//"))]
                write = "mode=ro" not in query and "immutable=1" not in query
            else:
                write = name != ":memory:"
            if name in ("", ":memory:"):
                raw = []
        else:
            write = event not in _READS
        record = {"event": event, "paths": [_where(p, dir_fd) for p in raw], "write": write, "pid": os.getpid()}
    except Exception as e:  # a hook that raises would break the daemon's own call
        record = {"event": event, "paths": [], "write": True, "unresolved": repr(e)[:500]}
    finally:
        _inside.on = False
    os.write(_log, (json.dumps(record) + "\n").encode())


sys.addaudithook(_hook)
'''


# -- the API as the spec describes it -------------------------------------------------------------------------------
JSON_TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")


@dataclass(frozen=True)
class Operation:
    method: str
    route: str  # as docs/openapi.yaml or the router names it
    template: str  # the URL with {name} placeholders
    path_params: dict[str, dict[str, Any]]
    query_params: dict[str, dict[str, Any]]
    body: dict[str, Any] | None  # the JSON body's schema
    multipart: bool = False
    images: bool = False  # also reads a PNG or WebP as its whole body (the workflow check)
    page: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.route}"

    def kinds(self) -> list[str]:
        kinds = ["path"] if self.path_params else []
        kinds.append("query")
        if self.label in NO_BODY_FUZZ:
            return kinds
        kinds += ["malformed", "types", "numbers", "long", "unicode", "traversal"]
        if self.images:
            kinds.append("image")
        return [*kinds, "multipart"] if self.multipart else kinds


class Spec:
    def __init__(self, path: Path = SPEC):
        self.doc = yaml.safe_load(path.read_text(encoding="utf-8"))

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def operations(self) -> list[Operation]:
        found = []
        for route, item in self.doc["paths"].items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                params = [self.resolve(p) for p in (*shared, *op.get("parameters", []))]
                content = op.get("requestBody", {}).get("content", {})
                body = self.resolve(content["application/json"]["schema"]) if "application/json" in content else None
                found.append(Operation(
                    method.upper(), route, route,
                    {p["name"]: self.resolve(p.get("schema", {})) for p in params if p["in"] == "path"},
                    {p["name"]: self.resolve(p.get("schema", {})) for p in params if p["in"] == "query"},
                    body, multipart="multipart/form-data" in content, images="image/png" in content,
                ))
        return found

    def types(self, schema: Any) -> set[str]:
        """The JSON types a schema admits."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return set(JSON_TYPES)
        if "oneOf" in schema or "anyOf" in schema:
            return set().union(*(self.types(s) for s in schema.get("oneOf", schema.get("anyOf"))))
        kind = schema.get("type")
        if kind is None:
            return set(JSON_TYPES)
        types = {kind} if isinstance(kind, str) else set(kind)
        return types | {"integer"} if "number" in types else types


def page_operations() -> list[Operation]:
    name = {"name": {"type": "string"}}
    return [Operation("GET", route.split(" ", 1)[1], url, name if "{name}" in url else {}, {}, None, page=True)
            for route, url in PAGE_ROUTES.items()]


def all_operations(spec: Spec) -> list[Operation]:
    ops = spec.operations() + page_operations()
    return sorted(ops, key=lambda op: (LAST.get(op.label, 0), op.label))


def test_every_registered_route_is_fuzzed(tmp_path: Path):
    settings = Settings(models_roots=[tmp_path / "models"], data_dir=tmp_path / "data", watch_mode="off",
                        rescan_interval=0, port=free_port())
    app = create_app(App(settings, watch=False).api_parts())
    registered = {f"{r.method} {r.resource.canonical}" for r in app.router.routes() if r.method != "HEAD"}
    fuzzed = {op.label for op in all_operations(Spec())}
    assert not registered - fuzzed, f"routes the fuzz does not reach: {sorted(registered - fuzzed)}"
    assert not fuzzed - registered, f"fuzzed but not registered: {sorted(fuzzed - registered)}"


# -- hostile values -------------------------------------------------------------------------------------------------
class Raw(str):
    """JSON text put into a body as it is: numbers Python's json would not write (10**4000, NaN, -0)."""


NUMBER_LITERALS = [
    "9223372036854775807", "9223372036854775808", "18446744073709551616", "-9223372036854775808",
    "-9223372036854775809", "1e308", "-1e308", "1e309", "-1e309", "NaN", "Infinity", "-Infinity", "1" + "0" * 4000,
    "-1" + "0" * 4000, "1" + "0" * 5000, "1e-400", "-0", "0.0", "-1", "4.5", "1E+2", "999999999999",
    "1000000000000", "123456789012345678901234567890.5", "0.1e1",
]
# The same, and what a parser of whole numbers in a URL might take for one. None names a seeded object (no "1",
# no "0001"): a fuzzed request that may legitimately succeed must not reach what the integrity check compares.
NUMBER_TEXTS = [*NUMBER_LITERALS, "0x10", "1_000", "+5", " 5", "5 ", "٣", "²", "５", "1e3", "0b1", "1.0",
                "00000000000000000000999999999", "9" * 400]
WRONG_TEXTS = ["true", "false", "null", "[]", "{}", "", "%", "%%", "%zz", "%ff", "%ed%a0%80", "%c0%af", "%00",
               "undefined", "None", "-", "*", "?", "#"]
SPECIAL = ["\x00", "\u202e", "\ud800", "\udfff", "\ud83d", "\n", "\r\n", "\t", "\x1b[31m", "\x7f", "\x85", "\u2028",
           "\ufeff", "\uffff", "\ufffe", "\U0010ffff",
           "🦊", "👩‍👩‍👧", "e\u0301", "ﷺ", "𝕳", "İ", "ß", "\u200b", "'", '"',
           "\\", "<script>alert(1)</script>", "' OR '1'='1' --", "%s%n%x", "{{7*7}}", "${jndi:ldap://x/a}", "\\u0000",
           "http://[::1", "http://[x]/", "https://]", "http://a:99999999999/", "http://%zz", "javascript:alert(1)",
           'NEAR("a" "b")', "a* OR b", "^a", "%", "_"]
# Lists a query parameter reads as many names or words: each is one more condition of a search's SQL.
MANY_TEXTS = [" ".join(["a"] * 2000), " ".join(f"w{i}" for i in range(1001)), ",".join(f"t{i}" for i in range(1500)),
              "x," * 5000, ",".join(["abc"] * 201)]
LONG_SIZES = [100_000, 100_001, 150_000]  # 100 000: the longest text a field takes
CHARS = st.characters(codec=None, exclude_categories=())  # every code point, lone surrogates included


def traversals(tmp: Path, secret: Path, near: Path) -> list[str]:
    """Paths aimed out of every folder the daemon serves from, at the canaries."""
    rel = secret.as_posix().lstrip("/")
    up = "../" * 16
    return [
        "../../etc/passwd", up + "etc/passwd", up + rel, str(secret), "/etc/passwd", "../secret.txt",
        "../outside/secret.txt", "../../outside/secret.txt", "..\\..\\..\\etc\\passwd",
        "..\\" * 16 + rel.replace("/", "\\"), "%2e%2e%2f" * 16 + "etc%2fpasswd",
        "%252e%252e%252f" * 16 + "etc%252fpasswd", "..%2f" * 16 + rel.replace("/", "%2f"), "%2e%2e/" * 16 + rel,
        "..%c0%af" * 8 + "etc/passwd", "....//" * 16 + "etc/passwd", "..;/" * 8 + "etc/passwd",
        "/etc/passwd\x00.png", "../../etc/passwd%00", "secret.txt\x00", "\x00", "file:///etc/passwd",
        f"file://{secret}", "~/../../etc/passwd", "C:\\Windows\\win.ini", "\\\\?\\C:\\secret.txt", "..", ".", "/",
        "//", "./" * 500, f"{tmp}/models/../outside/secret.txt", f"{tmp}/models/loras/../../outside",
        f"{tmp}/data/../outside/secret.txt", str(near), f"{tmp}/data/../secret.txt", "a" * 255, "a" * 4096,
        "a" * 9000, "%2e" * 3000,
    ]


def hostile_text(short: bool = True) -> st.SearchStrategy[str]:
    if short:
        return st.one_of(st.sampled_from(SPECIAL),
                         st.lists(CHARS | st.sampled_from(SPECIAL), min_size=1, max_size=12).map("".join))
    return st.builds(lambda piece, size: (piece * size)[:size],
                     st.sampled_from(["a", "é", "🦊", "\x00", "\u202e", "\ud800", " ", "\n", "a\u0301"])
                     | st.text(CHARS, min_size=1, max_size=3), st.sampled_from(LONG_SIZES))


def dump(value: Any, ascii_only: bool = True) -> str:
    """JSON text with the Raw pieces as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{dump(k, ascii_only)}:{dump(v, ascii_only)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes the bytes no decoder accepts


def url_part(value: str, mode: str) -> str:
    """A path segment or query value as a client might send it: raw (slashes, backslashes and percent signs left
    for the server to make sense of), fully percent-encoded, or percent-encoded twice."""
    if mode == "raw":
        return quote(value, safe="/%\\:;=+@!$&'()*,[]~", errors="surrogatepass")
    once = quote(value, safe="", errors="surrogatepass")
    return once if mode == "full" else quote(once, safe="")


MODES = ("raw", "full", "double")


# -- image payloads -------------------------------------------------------------------------------------------------
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its few bytes of pixels do not have."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def png_with_workflow(name: str, key: bytes) -> bytes:
    """SMALL_PNG carrying, as ComfyUI's SaveImage or A1111 writes it, a workflow whose loaders name `name`."""
    payload = json.dumps({"ckpt_path": name, "sha256": "", "name": name})
    if key == b"parameters":
        text = f"<lora:{name}:0.5>\nSteps: 1, Model: {name}, Model hash: 0123456789"
    elif key == b"prompt":
        text = json.dumps({"1": {"class_type": "LoraLoader", "inputs": {"lora_name": name}},
                           "2": {"class_type": "HikazeCheckpointLoader", "inputs": {"hikaze_payload": payload}}})
    else:
        text = json.dumps({"nodes": [{"id": 1, "type": "VAELoader", "widgets_values": [name]},
                                     {"id": 2, "type": "HikazeCheckpointLoader", "widgets_values": [payload]}]})
    return SMALL_PNG[:33] + png_chunk(b"iTXt", key + b"\0\0\0\0\0" + encoded(text)) + SMALL_PNG[33:]


SMALL_PNG = png((16, 16))
IMAGE_PAYLOADS = [
    b"", b"x", SMALL_PNG[:40], SMALL_PNG[:-12], png_claiming(100_000, 100_000), png_claiming(2**31 - 1, 1),
    png_claiming(0, 0), b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00" * 20, b"\xff\xd8\xff\xe0" + b"\0" * 50,
    b"RIFF\xff\xff\xff\xffWEBPVP8 " + b"\0" * 30, b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"BM" + b"\0" * 60,
    b"%PDF-1.4\n", b"\x89PNG\r\n\x1a\n" + b"\xff" * 100,
]


def form(parts: Iterable[tuple[bytes, bytes]], boundary: bytes = b"fuzzb0undary", close: bool = True) -> bytes:
    out = b"".join(b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n" for head, content in parts)
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


def part_head(name: bytes = b"image", filename: bytes | None = b"cover.png", extra: bytes = b"") -> bytes:
    head = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        head += b'; filename="' + filename + b'"'
    return head + b"\r\nContent-Type: image/png" + extra


MULTIPART = "multipart/form-data; boundary=fuzzb0undary"


# -- requests -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    method: str
    target: str
    body: bytes | None = None
    content_type: str | None = None


@dataclass
class Answer:
    status: int | None
    content_type: str = ""
    headers: str = ""
    body: bytes = b""
    error: str = ""


def exchange(port: int, req: Request, stream: bool = False) -> Answer:
    """One request on a connection of its own, sent byte for byte as built (http.client leaves the target alone)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S)
    try:
        conn.putrequest(req.method, req.target, skip_accept_encoding=True)
        if req.content_type is not None:
            conn.putheader("Content-Type", req.content_type)
        if req.body is not None:
            conn.putheader("Content-Length", str(len(req.body)))
        conn.endheaders(req.body)
        resp = conn.getresponse()
        headers = "\n".join(f"{k}: {v}" for k, v in resp.getheaders())
        data = resp.readline() if stream else resp.read()
        return Answer(resp.status, resp.getheader("Content-Type", ""), headers, data)
    except (OSError, http.client.HTTPException) as e:
        return Answer(None, error=repr(e))
    finally:
        conn.close()


@dataclass
class Context:
    """What the fuzz knows of the seeded library: the objects it may aim at, and the canaries."""

    target_sha: str
    target_seq: int
    target_tag: int
    pending_ids: list[int]
    traversals: list[str]
    assets: list[str]

    def known(self, op: Operation, name: str) -> list[str]:
        if name == "sha256":
            return [self.target_sha]
        if name == "id":
            return [str(i) for i in self.pending_ids] if op.route.startswith("/api/pending") else [str(self.target_tag)]
        if name == "seq":
            return ["0"] if op.route.startswith("/api/pending") else [str(self.target_seq)]
        if name == "name" and op.page:
            return self.assets if "assets" in op.template else ["favicon.svg"]
        schema = op.path_params.get(name, {})
        return [str(v) for v in schema.get("enum", [])] or ["1"]

    def hostile_segment(self) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(self.traversals), st.sampled_from(NUMBER_TEXTS), st.sampled_from(WRONG_TEXTS),
                         hostile_text(), st.sampled_from(MANY_TEXTS))


@dataclass
class Fuzzer:
    port: int
    canaries: list[str]
    problems: list[str] = field(default_factory=list)
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    successes: list[tuple[str, str, str]] = field(default_factory=list)  # accepted changes: method, path, what
    plain_errors: Counter[tuple[str, int]] = field(default_factory=Counter)
    requests: int = 0

    def send(self, op: Operation, kind: str, req: Request) -> Answer:
        stream = op.label in NO_BODY_FUZZ
        answer = exchange(self.port, req, stream=stream)
        self.requests += 1
        self.hits[(op.label, kind)] += 1
        problem = self.judge(req, answer)
        if not problem and stream and answer.status == 200 and answer.body != b": connected\n":
            problem = "an event stream that does not start as documented"
        if problem:
            self.problems.append(f"[{op.label} / {kind}] {req.method} {short(req.target)} "
                                 f"body={short(req.body)} ct={req.content_type!r}\n    -> {answer.status} "
                                 f"{problem}: {short(answer.body)}")
        elif answer.status is not None and answer.status < 300 and req.method not in ("GET", "HEAD"):
            self.successes.append((req.method, req.target.split("?")[0], f"{answer.status} {op.label} ({kind}): "
                                   f"{short(req.target)} {short(req.body)}"))
        return answer

    def judge(self, req: Request, answer: Answer) -> str | None:
        if answer.status is None:
            if req.body is not None and len(req.body) > MAX_BODY:
                return None  # it may refuse to read the rest and hang up
            return f"no answer ({answer.error})"
        if answer.status >= 500:
            return "a server error"
        text = answer.headers + "\n" + answer.body.decode("utf-8", "replace")
        leaked = TRACE.search(text)
        if leaked and answer.status == 200 and answer.content_type.startswith(PAGE_CODE):
            # The page's own script, served as built, may well name a JavaScript `TypeError`: code, not a leak.
            leaked = TRACE.search(answer.headers)
        if leaked:
            return f"a stack trace or an exception's name in the answer ({leaked[0]!r})"
        if any(c in text for c in self.canaries):
            return "a canary's content in the answer"
        if answer.status >= 400:
            if not answer.content_type.startswith("application/json"):
                # Only the HTTP parser, below the app, answers in plain text: to a request line over its limit.
                if len(req.target) < MAX_LINE:
                    return "an error body that is not JSON"
                self.plain_errors[(req.method, answer.status)] += 1
                return None
            try:
                body = json.loads(answer.body)
            except ValueError:
                return "an error body that is not JSON"
            if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip()):
                return "an error body without an `error` message"
        return None


def short(value: str | bytes | None, size: int = 160) -> str:
    if value is None:
        return "-"
    text = repr(value[:size])
    return text + (f"...({len(value)})" if len(value) > size else "")


# -- strategies -----------------------------------------------------------------------------------------------------
class Strategies:
    def __init__(self, spec: Spec, ctx: Context):
        self.spec = spec
        self.ctx = ctx

    def request(self, op: Operation, kind: str) -> st.SearchStrategy[Request]:
        # A body reaches the handler's checks only past the path's, so body kinds mostly aim at real objects.
        path = self.path(op, always_hostile=kind == "path")
        query = self.query(op) if kind == "query" else st.just("")
        if kind in ("path", "query"):
            body: st.SearchStrategy[tuple[bytes | None, str | None]] = st.just((None, None))
        elif kind == "image":
            body = self.image_body()
        elif op.multipart:
            body = self.multipart(kind)
        else:
            body = self.json_body(op, kind)
        return st.builds(lambda p, q, b: Request(op.method, p + q, b[0], b[1]), path, query, body)

    def path(self, op: Operation, always_hostile: bool) -> st.SearchStrategy[str]:
        names = list(op.path_params)
        if not names:
            return st.just(op.template)

        def build(bad: str | None) -> st.SearchStrategy[str]:
            values = {}
            for n in names:
                hostile = st.tuples(self.ctx.hostile_segment(), st.sampled_from(MODES))
                known = st.tuples(st.sampled_from(self.ctx.known(op, n)), st.just("full"))
                values[n] = hostile if n == bad else known
            return st.fixed_dictionaries(values).map(lambda v: fill_template(op.template, v))

        one_hostile = st.sampled_from(names).flatmap(build)
        return one_hostile if always_hostile else st.one_of(build(None), build(None), build(None), one_hostile)

    def query(self, op: Operation) -> st.SearchStrategy[str]:
        generic = st.sampled_from(["unknown", "q", "limit", "id", "path"]) | hostile_text()
        names = st.sampled_from(list(op.query_params)) | generic if op.query_params else generic
        value = st.one_of(self.ctx.hostile_segment(), hostile_text(short=False).map(lambda s: s[:20_000]),
                          st.sampled_from(["5000", "9000"]).map(lambda n: "a" * int(n)))
        pair = st.tuples(names, value, st.sampled_from(MODES)).map(
            lambda t: f"{url_part(t[0], t[2])}={url_part(t[1], t[2])}")
        garbage = st.sampled_from(["%ff%fe=%00", "&&&==", "a[]=1&a[]=2", "%", "%zz=%zz", "=", "?", "limit=1&limit=x",
                                   "q=" + "%ed%a0%80", "q=%00", "&".join(f"p{i}=1" for i in range(1000)),
                                   "&".join(f"tags=t{i}" for i in range(1000))])
        return st.one_of(st.lists(pair, min_size=1, max_size=4).map(lambda ps: "?" + "&".join(ps)),
                         garbage.map(lambda g: "?" + g))

    # JSON bodies
    def json_body(self, op: Operation, kind: str) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
        content_type = st.sampled_from(["application/json"] * 4 + [
            "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
            "application/json; charset=utf-16", "multipart/form-data; boundary=x", "application/json; charset=\"\"",
        ]) | st.none()
        if kind == "malformed":
            body = self.malformed(op)
        else:
            leaf = {"types": self.wrong_type, "numbers": lambda _: st.sampled_from(NUMBER_LITERALS).map(Raw),
                    "long": lambda _: hostile_text(short=False), "unicode": lambda _: hostile_text(),
                    "traversal": lambda _: st.sampled_from(self.ctx.traversals)}[kind]
            body = st.builds(lambda doc, ascii_only: encoded(dump(doc, ascii_only)),
                             self.object(op.body or {}, leaf), st.booleans())
        return st.tuples(body, content_type)

    def object(self, schema: dict[str, Any], leaf: Callable[[Any], st.SearchStrategy[Any]],
               depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
        """An object of the schema's fields, every one of them hostile in the way `leaf` makes them."""
        props = self.spec.resolve(schema).get("properties", {})
        extra = st.dictionaries(hostile_text() | st.sampled_from(["__proto__", "constructor", ""]), leaf({}),
                                max_size=1)
        if not props:
            return st.dictionaries(hostile_text() | st.sampled_from(["x", "ids", "name"]), leaf({}), min_size=1,
                                   max_size=3)
        chosen = st.lists(st.sampled_from(sorted(props)), min_size=1, max_size=len(props), unique=True)
        return st.builds(lambda fields, more: {**fields, **more}, chosen.flatmap(
            lambda names: st.fixed_dictionaries({n: self.value(props[n], leaf, depth) for n in names})), extra)

    def value(self, schema: Any, leaf: Callable[[Any], st.SearchStrategy[Any]], depth: int) -> st.SearchStrategy[Any]:
        schema = self.spec.resolve(schema)
        options = [leaf(schema)]
        types = self.spec.types(schema)
        if depth < 3 and "array" in types and "items" in schema:
            options.append(st.lists(self.value(schema["items"], leaf, depth + 1), min_size=1, max_size=3))
        if depth < 3 and "object" in types and schema.get("properties"):
            options.append(self.object(schema, leaf, depth + 1))
        return st.one_of(options)

    def wrong_type(self, schema: Any) -> st.SearchStrategy[Any]:
        samples: dict[str, st.SearchStrategy[Any]] = {
            "string": st.sampled_from(["1", "true", "null", "[]", ""]) | st.text(max_size=12),
            "integer": st.sampled_from([0, -1, 2**31]) | st.integers(max_value=0),
            "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
            "boolean": st.booleans(),
            "null": st.none(),
            "array": st.lists(st.none() | st.text(max_size=4) | st.floats(allow_nan=False), max_size=3),
            "object": st.dictionaries(st.text(max_size=6), st.none() | st.text(max_size=4), max_size=3),
        }
        allowed = self.spec.types(schema) if schema else set()
        wrong = [t for t in JSON_TYPES if t not in allowed]
        return st.one_of([samples[t] for t in wrong]) if wrong else st.just(Raw("NaN"))

    def safe(self, schema: Any) -> Any:
        """A well-formed value that changes nothing the integrity check compares (ids and numbers name nothing)."""
        schema = self.spec.resolve(schema)
        if schema.get("enum"):
            return next(v for v in schema["enum"] if v is not None)
        types = self.spec.types(schema)
        for kind, make in (("object", lambda: {}), ("array", lambda: [self.safe(schema.get("items", {}))]),
                           ("string", lambda: "fuzz"), ("integer", lambda: 999_999_999), ("boolean", lambda: False)):
            if kind in types:
                return make()
        return None

    def malformed(self, op: Operation) -> st.SearchStrategy[bytes]:
        props = self.spec.resolve(op.body or {}).get("properties", {}) or {"x": {}}
        doc = dump({n: self.safe(s) for n, s in props.items()})
        name = json.dumps(sorted(props)[0])
        good = dump(self.safe(props[sorted(props)[0]]))
        depths = (st.sampled_from([100, 500, 900, 950, 980, 990, 999, 1000, 1500, 5000, 100_000])
                  | st.integers(850, 1100))
        nested = st.builds(lambda d, shape: {
            "list": "[" * d + "]" * d, "object": '{"a":' * d + "1" + "}" * d,
            "field": "{" + name + ":" + "[" * d + "]" * d + "}", "field-object": "{" + name + ":" + '{"a":' * d + "1"
            + "}" * d + "}"}[shape], depths, st.sampled_from(["list", "object", "field", "field-object"]))
        bad_bytes = st.sampled_from([b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xf8\x88\x80\x80\x80",
                                     b"\x00", b"\xef\xbb\xbf"])
        return st.one_of(
            st.integers(1, len(doc) - 1).map(lambda n: doc[:n].encode()),
            st.tuples(st.integers(0, len(doc)), bad_bytes).map(
                lambda t: doc.encode()[:t[0]] + t[1] + doc.encode()[t[0]:]),
            st.sampled_from([("\ufeff", "utf-8"), ("\ufeff", "utf-16-le"), ("\ufeff", "utf-16-be"), ("", "utf-16"),
                             ("\ufeff", "utf-32-le"), ("", "utf-32"), ("", "latin-1")]).map(
                lambda b: (b[0] + doc).encode(b[1], "replace")),
            st.sampled_from(["[]", "[" + doc + "]", '"' + doc.replace('"', "'") + '"', "1", "-1", "null", "true",
                             "1e999", '"\\ud800"', "NaN", " \n\t ", "\x00"]).map(str.encode),
            nested.map(str.encode),
            st.sampled_from([f"{{{name}:{good},{name}:{{}}}}", f"{{{name}:[],{name}:{good}}}",
                             f"{{{name}:{good},{name}:NaN}}", f'{{"a":1,"a":2,{name}:{good}}}']).map(str.encode),
            st.sampled_from(["{'a': 1}", "{a: 1}", '{"a": 1,}', "// c\n{}", "{}garbage", "{} {}", '{"a": 01}',
                             '{"a": .5}', '{"a": +1}', '{"a": 0x10}', "{\x00}", '{"a": "\x00"}', '{"a": "\n"}',
                             '{"\\u0000": 1}', '{"a": "\\u12"}', '{"a": "\\x41"}', "{" * 3 + "}" * 2]).map(str.encode),
            st.just(b'{"name": "' + b"a" * (2 * MAX_BODY) + b'"}'),
            st.binary(min_size=1, max_size=64).filter(lambda b: bool(b.strip())),
        )

    # whole-body images (the workflow check): broken ones, and real ones whose metadata names hostile files
    def image_body(self) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
        named = st.one_of(hostile_text(), hostile_text(short=False), st.sampled_from(self.ctx.traversals))
        carrying = st.builds(png_with_workflow, named, st.sampled_from([b"workflow", b"prompt", b"parameters"]))
        types = st.sampled_from(["image/png", "image/webp", "image/png; charset=x", "image/gif"])
        return st.tuples(st.one_of(st.sampled_from(IMAGE_PAYLOADS), carrying), types)

    # multipart bodies (the image upload)
    def multipart(self, kind: str) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
        if kind == "malformed":
            return st.one_of(self.malformed_form(), st.tuples(st.sampled_from([b"{", b"[]", b'{"image": 1}']),
                                                             st.just("application/json")))
        text = {"types": st.sampled_from(["1", "true", "null", "[]", '{"a": 1}', ""]),
                "numbers": st.sampled_from(NUMBER_LITERALS), "long": hostile_text(short=False),
                "unicode": hostile_text(), "traversal": st.sampled_from(self.ctx.traversals)}.get(kind)
        if text is None:  # "multipart": payloads that claim to be images
            images = st.sampled_from(IMAGE_PAYLOADS).map(lambda p: form([(part_head(), p)]))
            return st.tuples(images, st.just(MULTIPART))
        as_bytes = text.map(encoded)
        shaped = st.one_of(
            as_bytes.map(lambda t: form([(part_head(), t)])),  # the field's content
            as_bytes.map(lambda t: form([(part_head(filename=t), SMALL_PNG)])),  # the file's name
            as_bytes.map(lambda t: form([(part_head(name=t), SMALL_PNG)])),  # the field's name
            as_bytes.map(lambda t: form([(part_head(filename=None), t)])),  # a field that is not a file
            as_bytes.map(lambda t: form([(part_head(extra=b"\r\nContent-Length: " + t), SMALL_PNG)])),
            as_bytes.map(lambda t: form([(part_head(), t), (part_head(), SMALL_PNG[:20])])),  # the field twice
        )
        return st.tuples(shaped, st.just(MULTIPART))

    def malformed_form(self) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
        good = form([(part_head(), SMALL_PNG)])
        return st.one_of(
            st.tuples(st.just(good), st.sampled_from(["multipart/form-data", "multipart/form-data; boundary=",
                                                      "multipart/form-data; boundary=other", "multipart/mixed",
                                                      "multipart/form-data; boundary=" + "b" * 300,
                                                      'multipart/form-data; boundary="fuzzb0undary'])),
            st.tuples(st.integers(1, len(good) - 1).map(lambda n: good[:n]), st.just(MULTIPART)),
            st.tuples(st.sampled_from([
                form([(part_head(), SMALL_PNG)], close=False), good.replace(b"\r\n", b"\n"),
                form([(b"Content-Disposition: form-data; name=image" + b"x" * 100_000, SMALL_PNG)]),
                form([(b"", SMALL_PNG)]), form([(b"Content-Disposition: attachment", SMALL_PNG)]),
                form([(part_head(), b"x")] * 1000), form([(part_head(name=b"other"), b"x")]),
                form([(b"Content-Type: multipart/mixed; boundary=inner", form([(part_head(), SMALL_PNG)], b"inner"))]),
                form([(part_head(extra=b"\r\nContent-Transfer-Encoding: base64"), b"!!!not base64!!!")]),
                form([(part_head(extra=b"\r\nContent-Encoding: gzip"), b"\x1f\x8b" + b"\x00" * 20)]),
                b"--fuzzb0undary--\r\n", b"\r\n" * 50, b"",
            ]), st.just(MULTIPART)),
        )


def fill_template(template: str, values: dict[str, tuple[str, str]]) -> str:
    for name, (value, mode) in values.items():
        template = template.replace("{" + name + "}", url_part(value, mode))
    return template


def string_slots(spec: Spec, schema: Any, depth: int = 0) -> list[Callable[[str], Any]]:
    """For every string a body of `schema` can hold (in its fields, lists and nested objects), a function that makes
    a body with the given string in that place."""
    schema = spec.resolve(schema or {})
    types = spec.types(schema)
    slots: list[Callable[[str], Any]] = []
    if "string" in types and depth:
        slots.append(lambda text: text)
    if "array" in types and "items" in schema and depth < 3:
        slots += [lambda text, inner=inner: [inner(text)] for inner in string_slots(spec, schema["items"], depth + 1)]
    if "object" in types and depth < 3:
        for name, sub in schema.get("properties", {}).items():
            slots += [lambda text, name=name, inner=inner: {name: inner(text)}
                      for inner in string_slots(spec, sub, depth + 1)]
    return slots


WRONG_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND")


def sweep(op: Operation, ctx: Context, spec: Spec, fuzzer: Fuzzer, first_on_route: bool) -> None:
    """Every traversal in every path part (in each encoding), every traversal and odd string in every string of the
    body, and every hostile value in every documented query parameter: too important to leave to sampling. And
    every method the route does not take."""
    for name in op.path_params:
        for value in ctx.traversals:
            for mode in MODES:
                values = {n: (value, mode) if n == name else (ctx.known(op, n)[0], "full") for n in op.path_params}
                fuzzer.send(op, "path", Request(op.method, fill_template(op.template, values)))
    path = fill_template(op.template, {n: (ctx.known(op, n)[0], "full") for n in op.path_params})
    for name in op.query_params:
        for value in [*ctx.traversals, *NUMBER_TEXTS, *WRONG_TEXTS, *SPECIAL, *MANY_TEXTS]:
            fuzzer.send(op, "query", Request(op.method, f"{path}?{name}={url_part(value, 'full')}"))
    for slot in string_slots(spec, op.body):
        for value in [*ctx.traversals, *SPECIAL]:
            fuzzer.send(op, "traversal", Request(op.method, path, encoded(dump(slot(value))), "application/json"))
    if op.multipart:
        for value in ctx.traversals:
            for head in (part_head(filename=encoded(value)), part_head(name=encoded(value))):
                fuzzer.send(op, "traversal", Request(op.method, path, form([(head, SMALL_PNG)]), MULTIPART))
    if first_on_route and not op.page:
        taken = {m.upper() for m in spec.doc["paths"][op.route] if m in HTTP_METHODS}
        for method in WRONG_METHODS:
            if method not in taken and not (method == "OPTIONS" and "GET" in taken):
                fuzzer.send(op, "method", Request(method, path, b'{"ids": [', "application/json"))


def run_examples(strategy: st.SearchStrategy[Request], consume: Callable[[Request], Any], examples: int) -> None:
    """Draws `examples` requests. Nothing is raised inside, so hypothesis never shrinks: every problem is recorded
    and the run stays the same length on every push."""

    @hypothesis.settings(max_examples=examples, derandomize=True, database=None, deadline=None, print_blob=False,
                         phases=[hypothesis.Phase.generate], suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(req=strategy)
    def run(req: Request) -> None:
        consume(req)

    run()


# -- the library and what must survive ------------------------------------------------------------------------------
async def seed_target(d: Daemon, models: Path) -> dict[str, Any]:
    """A model the fuzz may aim at with real ids, so that hostile bodies reach the checks behind the path's; unlike
    the model seed() makes, it may change when a fuzzed request is legitimately accepted."""
    path = write_model(models / "loras" / "target.safetensors")
    (sha256,) = await d.import_files(path)
    upload = aiohttp.FormData()
    upload.add_field("image", png(), filename="target.png", content_type="image/png")
    status, image = await d.request("POST", f"/api/models/{sha256}/images", data=upload)
    assert status == 201, image
    tag = await d.call("POST", "/api/tags", {"name": "target-tag"}, expect=201)
    await d.call("PATCH", f"/api/models/{sha256}", {"tags": ["target-tag"], "meta_json": {"notes": "target"}})
    return {"sha256": sha256, "seq": image["seq"], "tag": tag["id"], "path": str(path)}


async def library_state(d: Daemon, known: dict[str, Any], models: Path) -> dict[str, Any]:
    """What no fuzzed request may change: seed()'s model (the fuzz never names it), with its tags, metadata and
    images down to the pixels served; the seeded pending rows (no fuzzed body ever holds a real pending id); the
    seeded tags other than the target's; and the model files. The target and anything the fuzz created are left
    out: a fuzzed request that is well-formed after all (a tag named "🦊") may change them."""
    assert d.session is not None
    sha = known["sha256"]
    model = await d.get(f"/api/models/{sha}")
    pixels = {}
    for image in model["images"]:
        for url in image["urls"].values():
            async with d.session.get(d.url + url) as resp:
                pixels[url] = (resp.status, hashlib.sha256(await resp.read()).hexdigest())
    tags = [t for t in (await d.get("/api/tags"))["tags"] if t["name"] in ("fuzzed", "style")]
    return {
        "model": model, "images": await d.get(f"/api/models/{sha}/images"), "pixels": pixels, "tags": tags,
        "pending": [await d.get(f"/api/pending/{i}") for i in known["pending"]],
        "files": {str(p.relative_to(models)): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in sorted(models.rglob("*")) if p.is_file() and "target" not in p.name},
    }


def folder_state(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def audit_findings(log: Path, legacy_from: int, writable: list[Path], readable: list[Path], tmp: Path,
                   forbidden: list[Path]) -> list[str]:
    """Writes outside `writable`; reads under `tmp` outside `readable`, and of `forbidden`, except the reads the
    legacy migration makes of the file it is told to read (from byte `legacy_from` of the log on)."""
    findings = []
    raw = log.read_bytes()
    for offset, line in line_offsets(raw):
        record = json.loads(line)
        if "unresolved" in record:
            findings.append(f"an event the hook could not place: {record}")
            continue
        for p in map(Path, record["paths"]):
            if not p.is_absolute():  # a pipe or a socket named by its descriptor
                continue
            if record["write"]:
                if not any(p == w or w in p.parents for w in writable):
                    findings.append(f"{record['event']} wrote {p}")
                continue
            if offset >= legacy_from:
                continue
            outside = (p == tmp or tmp in p.parents) and not any(p == r or r in p.parents for r in readable)
            if outside or p in forbidden:
                findings.append(f"{record['event']} read {p}")
    return findings


def line_offsets(raw: bytes) -> Iterable[tuple[int, bytes]]:
    offset = 0
    for line in raw.splitlines(keepends=True):
        if line.strip():
            yield offset, line
        offset += len(line)


# -- what the fuzz found ---------------------------------------------------------------------------------------------
# Each got a 500 when this file was written; each must be a 4xx with a reason. They are spelled out here too, so a
# regression names itself without a fuzz run to read.
FOUND: list[tuple[str, str, str | None, str]] = [
    ("PATCH", "/api/models/{sha256}", '{"name": ' + "[" * 600 + "]" * 600 + "}",
     "lists nested deep enough to overflow the check for lone surrogates"),
    ("GET", "/api/pending/1" + "0" * 5000 + "/images/0/low", None, "an id of more digits than int() converts"),
    ("GET", "/api/models?q=" + "+".join(["a"] * 2000), None, "a search of more words than SQLite can nest"),
    ("GET", "/api/facets?tags=" + ",".join(f"t{i}" for i in range(1000)), None,
     "more tags than SQLite can nest conditions for"),
    ("PATCH", "/api/models/{sha256}", '{"meta_json": {"community_links": ["http://[::1"]}}', "an unclosed IPv6 host"),
    ("PATCH", "/api/models/{sha256}", '{"meta_json": {"community_links": ["http://[x]/"]}}', "a bracketed non-IP host"),
]


async def test_what_the_fuzz_found_is_refused_with_a_4xx(daemon: Daemon, models: Path):
    (sha256,) = await daemon.import_files(write_model(models / "loras" / "found.safetensors"))
    wrong = []
    for method, path, body, what in FOUND:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, answer = await daemon.request(method, path.replace("{sha256}", sha256), data=body, headers=headers)
        if not (400 <= status < 500 and isinstance(answer, dict) and answer.get("error")):
            wrong.append(f"{method} {path[:80]} with {what}: {status} {answer}")
    assert not wrong, "\n".join(wrong)


async def test_a_closed_event_stream_ends_quietly(daemon: Daemon, models: Path):
    """A client that goes away is the usual end of an event stream: the daemon finds out at its next write, and
    that is no error to log (it logged a 500 it could not even send)."""
    (sha256,) = await daemon.import_files(write_model(models / "loras" / "watched.safetensors"))
    answer = exchange(daemon.port, Request("GET", "/api/events"), stream=True)
    assert (answer.status, answer.body) == (200, b": connected\n")

    async def noticed() -> bool:
        await daemon.call("PATCH", f"/api/models/{sha256}", {"name": "renamed"})  # an event for the stream
        log = daemon.log()
        return "event stream closed by the client" in log or "unexpected error in GET /api/events" in log

    await poll(noticed, "the daemon to notice the closed stream")
    assert not [sign for sign in CRASH_SIGNS if sign in daemon.log()], daemon.log()[-3000:]


# -- the fuzz -------------------------------------------------------------------------------------------------------
# About 14,000 requests over every route: a minute alone, several on a machine that runs other work.
@pytest.mark.timeout(600)
async def test_every_route_survives_hostile_input(daemon_factory: Callable[..., Awaitable[Daemon]], models: Path,
                                                  tmp_path: Path):
    tmp = tmp_path.resolve()
    outside = tmp / "outside"
    outside.mkdir()
    token = f"canary-{uuid.uuid4().hex}"
    secret = outside / "secret.txt"
    secret.write_text(f"{token} outside\n")
    near = tmp / "secret.txt"  # one folder up from data_dir and from the models
    near.write_text(f"{token} near\n")
    (outside / "cover.png").write_bytes(token.encode())
    passwd = Path("/etc/passwd")
    canaries = [token] + (["root:x:0:0"] if passwd.is_file() and "root:x:0:0" in passwd.read_text() else [])
    before_outside = folder_state(outside)

    audit = tmp / "audit.jsonl"
    env = {**with_site(tmp, AUDIT_SITE), "HIKAZE_TEST_AUDIT_LOG": str(audit), "PYTHONDONTWRITEBYTECODE": "1"}
    site = tmp / "site"
    d: Daemon = await daemon_factory("--models-root", str(models), env=env)
    known = await seed(d, models)
    target = await seed_target(d, models)
    await d.wait_idle()
    before = await library_state(d, known, models)

    spec = Spec()
    folder = page_dir()
    ctx = Context(target["sha256"], target["seq"], target["tag"], known["pending"], traversals(tmp, secret, near),
                  sorted(p.name for p in (folder / "assets").iterdir()) if folder else ["index.js"])
    strategies = Strategies(spec, ctx)
    fuzzer = Fuzzer(d.port, canaries)
    ops = all_operations(spec)
    started = time.monotonic()

    legacy_from = sys.maxsize  # the audit log's offset where the legacy migration's reads begin
    for op in ops:
        if op.label == READS_WHAT_IT_IS_TOLD:
            legacy_from = audit.stat().st_size
        sweep(op, ctx, spec, fuzzer, first_on_route=op is next(o for o in ops if o.template == op.template))
        for kind in op.kinds():
            run_examples(strategies.request(op, kind), lambda req, op=op, kind=kind: fuzzer.send(op, kind, req),
                         EXAMPLES)
    fuzz_seconds = time.monotonic() - started
    print(f"{fuzzer.requests} hostile requests over {len(ops)} routes in {fuzz_seconds:.1f}s; "
          f"{len(fuzzer.successes)} mutating requests accepted; non-JSON errors: {dict(fuzzer.plain_errors)}")
    for label, count in sorted(Counter(line.split(" (")[0] for _, _, line in fuzzer.successes).items()):
        print(f"  accepted {count}x: {label}")

    failures: list[str] = []
    if fuzzer.problems:
        failures.append(f"{len(fuzzer.problems)} bad answers:\n" + "\n".join(fuzzer.problems[:60]))
    missed = [f"{op.label} / {kind}" for op in ops for kind in op.kinds() if not fuzzer.hits[(op.label, kind)]]
    if missed:
        failures.append(f"never fuzzed: {missed}")

    # The daemon is still up, idle again, and the library it was seeded with is as it was.
    assert d.proc is not None and d.proc.poll() is None, f"the daemon died:\n{d.log()[-5000:]}"
    assert (await d.get("/api/health"))["status"] == "ok"
    await d.wait_idle()
    after = await library_state(d, known, models)
    for key in before:
        if after[key] != before[key]:
            failures.append(f"the seeded library changed ({key}):\n  before {before[key]}\n  after  {after[key]}")
    status, model = await d.request("GET", f"/api/models/{target['sha256']}")
    if status == 404:
        if ("DELETE", f"/api/models/{target['sha256']}") not in {(m, p) for m, p, _ in fuzzer.successes}:
            failures.append("the target model is gone, and no request to delete it was accepted")
    elif model["path"] != target["path"]:
        failures.append(f"the target model moved: {model['path']}")

    assert d.terminate() == 0, d.log()[-5000:]
    damage = await d.db.damage()
    if damage:
        failures.append(f"the database is damaged: {damage}")
    if folder_state(outside) != before_outside:
        failures.append(f"the canaries' folder changed: {folder_state(outside)}")
    findings = audit_findings(
        audit, legacy_from, writable=[d.data_dir.resolve(), tmp / "xdg-data"],
        readable=[d.data_dir.resolve(), models.resolve(), tmp / "xdg-data", site], tmp=tmp,
        forbidden=[passwd, Path("/etc/shadow")])
    if findings:
        failures.append(f"{len(findings)} file operations outside data_dir:\n" + "\n".join(sorted(set(findings))[:40]))
    daemon_log = d.log()
    for sign in CRASH_SIGNS:
        if sign in daemon_log:
            lines = [line[:3000] for line in daemon_log.splitlines() if sign in line]
            failures.append(f"the daemon log holds {sign!r} {len(lines)} times:\n" + "\n".join(lines[:5]))
    assert not failures, "\n\n".join(failures)
