"""The same library on PostgreSQL and on SQLite, through the real daemon (`python -m hikaze_mm serve`): a page, a
search, facets, an import batch and the start-up walk of an unchanged host at 100,000 models, the page and the
search at 1,000 models too; then two daemons (two host_ids on one PostgreSQL) importing 2,000 files each at once,
against two SQLite daemons doing the same on their own files, and against one of the hosts importing alone.

The libraries are `library_scale`'s (the same seed, so the same models, tags, images and search text), with every
model's file on disk (`big_library`'s tree: 64 to 191 bytes each, real fingerprints) and, at 100,000, ready pending
rows with files of their own for the import batches. Each is written once into a SQLite file, and that file is
copied into a PostgreSQL database by `hikaze-mm db copy`'s own code (its time is reported), then `VACUUM ANALYZE`,
the state autovacuum brings a loaded database to. The PostgreSQL server is the tests' throw-away
one (`tests/pg_server.py`: its defaults, fsync and synchronous_commit off); SQLite runs as the daemon sets it up
(WAL, synchronous NORMAL). Every request kind is sent to the four daemons in turn, request by request, so a busy
patch of the machine lands on all of them.

Goals (issue 15): the page and search goals stand for both backends: a page at 100,000 models within 2x of the page
at 1,000, a search at 100,000 within 2x of the same search at 1,000 (`million`'s goal) and within 3x of the page at
100,000 (`library_scale`'s). PostgreSQL / SQLite ratios are reported, not judged. A wrong total, an import that
does not import every row, a walk that finds a file changed, a host whose models are not all there, or a daemon that
does not exit 0 on SIGTERM fails the script.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from _common import MIB, SERVE, cpu_seconds, in_workdir, stop_daemon, verdict, walk_and_stat
from big_library import Daemon, StartUp, Tree, body, header_meta, start_up, unchanged_walk, walk_problem
from first_index import safetensors_body
from library_scale import BASE_MODELS, FACET_TAG, TAG_FILTER, TAGS, TYPES, Library, generate, model_name
from memory import free_port, idle

from hikaze_mm.store.postgres.database import connect, migrate
from hikaze_mm.store.transfer import copy_library

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pg_server import PgServer, running_pg_server  # the tests' throw-away server

PAGE_GOAL = 2.0  # page at 100,000 / page at 1,000
SEARCH_SCALE_GOAL = 2.0  # search at 100,000 / the same search at 1,000
SEARCH_PAGE_GOAL = 3.0  # search at 100,000 / page at 100,000
HOST = "bench"  # the host_id of the PostgreSQL daemons (every file of the copied library is this host's)
SEARCHES = ("naut", "juggernaut")
BACKENDS = ("sqlite", "postgres")


@dataclass
class Built:
    """A library on disk and in its SQLite file, and the answers the daemon owes for it."""

    size: int
    root: Path
    sqlite_file: Path
    lib: Library
    ready_ids: list[int]
    files: int
    seconds: float


def build(workdir: Path, name: str, size: int, ready: int, seed: int) -> Built:
    """`library_scale`'s library of `size` models with each model's file written under `workdir/name`, and `ready`
    more files waiting as hashed pending rows (made-up sha256s, distinct from every model's)."""
    started = time.perf_counter()
    root = workdir / name / "models"
    data = workdir / name / "sqlite-data"
    data.mkdir(parents=True)
    tree = Tree(root, 500, size + ready)
    rng = random.Random(seed + 1)
    types = [t for t in TYPES for _ in range(t[1])]
    bases = [b for b, weight in BASE_MODELS for _ in range(weight)]
    now = time.time()

    def place(i: int, type_: str, base: str, file_name: str) -> tuple[str, tuple[int, int, int, int]]:
        return tree.add(f"{type_}/{base.replace(' ', '').lower()}", file_name, body(i))

    def more(conn: sqlite3.Connection) -> None:
        rows = []
        for j in range(ready):
            type_, _, ext, _, _ = rng.choice(types)
            base = rng.choice(bases)
            stem = model_name(rng, type_)
            path, st = tree.add(f"{type_}/downloads", f"{stem}.{ext}", body(size + j))
            sha = f"{seed:08x}{j:056x}"  # no model's (those are sha256 digests of the generator's own)
            rows.append((path, *st, type_, os.path.basename(path), "ready", sha, sha[::-1], now - 5, now, now,
                         json.dumps(header_meta(rng, base, ext, stem))))
        conn.executemany(
            "INSERT INTO pending_import (path, size_bytes, mtime_ns, inode, device, type, name, status, sha256, "
            "blake3, discovered_at, hashed_at, updated_at, meta_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows)

    sqlite_file = data / "library.sqlite3"
    lib = generate(sqlite_file, size, seed, SEARCHES, place=place, more=more)
    with sqlite3.connect(sqlite_file) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM pending_import WHERE status = 'ready' ORDER BY id")]
    if lib.ok != size or tree.written != size + ready or len(ids) != ready:
        raise RuntimeError(f"built {lib.ok} models, {len(ids)} ready rows and {tree.written} files")
    return Built(size, root, sqlite_file, lib, ids, tree.written, time.perf_counter() - started)


async def fill_postgres(sqlite_file: Path, dsn: str, host: str) -> float:
    """The SQLite library copied into a migrated PostgreSQL database by `hikaze-mm db copy`'s own code (one
    transaction, the counts made once at the end), then VACUUM ANALYZE, the state autovacuum brings a loaded
    database to. Seconds it took."""
    started = time.perf_counter()
    await migrate(dsn)
    counts = await copy_library(f"sqlite://{sqlite_file}", dsn, host)
    if not counts["models"]:
        raise RuntimeError(f"the copy holds no models: {counts}")
    conn = await connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def new_database(server: PgServer) -> str:
    name = f"bench_{os.urandom(4).hex()}"
    conn = await server.connect()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.dsn(name)


def library_daemon(workdir: Path, name: str, built: Built, backend: str, dsn: str) -> Daemon:
    """`big_library`'s daemon (notify socket, no periodic rescan) on the library, on either backend."""
    if backend == "sqlite":
        return Daemon(workdir, name, built.root, built.sqlite_file.parent)
    data = built.root.parent / "pg-data"
    data.mkdir(exist_ok=True)
    daemon = Daemon(workdir, name, built.root, data)
    daemon.cmd += ["--database-url", dsn, "--host-id", HOST]
    return daemon


# -- requests -------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A running daemon the requests are sent to, on its own keep-alive connection."""

    label: str
    backend: str
    built: Built
    daemon: Daemon
    conn: http.client.HTTPConnection = field(init=False)

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=120)

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        """Status, answer and milliseconds (sent to last byte read)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if method != "GET" else {}
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        ms = (time.perf_counter() - started) * 1000
        return resp.status, json.loads(raw), ms


# (label, path, expected total from the library, after a write)
Kind = tuple[str, str, Callable[[Library], int], bool]
KINDS: tuple[Kind, ...] = (
    ("page", "/api/models?limit=100", lambda lib: lib.ok, False),
    ("page, after a write", "/api/models?limit=100", lambda lib: lib.ok, True),
    *((f"search q={q}", f"/api/models?limit=100&q={q}", lambda lib, q=q: lib.matches[q], False) for q in SEARCHES),
    *((f"search q={q}, after a write", f"/api/models?limit=100&q={q}", lambda lib, q=q: lib.matches[q], True)
      for q in SEARCHES),
    (f"tags={','.join(TAG_FILTER)}, after a write", f"/api/models?limit=100&tags={','.join(TAG_FILTER)}",
     lambda lib: lib.tagged, True),
    ("facets hide_nsfw", "/api/facets?hide_nsfw=true", lambda lib: lib.sfw, False),
    ("facets hide_nsfw, after a write", "/api/facets?hide_nsfw=true", lambda lib: lib.sfw, True),
    (f"facets +tags={FACET_TAG}, after a write", f"/api/facets?hide_nsfw=true&tags={FACET_TAG}",
     lambda lib: lib.sfw_tagged, True),
)


def timed_kinds(targets: list[Target], reps: int, warmup: int) -> tuple[dict[tuple[str, str], list[float]], list[str]]:
    """Milliseconds of each kind on each target, the targets taking turns request by request; the wrong totals."""
    samples: dict[tuple[str, str], list[float]] = {}
    wrong: list[str] = []
    for label, path, expected, after_write in KINDS:
        for i in range(warmup + reps):
            for t in targets:
                if after_write:
                    # Creating a tag that exists: a write transaction that changes nothing, so no count kept for
                    # the state before can answer the request.
                    t.send("POST", "/api/tags", {"name": TAGS[0]})
                status, answer, ms = t.send("GET", path)
                if status != 200:
                    raise RuntimeError(f"{t.label}: GET {path} answered {status}: {str(answer)[:300]}")
                if i >= warmup:
                    samples.setdefault((t.label, label), []).append(ms)
                if i == warmup and answer["total"] != expected(t.built.lib):
                    wrong.append(f"{t.label}: GET {path}: total {answer['total']}, expected {expected(t.built.lib)}")
    return samples, wrong


# -- two hosts ------------------------------------------------------------------------------------------------


def write_host_tree(root: Path, first: int, count: int) -> None:
    """`count` valid safetensors files of 2-3 KB, distinct from every other host's (numbered from `first`)."""
    for k in range(count):
        folder = root / "loras" / f"set{k // 200:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"lora{first + k:05d}.safetensors").write_bytes(safetensors_body(first + k))


@dataclass
class HostRun:
    done_s: dict[str, float]  # host -> spawn to its last file a model
    all_s: float  # spawn to every file of every host a model
    cpu_s: float  # CPU of the daemons
    server_s: float  # CPU of the PostgreSQL server (its backends for these daemons, autovacuum), 0 on SQLite
    problems: list[str]
    codes: list[int]


async def _sqlite_models(session: aiohttp.ClientSession, port: int) -> int:
    try:
        async with session.get(f"http://127.0.0.1:{port}/api/status") as resp:
            return int((await resp.json())["counts"]["models"])
    except aiohttp.ClientError:
        return -1  # not listening yet


def server_cpu_s(server: PgServer) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster's own and that of its children that have ended (each
    daemon's backends end with its connections)."""
    with open(f"/proc/{server.pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


async def hosts_importing(workdir: Path, roots: dict[str, Path], per_host: int, backend: str, server: PgServer,
                          label: str, timeout: float) -> HostRun:
    """Daemons with `--auto-import no_conflict` started at once, each on its own tree of `per_host` files: on one
    PostgreSQL database as hosts of their own, or each on its own SQLite file. Timed from the spawn of the first
    until each host's files are all models (PostgreSQL: counted in the database by host; SQLite: each daemon's
    status)."""
    dsn = await new_database(server) if backend == "postgres" else ""
    if dsn:
        await migrate(dsn)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    logs = []
    pg = await asyncpg.connect(dsn) if dsn else None
    done_s: dict[str, float] = {}
    cpu_s = server_s = 0.0
    problems: list[str] = []
    server_before = server_cpu_s(server)
    started = time.perf_counter()
    try:
        for host, root in roots.items():
            home = workdir / f"{label}-{host}"
            home.mkdir()
            (home / "config.toml").write_text("")
            ports[host] = free_port()
            cmd = [*SERVE, "--config", str(home / "config.toml"), "--models-root",
                   str(root), "--data-dir", str(home / "data"), "--port", str(ports[host]), "--settle-seconds", "0",
                   "--rescan-interval", "0", "--log-level", "warning", "--auto-import", "no_conflict"]
            if dsn:
                cmd += ["--database-url", dsn, "--host-id", host]
            log = (home / "daemon.log").open("wb")
            logs.append(log)
            procs[host] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + timeout
            while len(done_s) < len(roots):
                for host, proc in procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"the daemon of host {host} exited with {proc.returncode}:\n"
                                           + (workdir / f"{label}-{host}" / "daemon.log")
                                           .read_text(errors="replace")[-3000:])
                if pg is not None:
                    counts = dict(await pg.fetch("SELECT host, count(*) FROM models GROUP BY host"))
                else:
                    counts = {h: await _sqlite_models(session, ports[h]) for h in roots}
                for host in roots:
                    if host not in done_s and counts.get(host, 0) >= per_host:
                        done_s[host] = time.perf_counter() - started
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: after {timeout:g} s the hosts hold {counts} models")
                await asyncio.sleep(0.05)
            all_s = time.perf_counter() - started
            for host in roots:
                async with session.get(f"http://127.0.0.1:{ports[host]}/api/status") as resp:
                    status = await resp.json()
                deadline = time.monotonic() + timeout
                while not idle(status) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    async with session.get(f"http://127.0.0.1:{ports[host]}/api/status") as resp:
                        status = await resp.json()
                want = per_host * (len(roots) if pg is not None else 1)
                if status["counts"]["models"] != want or any(status["counts"]["pending"].values()):
                    problems.append(f"{label} host {host}: status counts {status['counts']}, expected {want} "
                                    "models and nothing pending")
        cpu_s = sum(cpu_seconds(p.pid) for p in procs.values())
        if pg is not None:
            by_host = dict(await pg.fetch("SELECT host, count(*) FROM models GROUP BY host"))
            tallied = await pg.fetchval("SELECT coalesce(sum(n), 0) FROM model_tally")
            searchable = await pg.fetchval("SELECT count(*) FROM models WHERE search_doc != ''")
            pending = await pg.fetchval("SELECT count(*) FROM pending_import")
            total = per_host * len(roots)
            if by_host != dict.fromkeys(roots, per_host) or tallied != total or searchable != total or pending:
                problems.append(f"{label}: models by host {by_host}, tallied {tallied}, search rows {searchable}, "
                                f"pending rows {pending}")
    finally:
        codes = [stop_daemon(p) for p in procs.values()]
        for log in logs:
            log.close()
        if pg is not None:
            await pg.close()
    if dsn:
        await asyncio.sleep(0.5)  # the daemons' backends end a moment after their connections close
        server_s = server_cpu_s(server) - server_before
    return HostRun(done_s, all_s, cpu_s, server_s, problems, codes)


# -- the run --------------------------------------------------------------------------------------------------


def med(samples: list[float]) -> float:
    return statistics.median(samples)


def ratio_line(label: str, sqlite: float, postgres: float, unit: str) -> str:
    return f"    {label:<52} {sqlite:9.2f} {unit:<2} {postgres:9.2f} {unit:<2} {postgres / sqlite:7.2f}"


def run(args: argparse.Namespace, workdir: Path) -> bool:
    (workdir / "config.toml").write_text("")
    print(f"postgres_vs_sqlite: {args.large:,} and {args.small:,} models on each backend, the real daemon; "
          f"{args.reps} requests of each kind after {args.warmup} warm-up, medians", flush=True)
    problems: list[str] = []
    codes: list[int] = []
    large = build(workdir, "large", args.large, args.batch * args.rounds, args.seed)
    small = build(workdir, "small", args.small, 0, args.seed)
    print(f"  built {large.files:,} files and the SQLite libraries in {large.seconds + small.seconds:.0f} s "
          f"({large.sqlite_file.stat().st_size / MIB:.0f} MiB at {args.large:,})", flush=True)

    with running_pg_server() as server:
        dsns: dict[int, str] = {}
        for built in (large, small):
            dsns[built.size] = asyncio.run(new_database(server))
            seconds = asyncio.run(fill_postgres(built.sqlite_file, dsns[built.size], HOST))
            print(f"  copied {built.size:,} models into PostgreSQL in {seconds:.0f} s", flush=True)
        bare = walk_and_stat(str(large.root))  # warms the dentry and inode caches for every walk after it
        if bare != large.files:
            problems.append(f"the bare walk saw {bare} files, expected {large.files}")

        # Start-up walks, alternated; the last start of each stays up for what follows.
        starts: dict[str, list[StartUp]] = {b: [] for b in BACKENDS}
        running: dict[str, Daemon] = {}
        try:
            for n in range(args.starts):
                for backend in BACKENDS:
                    daemon = library_daemon(workdir, f"{backend}-large-{n}", large, backend, dsns[large.size])
                    try:
                        start = start_up(daemon, args.timeout)
                    except BaseException:
                        codes.append(daemon.stop())
                        raise
                    starts[backend].append(start)
                    if problem := walk_problem(start.walk, large.files):
                        problems.append(f"{backend} start-up walk {n + 1}: {problem}")
                    if n == args.starts - 1:
                        running[backend] = daemon
                    else:
                        codes.append(daemon.stop())
                print(f"  start {n + 1}: start-up walk done after spawn: "
                      + ", ".join(f"{b} {starts[b][-1].walk_done_s:.2f} s" for b in BACKENDS), flush=True)
            for backend in BACKENDS:
                daemon = library_daemon(workdir, f"{backend}-small", small, backend, dsns[small.size])
                running[f"{backend}-small"] = daemon
                start_up(daemon, args.timeout)

            targets = [Target(f"{b} {s.size:,}", b, s, running[b if s is large else f"{b}-small"])
                       for s in (small, large) for b in BACKENDS]
            samples, wrong = timed_kinds(targets, args.reps, args.warmup)
            problems += wrong
            print("  requests timed", flush=True)

            # Import batches: the same ready rows on both backends, alternated.
            imports: dict[str, list[float]] = {b: [] for b in BACKENDS}
            by_backend = {t.backend: t for t in targets if t.built is large}
            for r in range(args.rounds):
                ids = large.ready_ids[r * args.batch:(r + 1) * args.batch]
                for backend in BACKENDS:
                    status, answer, ms = by_backend[backend].send("POST", "/api/pending/import", {"ids": ids})
                    imports[backend].append(ms)
                    if status != 200 or len(answer["imported"]) != len(ids) or answer["failed"] \
                            or answer["conflicts"] or answer["refused"]:
                        problems.append(f"{backend} import round {r + 1}: {status} imported "
                                        f"{len(answer.get('imported', []))} of {len(ids)}: {str(answer)[:300]}")
            print("  import batches timed", flush=True)

            # Unchanged walks of the running daemons (the imported rows are models now; the files are the same).
            walks: dict[str, list[float]] = {b: [] for b in BACKENDS}
            for r in range(args.rounds):
                for backend in BACKENDS:
                    seconds, event = unchanged_walk(running[backend].port, args.timeout)
                    walks[backend].append(seconds)
                    if problem := walk_problem(event, large.files):
                        problems.append(f"{backend} unchanged walk {r + 1}: {problem}")
            for t in targets:
                t.conn.close()
        finally:
            codes += [d.stop() for d in running.values()]

        # Two hosts importing at once.
        roots = {"a": workdir / "host-a", "b": workdir / "host-b"}
        for k, root in enumerate(roots.values()):
            write_host_tree(root, k * args.host_files, args.host_files)
        # Each kind of run in turn, round after round: two SQLite daemons (a file each), two hosts on one PostgreSQL
        # database, and host a alone on PostgreSQL (what the second host costs the first).
        runs = {"sqlite": ("sqlite", roots), "postgres": ("postgres", roots),
                "postgres, host a alone": ("postgres", {"a": roots["a"]})}
        hosts: dict[str, list[HostRun]] = {kind: [] for kind in runs}
        for r in range(args.host_rounds):
            for n, (kind, (backend, these)) in enumerate(runs.items()):
                result = asyncio.run(hosts_importing(workdir, these, args.host_files, backend, server,
                                                     f"hosts-{r}-{n}", args.timeout))
                hosts[kind].append(result)
                problems += result.problems
                codes += result.codes
            print(f"  hosts importing, round {r + 1}: every host done after "
                  + ", ".join(f"{kind} {hosts[kind][-1].all_s:.2f} s" for kind in runs), flush=True)

    report(args, large, small, starts, samples, imports, walks, hosts)
    print(f"  SIGTERM: exit codes {codes} (each must be 0)")
    for problem in problems:
        print(f"  WRONG: {problem}")
    return not problems and all(code == 0 for code in codes)


def report(args: argparse.Namespace, large: Built, small: Built, starts: dict[str, list[StartUp]],
           samples: dict[tuple[str, str], list[float]], imports: dict[str, list[float]],
           walks: dict[str, list[float]], hosts: dict[str, list[Any]]) -> None:
    big, few = f"{large.size:,}", f"{small.size:,}"
    print(f"  {'':<54} {'SQLite':>12} {'PostgreSQL':>12} {'PG / SQLite':>11}")
    for size in (few, big):
        print(f"  at {size} models, median ms of {args.reps}:")
        for label, *_ in KINDS:
            print(ratio_line(label, med(samples[f"sqlite {size}", label]), med(samples[f"postgres {size}", label]),
                             "ms"))
    print(f"  at {big} models ({large.files:,} files):")
    print(ratio_line(f"import batch of {args.batch} ready rows, median of {args.rounds}", med(imports["sqlite"]),
                     med(imports["postgres"]), "ms"))
    for what, pick in (("start-up walk done after spawn", lambda s: s.walk_done_s),
                       ("start-up walk, its own duration", lambda s: s.walk["finished_at"] - s.walk["started_at"]),
                       ("READY=1 after spawn", lambda s: s.ready_s)):
        print(ratio_line(f"{what}, median of {args.starts}", med([pick(s) for s in starts["sqlite"]]),
                         med([pick(s) for s in starts["postgres"]]), "s"))
    print(ratio_line(f"unchanged walk (POST /api/scan), median of {args.rounds}", med(walks["sqlite"]),
                     med(walks["postgres"]), "s"))
    print(f"  two daemons importing {args.host_files:,} files each at once (auto-import), median of "
          f"{args.host_rounds}; SQLite: a file each, PostgreSQL: one database, two host_ids:")
    sq, pg, alone = hosts["sqlite"], hosts["postgres"], hosts["postgres, host a alone"]
    for host in ("a", "b"):
        print(ratio_line(f"host {host}: spawn to its last model", med([h.done_s[host] for h in sq]),
                         med([h.done_s[host] for h in pg]), "s"))
    print(ratio_line("both hosts done", med([h.all_s for h in sq]), med([h.all_s for h in pg]), "s"))
    print(ratio_line("CPU of the daemons", med([h.cpu_s for h in sq]), med([h.cpu_s for h in pg]), "s"))
    print(ratio_line("CPU of the daemons and the PostgreSQL server", med([h.cpu_s for h in sq]),
                     med([h.cpu_s + h.server_s for h in pg]), "s"))
    print(f"    PostgreSQL, host a alone: done after {med([h.all_s for h in alone]):.2f} s, CPU "
          f"{med([h.cpu_s for h in alone]):.2f} s + server {med([h.server_s for h in alone]):.2f} s "
          f"(with host b beside it: done after {med([h.done_s['a'] for h in pg]):.2f} s)")

    print("  goals, each backend (medians):")
    for backend in BACKENDS:
        def m(size: str, label: str, backend: str = backend) -> float:
            return med(samples[f"{backend} {size}", label])
        page = m(big, "page") / m(few, "page")
        print(f"    {backend:<9} page at {big} / at {few}: {page:.2f} (goal <= {PAGE_GOAL:g}): "
              f"{verdict(page <= PAGE_GOAL)}")
        worst = max(SEARCHES, key=lambda q: m(big, f"search q={q}") / m(few, f"search q={q}"))
        scale = m(big, f"search q={worst}") / m(few, f"search q={worst}")
        print(f"    {backend:<9} search at {big} / at {few} (the worse, q={worst}): {scale:.2f} "
              f"(goal <= {SEARCH_SCALE_GOAL:g}): {verdict(scale <= SEARCH_SCALE_GOAL)}")
        worst = max(SEARCHES, key=lambda q: m(big, f"search q={q}"))
        search = m(big, f"search q={worst}") / m(big, "page")
        print(f"    {backend:<9} search at {big} (the slower, q={worst}) / page at {big}: {search:.2f} "
              f"(goal <= {SEARCH_PAGE_GOAL:g}): {verdict(search <= SEARCH_PAGE_GOAL)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, default=100_000, help="models in the large library (default 100,000)")
    parser.add_argument("--small", type=int, default=1_000, help="models in the small library (default 1,000)")
    parser.add_argument("--reps", type=int, default=20, help="timed requests of each kind (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before them (default 3)")
    parser.add_argument("--batch", type=int, default=500, help="ready rows per import batch (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="import batches and unchanged walks (default 5)")
    parser.add_argument("--starts", type=int, default=3, help="starts on the large library, each (default 3)")
    parser.add_argument("--host-files", type=int, default=2_000, help="files of each host (default 2,000)")
    parser.add_argument("--host-rounds", type=int, default=3, help="runs of the two hosts, each (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated libraries (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each phase (default 300)")
    args = parser.parse_args()
    return in_workdir("hikaze-bench-pg-", lambda workdir: run(args, workdir))


if __name__ == "__main__":
    raise SystemExit(main())
