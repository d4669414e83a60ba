"""Listing and searching a large library through the real daemon (`python -m hikaze_mm serve`): `GET /api/models`
and `GET /api/facets` on generated libraries of 1,000 and of 100,000 models, and the daemon's memory once it has
served the larger one.

Goals: a plain page at 100,000 models takes at most 2x as long as at 1,000 (median), a full-text search at
100,000 models at most 3x as long as a plain page there, and hiding NSFW models costs a page at 100,000 at most
1.5x a plain one. The libraries are written straight into the database (no model files exist), so only the
listing is measured, not an import. Lines marked "after a write" follow a write transaction each, so the daemon's
per-state answer cache cannot serve them: what a page costs right after the library changed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import MIB, SERVE, stop_daemon, verdict, vm_sizes
from memory import BASELINE_CODE, free_port, idle, kib, wait_for

from hikaze_mm.library.metadata import RULES
from hikaze_mm.store.sqlite.store import SQLiteStore

PAGE_GOAL = 2.0
SEARCH_GOAL = 3.0
HIDE_NSFW_GOAL = 1.5
TAG_FILTER = ("character", "anime")
FACET_TAG = "character"
# Outside the models root the daemon walks: the reconcile leaves models it cannot vouch for alone, so the generated
# rows stay `ok` although their files do not exist.
LIBRARY_ROOT = "/srv/comfyui/models"
UNUSED_DAYS = 30
USED_SHARE = 0.4  # models ComfyUI has loaded at least once

TAGS = (
    "anime", "realistic", "character", "style", "concept", "clothing", "pose", "background", "landscape", "portrait",
    "photorealistic", "3d", "cartoon", "fantasy", "sci-fi", "architecture", "vehicle", "animal", "lighting",
    "detail", "meme", "game character", "merge", "inpainting", "turbo", "lightning", "nsfw", "sfw", "horror",
    "painting",
)
CHECKPOINT_STEMS = (
    "juggernautXL", "ponyDiffusion", "dreamshaper", "realisticVision", "epicrealism", "deliberate", "revAnimated",
    "animagineXL", "illustriousXL", "noobaiXL", "copaxTimeless", "zavychromaXL", "albedobaseXL", "cyberrealistic",
    "majicmixRealistic", "counterfeit", "anything", "absolutereality", "protovisionXL", "realvisxl", "helloworld",
    "dynavisionXL", "wildcardxXL", "fluxDev", "sdxlUnstableDiffusers",
)
WORDS = (
    "astronaut", "neon", "city", "castle", "dragon", "armor", "cyber", "retro", "pastel", "sketch", "ink",
    "watercolor", "forest", "ocean", "mecha", "samurai", "witch", "robot", "flower", "sunset", "noir", "gothic",
    "pixel", "chibi", "cinematic", "detail", "tweaker", "slider", "film", "grain", "girl", "knight", "elf",
    "vampire", "steampunk", "vaporwave", "lowpoly", "clay", "origami", "glass", "crystal", "fire", "ice", "storm",
    "nebula", "galaxy", "desert", "winter", "kimono", "hoodie", "bikini", "maid", "pirate", "zombie", "fox", "cat",
    "wolf", "tiger", "bokeh", "hdr", "analog", "polaroid", "comic", "manga", "lineart", "oil", "charcoal", "marble",
    "gold", "silver", "shadow", "light", "rain", "fog", "moon", "star", "sky", "street", "cafe", "temple", "ruins",
)
# (type, weight, file extension, smallest size, largest size)
TYPES = (
    ("loras", 60, "safetensors", 10 * MIB, 900 * MIB),
    ("checkpoints", 20, "safetensors", 2000 * MIB, 7000 * MIB),
    ("embeddings", 12, "pt", 4 * 1024, 200 * 1024),
    ("vae", 8, "safetensors", 80 * MIB, 340 * MIB),
)
BASE_MODELS = (("SDXL", 30), ("Pony", 20), ("Illustrious", 15), ("SD 1.x", 20), ("Flux", 8), ("SD3", 2),
               ("unknown", 5))
ARCHITECTURE = {"SDXL": "stable-diffusion-xl-v1-base", "Pony": "stable-diffusion-xl-v1-base",
                "Illustrious": "stable-diffusion-xl-v1-base", "SD 1.x": "stable-diffusion-v1", "Flux": "flux-1-dev",
                "SD3": "stable-diffusion-v3-medium", "unknown": "unknown"}

# What `LibrarySQL._reindex` reads for one model, here for all of them at once.
REINDEX_SELECT = (
    "SELECT s.id, m.name, m.path, m.meta_json, "
    "(SELECT group_concat(t.name, ' ') FROM model_tags mt JOIN tags t ON t.id = mt.tag_id "
    " WHERE mt.sha256 = m.sha256) "
    "FROM models m JOIN search_ids s ON s.sha256 = m.sha256"
)

# For a library whose files exist (big_library.py): given a model's index, type, base model and file name, writes
# its file and returns the path and the real (size, mtime_ns, inode, device).
Place = Callable[[int, str, str, str], tuple[str, tuple[int, int, int, int]]]


@dataclass
class Library:
    """A generated library and the answers the daemon owes for it, counted while generating."""

    models: int
    ok: int = 0
    matches: dict[str, int] = field(default_factory=dict)  # q -> models whose searchable text holds it
    tagged: int = 0  # ok models carrying every tag of TAG_FILTER
    sfw: int = 0  # ok models neither flagged NSFW nor tagged `nsfw`
    sfw_tagged: int = 0  # of those, the ones tagged FACET_TAG
    unused: int = 0  # ok models neither used nor added in the last UNUSED_DAYS days
    seconds: float = 0.0
    db_bytes: int = 0


async def create_schema(db: Path) -> None:
    store = SQLiteStore(db, RULES)
    await store.open()
    await store.close()


def model_name(rng: random.Random, type_: str) -> str:
    if type_ == "checkpoints":
        roll = rng.random()
        if roll < 0.03:
            return "juggernautXL_v9"
        if roll < 0.06:
            return "ponyDiffusionV6XL"
        stem = rng.choice(CHECKPOINT_STEMS)
        return rng.choice((f"{stem}_v{rng.randint(1, 12)}", f"{stem}V{rng.randint(1, 9)}",
                           f"{stem}_{rng.randint(1, 5)}.{rng.randint(0, 9)}"))
    words = rng.sample(WORDS, rng.randint(1, 3))
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    if type_ == "loras":
        return camel + rng.choice(("", "_v2", "_XL", "_pony", "-000012", "_lora", "V3", "_illu"))
    if type_ == "vae":
        return rng.choice(("sdxl_vae", "vae-ft-mse-840000-ema-pruned", "ae", "kl-f8-anime2", camel + "_vae"))
    return rng.choice(("easynegative", "badhandv4", "ng_deepnegative_v1_75t", camel, camel + "_neg"))


def generate(db: Path, count: int, seed: int, queries: tuple[str, ...], place: Place | None = None,
             more: Callable[[sqlite3.Connection], None] | None = None) -> Library:
    """Models, tags, images and the search index of a library of `count` models, in one transaction. With `place`,
    each model's file is real and every model `ok`; `more` adds rows of its own inside the same transaction."""
    started = time.perf_counter()
    asyncio.run(create_schema(db))
    rng = random.Random(seed)
    lib = Library(count, matches=dict.fromkeys(queries, 0))
    filter_ids = {TAGS.index(t) + 1 for t in TAG_FILTER}
    nsfw_tag, facet_tag = TAGS.index("nsfw") + 1, TAGS.index(FACET_TAG) + 1
    types = [t for t in TYPES for _ in range(t[1])]
    bases = [b for b, weight in BASE_MODELS for _ in range(weight)]
    used: dict[str, int] = {}
    # Uses are drawn from a generator of their own, so the rest of the library is the one the seed always gave.
    uses_rng = random.Random(f"{seed}:uses")
    now = time.time()
    unused_since = now - UNUSED_DAYS * 86400
    models, model_tags, images, image_seqs = [], [], [], []
    for i in range(count):
        type_, _, ext, smallest, largest = rng.choice(types)
        base = rng.choice(bases)
        name = model_name(rng, type_)
        folder = f"{LIBRARY_ROOT}/{type_}/{base.replace(' ', '').lower()}"
        # Names repeat across a big library, paths do not: a second `foo` becomes `foo_2`, as a user would save it.
        key = f"{folder}/{name}"
        used[key] = used.get(key, 0) + 1
        if used[key] > 1:
            name = f"{name}_{used[key]}"
        path = f"{folder}/{name}.{ext}"
        sha = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
        words = rng.sample(WORDS, 12)
        trigger = words[:rng.randint(0, 4)] if type_ in ("loras", "embeddings") else []
        description = "" if rng.random() < 0.3 else (
            f"A {words[4]} {type_[:-1]} for {base}, trained on {words[5]} and {words[6]} images. "
            f"Works best with {words[7]} {words[8]} prompts at strength 0.{rng.randint(5, 9)}; "
            f"pairs well with {words[9]} and {words[10]} styles."
        )
        header = {
            "format": "pt" if ext == "pt" else "safetensors", "tensor_count": rng.randint(20, 2500),
            "base_model": base, "base_model_source": "modelspec",
            "metadata": {"modelspec.architecture": ARCHITECTURE[base], "modelspec.title": name,
                         "ss_network_dim": str(rng.choice((8, 16, 32, 64, 128))), "ss_output_name": name,
                         "ss_tag_frequency": {"img": {w: rng.randint(1, 400) for w in words}}},
        }
        if trigger:
            header["trigger_words"] = trigger
        meta_fields: dict[str, Any] = {"header": header, "description": description, "trigger_words": trigger}
        # About one model in twenty is flagged, taken from the hash so the other draws (and the library) stay as
        # they were before the flag existed.
        nsfw = int(sha[:2], 16) < 13
        if nsfw:
            meta_fields["nsfw"] = True
        meta = json.dumps(meta_fields)
        status = "missing" if rng.random() < 0.01 else "ok"
        created = now - rng.uniform(0, 2 * 365 * 86400)
        size, mtime_ns, inode, device = rng.randint(smallest, largest), int(created * 1e9), 1_000_000 + i, 2049
        if place is not None:
            # Drawn all the same, so the rest of the library is the one the seed gives without files.
            path, (size, mtime_ns, inode, device) = place(i, type_, base, f"{name}.{ext}")
            status = "ok"
        # A few models loaded thousands of times, most a handful, and most of the library never.
        use_count, last_used = 0, 0.0
        if uses_rng.random() < USED_SHARE:
            use_count = min(int(uses_rng.paretovariate(1.1)), 10_000)
            last_used = uses_rng.uniform(created, now)
        models.append((sha, sha[::-1], path, name, type_, size, mtime_ns, inode, device, status, created,
                       created + rng.uniform(0, 86400), meta, int(nsfw), base, use_count, last_used))
        tag_ids = rng.sample(range(1, len(TAGS) + 1), rng.randint(0, 5))
        model_tags.extend((sha, t) for t in tag_ids)
        shown = rng.choice((0, 0, 1, 1, 2, 3))
        images.extend((sha, seq, 832, 1216, created) for seq in range(shown))
        if shown:
            image_seqs.append((sha, shown))
        if status == "ok":
            lib.ok += 1
            lib.unused += last_used < unused_since and created < unused_since
            lib.tagged += filter_ids <= set(tag_ids)
            if not nsfw and nsfw_tag not in tag_ids:
                lib.sfw += 1
                lib.sfw_tagged += facet_tag in tag_ids
            text = " ".join((name, os.path.basename(path), path, *(TAGS[t - 1] for t in tag_ids), description,
                             *trigger)).lower()
            for q in queries:
                lib.matches[q] += q in text

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a throwaway file: durability would only cost time
        conn.execute("PRAGMA cache_size = -524288")  # 512 MiB: the random sha256 keys would thrash the default 2 MiB
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO tags (id, name) VALUES (?, ?)", enumerate(TAGS, 1))
        conn.executemany(
            "INSERT INTO models (sha256, blake3, path, name, type, size_bytes, mtime_ns, inode, device, status, "
            "created_at, updated_at, meta_json, nsfw, base_model, use_count, last_used_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            models,
        )
        conn.executemany("INSERT INTO model_tags (sha256, tag_id) VALUES (?, ?)", model_tags)
        conn.executemany("INSERT INTO images (sha256, seq, width, height, created_at) VALUES (?, ?, ?, ?, ?)", images)
        conn.executemany("INSERT INTO image_seq (sha256, next_seq) VALUES (?, ?)", image_seqs)
        # Models are promoted oldest first, and each promotion gives the model the next search id.
        conn.execute("INSERT INTO search_ids (sha256) SELECT sha256 FROM models ORDER BY created_at")
        conn.execute("UPDATE models SET search_id = (SELECT id FROM search_ids s WHERE s.sha256 = models.sha256)")
        # In search id order: FTS5 flushes its pending index whenever a rowid goes backwards.
        rows = conn.execute(REINDEX_SELECT + " ORDER BY s.id").fetchall()
        fts = []
        for search_id, name, path, meta_text, tags in rows:
            meta = json.loads(meta_text or "{}")
            fts.append((search_id, name, os.path.basename(path), path, tags or "", meta.get("description") or "",
                        " ".join(meta.get("trigger_words") or [])))
        conn.executemany(
            "INSERT INTO models_fts (rowid, name, file_name, path, tags, description, trigger_words) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            fts,
        )
        if more is not None:
            more(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
    lib.seconds = time.perf_counter() - started
    lib.db_bytes = db.stat().st_size
    return lib


def percentile95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def timed_gets(port: int, path: str, reps: int, warmup: int, after_write: bool) -> tuple[list[float], Any]:
    """Milliseconds per request (sending it to reading the last byte) on one keep-alive connection, and the last
    answer. With `after_write`, each request follows an (untimed) write transaction."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples: list[float] = []
    body = b""
    try:
        for i in range(warmup + reps):
            if after_write:
                # Creating a tag that exists is a write transaction that changes nothing.
                conn.request("POST", "/api/tags", body=json.dumps({"name": TAGS[0]}),
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
            started = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            elapsed = (time.perf_counter() - started) * 1000
            if resp.status != 200:
                raise RuntimeError(f"GET {path} answered {resp.status}: {body[:300]!r}")
            if i >= warmup:
                samples.append(elapsed)
    finally:
        conn.close()
    return samples, json.loads(body)


def serve(workdir: Path, data_dir: Path, queries: list[tuple[str, str, int, bool]], reps: int, warmup: int,
          timeout: float) -> tuple[dict[str, list[float]], dict[str, int], int, list[str]]:
    """Runs the daemon on one library: the samples of each query, the daemon's memory after them, its exit code
    and the answers that disagree with the library."""
    port = free_port()
    log_path = workdir / f"{data_dir.name}.log"
    log = log_path.open("wb")
    cmd = [*SERVE, "--data-dir", str(data_dir), "--models-root",
           str(workdir / "empty-models"), "--port", str(port), "--rescan-interval", "0", "--log-level", "warning"]
    # An empty config file keeps a user's own settings out of the measurement.
    env = {**os.environ, "HIKAZE_MM_CONFIG": str(workdir / "config.toml")}
    daemon = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    samples: dict[str, list[float]] = {}
    wrong: list[str] = []
    try:
        # The start-up reconcile walks the (empty) root; measuring while it runs would time it too.
        wait_for(daemon, port, lambda s: idle(s) and s["last_scan"] is not None, timeout, "the start-up scan")
        for label, path, expected, after_write in queries:
            samples[label], answer = timed_gets(port, path, reps, warmup, after_write)
            if answer["total"] != expected:
                wrong.append(f"{path}: total {answer['total']}, expected {expected}")
        with open(f"/proc/{daemon.pid}/status") as f:
            memory = vm_sizes(f.read())
    finally:
        code = stop_daemon(daemon)
        log.close()
    if code != 0:
        print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
    return samples, memory, code, wrong


def run(small: int, large: int, reps: int, warmup: int, seed: int, timeout: float, workdir: Path) -> bool:
    searches = ("naut", "juggernaut")
    tags = ",".join(TAG_FILTER)
    (workdir / "config.toml").write_text("")
    (workdir / "empty-models").mkdir()
    print(f"library_scale: GET /api/models on the real daemon, median and p95 of {reps} requests after {warmup} "
          "warm-up, one keep-alive connection")
    medians: dict[tuple[int, str], float] = {}
    memory: dict[int, dict[str, int]] = {}
    ok = True
    for size in (small, large):
        data_dir = workdir / f"library-{size}"
        data_dir.mkdir()
        lib = generate(data_dir / "library.sqlite3", size, seed, searches)
        queries = [
            ("plain page", "/api/models?limit=100", lib.ok, False),
            (f"offset {size // 2:,}", f"/api/models?limit=100&offset={size // 2}", lib.ok, False),
            *((f"q={q}", f"/api/models?limit=100&q={q}", lib.matches[q], False) for q in searches),
            (f"tags={tags}", f"/api/models?limit=100&tags={tags}", lib.tagged, False),
            ("sort=size", "/api/models?limit=100&sort=size", lib.ok, False),
            ("sort=last_used", "/api/models?limit=100&sort=last_used", lib.ok, False),
            ("sort=most_used", "/api/models?limit=100&sort=most_used", lib.ok, False),
            (f"sort=most_used offset {size // 2:,}", f"/api/models?limit=100&sort=most_used&offset={size // 2}",
             lib.ok, False),
            (f"unused_days={UNUSED_DAYS}", f"/api/models?limit=100&unused_days={UNUSED_DAYS}", lib.unused, False),
            (f"unused_days={UNUSED_DAYS}&sort=size", f"/api/models?limit=100&unused_days={UNUSED_DAYS}&sort=size",
             lib.unused, False),
            ("hide_nsfw", "/api/models?limit=100&hide_nsfw=true", lib.sfw, False),
            (f"hide_nsfw offset {size // 2:,}", f"/api/models?limit=100&hide_nsfw=true&offset={size // 2}", lib.sfw,
             False),
            ("plain page, after a write", "/api/models?limit=100", lib.ok, True),
            ("hide_nsfw, after a write", "/api/models?limit=100&hide_nsfw=true", lib.sfw, True),
            (f"unused_days={UNUSED_DAYS}, after a write", f"/api/models?limit=100&unused_days={UNUSED_DAYS}",
             lib.unused, True),
            ("facets hide_nsfw", "/api/facets?hide_nsfw=true", lib.sfw, False),
            ("facets hide_nsfw, after a write", "/api/facets?hide_nsfw=true", lib.sfw, True),
            (f"facets +tags={FACET_TAG}, after a write", f"/api/facets?hide_nsfw=true&tags={FACET_TAG}",
             lib.sfw_tagged, True),
        ]
        samples, memory[size], code, wrong = serve(workdir, data_dir, queries, reps, warmup, timeout)
        print(f"  {size:,} models: generated in {lib.seconds:.1f} s, database {lib.db_bytes / MIB:.1f} MiB")
        print(f"    {'request':<36} {'median':>9} {'p95':>9} {'total':>8}")
        for label, _, expected, _ in queries:
            medians[size, label] = statistics.median(samples[label])
            print(f"    {label:<36} {medians[size, label]:6.1f} ms {percentile95(samples[label]):6.1f} ms "
                  f"{expected:>8,}")
        print(f"    SIGTERM: exit code {code} (must be 0)")
        for problem in wrong:
            print(f"    WRONG: {problem}")
        ok = ok and code == 0 and not wrong

    page = medians[large, "plain page"] / medians[small, "plain page"]
    print(f"  plain page at {large:,} / at {small:,}: {page:.2f} (goal <= {PAGE_GOAL:g}): {verdict(page <= PAGE_GOAL)}")
    worst = max(searches, key=lambda q: medians[large, f"q={q}"])
    search = medians[large, f"q={worst}"] / medians[large, "plain page"]
    print(f"  full-text search at {large:,} (the slower one, q={worst}) / plain page at {large:,}: {search:.2f} "
          f"(goal <= {SEARCH_GOAL:g}): {verdict(search <= SEARCH_GOAL)}")
    hide = medians[large, "hide_nsfw"] / medians[large, "plain page"]
    print(f"  hide_nsfw page at {large:,} / plain page at {large:,}: {hide:.2f} (goal <= {HIDE_NSFW_GOAL:g}): "
          f"{verdict(hide <= HIDE_NSFW_GOAL)}")

    bare = subprocess.run([sys.executable, "-c", BASELINE_CODE], capture_output=True, text=True, check=True)
    base = vm_sizes(bare.stdout)
    print(f"  {'memory after the requests':<30} {'VmRSS':>11} {'VmHWM':>11}")
    print(f"  {'bare python + imports':<30} {kib(base['VmRSS'])} {kib(base['VmHWM'])}")
    for size in (small, large):
        label = f"daemon, {size:,} models"
        print(f"  {label:<30} {kib(memory[size]['VmRSS'])} {kib(memory[size]['VmHWM'])}")
    print(f"  daemon at {large:,} models minus baseline: {kib(memory[large]['VmRSS'] - base['VmRSS']).strip()}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000, help="models in the small library (default 1,000)")
    parser.add_argument("--large", type=int, default=100_000, help="models in the large library (default 100,000)")
    parser.add_argument("--reps", type=int, default=50, help="timed requests of each kind (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests before them (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated libraries (default 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the daemon (default 120)")
    args = parser.parse_args()
    if args.reps < 2:
        parser.error("--reps must be at least 2 for a p95")
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-library-", dir="/tmp"))
    try:
        ok = run(args.small, args.large, args.reps, args.warmup, args.seed, args.timeout, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
