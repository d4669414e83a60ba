"""Small files take the batched path (hashed, recorded and imported many at a time): the real daemon on a folder
that mixes every kind of file ends with the rows, models and imports that handling each file on its own gives,
and says so in one summary line per batch at info, each file's own line at debug."""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import (
    Daemon,
    as_safetensors,
    digests,
    poll,
    safetensors_bytes,
    with_site,
    without_root_powers,
    write_model,
)
from hikaze_mm.ops import logs

NOT_SYSTEMD = {"INVOCATION_ID": "", "JOURNAL_STREAM": ""}
FINAL = ("ready", "conflict", "error", "ignored")
HOUR_AGO = time.time() - 3600
PLAIN = 30




def png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Mix:
    """The files of the mixed folder, by role; paths relative to the models root."""

    base: str = "checkpoints/base.safetensors"
    plain: list[str] = field(default_factory=list)
    preview: str = "loras/withpic.safetensors"
    civitai: str = "loras/civ.safetensors"
    a1111: str = "loras/deep/a1.safetensors"
    twins: tuple[str, str] = ("checkpoints/twin-a.safetensors", "vae/twin-b.safetensors")
    dup: str = "loras/dup-of-base.safetensors"
    locked: str = "loras/locked.safetensors"
    companions: dict[str, bytes] = field(default_factory=dict)  # sidecars and previews, written before their model
    content: dict[str, bytes] = field(default_factory=dict)
    mtime: dict[str, float] = field(default_factory=dict)

    @property
    def hashed(self) -> list[str]:
        return [*self.plain, self.preview, self.civitai, self.a1111, *self.twins, self.dup]

    @property
    def new(self) -> list[str]:
        return [*self.hashed, self.locked]


def mix() -> Mix:
    m = Mix()
    block = b"the base model" * 300
    m.content[m.base] = block
    for i in range(PLAIN):
        rel = f"loras/pack{i % 3}/plain-{i:02d}.safetensors"
        if i % 6 == 0:  # a real safetensors file whose header says things
            data = safetensors_bytes({"lora_up.weight": [4, 4 + i]}, {
                "ss_base_model_version": "sdxl_base_v1-0", "ss_output_name": f"plain{i}",
                "ss_tag_frequency": json.dumps({"set": {f"word{i}": 3}})})
        else:
            data = (f"plain model {i}".encode() * 4000)[:1024 + 211 * i]
        m.plain.append(rel)
        m.content[rel] = data
    m.content[m.preview] = b"a model with a preview beside it" * 100
    m.companions["loras/withpic.png"] = png((200, 30, 30))
    m.content[m.civitai] = b"a model with a civitai sidecar" * 100
    m.companions["loras/civ.civitai.info"] = json.dumps({
        "description": "<p>described by civitai</p>", "baseModel": "Pony", "trainedWords": ["civword"],
        "model": {"name": "Civ", "type": "LORA", "nsfw": False}}).encode()
    m.content[m.a1111] = b"a model with an a1111 sidecar" * 100
    m.companions["loras/deep/a1.json"] = json.dumps({
        "description": "described by a1111", "activation text": "aword", "sd version": "SDXL"}).encode()
    for twin in m.twins:
        m.content[twin] = b"the same content twice" * 100
    m.content[m.dup] = block
    m.content[m.locked] = b"nobody may read this" * 100
    for rel in m.content:
        m.mtime[rel] = HOUR_AGO
    m.mtime[m.twins[0]] = HOUR_AGO - 3600  # the original is older than its copy
    for rel, data in m.content.items():
        if rel.endswith(".safetensors") and data[8:9] != b"{":
            m.content[rel] = as_safetensors(data)  # a file that is no safetensors would look damaged
    return m


def put(root: Path, m: Mix, rel: str, staging: Path | None = None) -> Path:
    """The file (its companions first) in `root`, with an old mtime; through `staging` it arrives in one rename, as
    a file dropped in does."""
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    stem = os.path.splitext(rel)[0]
    for name, data in m.companions.items():
        if os.path.splitext(name)[0] in (stem, stem + ".civitai"):
            (root / name).write_bytes(data)
    where = staging / dest.name if staging is not None else dest
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(m.content[rel])
    os.utime(where, (m.mtime[rel], m.mtime[rel]))
    if rel == m.locked:
        where.chmod(0)
    if staging is not None:
        os.rename(where, dest)
    return dest


def put_all(root: Path, m: Mix) -> None:
    for rel in m.new:
        put(root, m, rel)


async def every_row(d: Daemon) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while page := await d.pending(offset=str(len(rows))):
        rows += page
    return rows


async def final_rows(d: Daemon, root: Path, rels: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of these files once each is hashed or failed, by path relative to `root`."""
    wanted = {str(root / rel): rel for rel in rels}

    async def done() -> dict[str, dict[str, Any]] | None:
        rows = {wanted[r["path"]]: r for r in await every_row(d) if r["path"] in wanted}
        return rows if len(rows) == len(wanted) and all(r["status"] in FINAL for r in rows.values()) else None

    return await poll(done, f"{len(wanted)} rows hashed or failed", timeout=90)


async def detail(d: Daemon, row: dict[str, Any]) -> dict[str, Any]:
    got = await d.get(f"/api/pending/{row['id']}")
    found = {k: got[k] for k in ("status", "sha256", "blake3", "conflict_sha256", "size_bytes", "type", "name",
                                 "error", "meta_json", "tags")}
    return found | {"images": [(i["seq"], i["width"], i["height"]) for i in got["images"]]}


async def with_base(factory: Callable[..., Awaitable[Daemon]], root: Path, m: Mix, data_dir: Path,
                    *args: str) -> str:
    """A library holding the base model, made by a daemon that is stopped again."""
    for folder in ("checkpoints", "loras", "vae"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    path = put(root, m, m.base)
    d = await factory("--models-root", str(root), *args, data_dir=data_dir, env=NOT_SYSTEMD)
    (sha,) = await d.import_files(path)
    assert d.terminate() == 0
    return sha


def log_lines(d: Daemon, event: str) -> list[str]:
    return [ln for ln in d.log().splitlines() if f" event={event} " in ln]


def path_lines(d: Daemon, event: str, path: Path) -> list[str]:
    token = f" path={logs.quote(str(path))} "
    return [ln for ln in log_lines(d, event) if token in f"{ln} "]


def field_of(line: str, key: str) -> int:
    found = re.search(rf" {key}=(\d+)", line)
    assert found, (key, line)
    return int(found.group(1))


# -- the first index of a mixed folder ------------------------------------------------------------------------------
async def test_a_batch_of_small_files_ends_as_one_by_one_ends_and_imports_alike(
    daemon_factory, tmp_path: Path
) -> None:
    powers = without_root_powers()
    m = mix()
    # One daemon finds the whole folder at once (its small files go in batches), logging at info ...
    batch_root, batch_data = tmp_path / "batch" / "models", tmp_path / "batch" / "data"
    base_sha = await with_base(daemon_factory, batch_root, m, batch_data)
    put_all(batch_root, m)
    batched: Daemon = await daemon_factory("--models-root", str(batch_root), "--log-level", "info",
                                           data_dir=batch_data, env=NOT_SYSTEMD, prefix=powers)
    # ... the other is given one file at a time, each once the one before is done.
    alone_root, alone_data = tmp_path / "alone" / "models", tmp_path / "alone" / "data"
    assert await with_base(daemon_factory, alone_root, m, alone_data) == base_sha
    alone: Daemon = await daemon_factory("--models-root", str(alone_root), data_dir=alone_data, env=NOT_SYSTEMD,
                                         prefix=powers)
    await alone.wait_idle()
    one_by_one: dict[str, dict[str, Any]] = {}
    for rel in m.new:
        put(alone_root, m, rel, staging=tmp_path / "staging")
        one_by_one |= await final_rows(alone, alone_root, [rel])

    rows = await final_rows(batched, batch_root, m.new)
    await batched.wait_idle()
    assert len(await every_row(batched)) == len(m.new)  # the base model's file is no row
    for rel in m.hashed:
        sha, b3 = digests(batch_root / rel)
        assert (rows[rel]["sha256"], rows[rel]["blake3"], rows[rel]["size_bytes"]) == (sha, b3,
                                                                                       len(m.content[rel])), rel
    assert {rel for rel, r in rows.items() if r["status"] == "ready"} == set(m.hashed) - {m.dup}
    assert (rows[m.dup]["status"], rows[m.dup]["conflict_sha256"]) == ("conflict", base_sha)
    assert rows[m.locked]["status"] == "error" and "Permission denied" in rows[m.locked]["error"]
    assert rows[m.twins[0]]["sha256"] == rows[m.twins[1]]["sha256"]
    for rel in m.new:
        got, want = await detail(batched, rows[rel]), await detail(alone, one_by_one[rel])
        assert got == want, rel
    civ = await detail(batched, rows[m.civitai])
    assert civ["meta_json"]["description"] == "<p>described by civitai</p>"
    assert civ["meta_json"]["trigger_words"] == ["civword"] and civ["meta_json"]["base_model"] == "Pony"
    assert (await detail(batched, rows[m.a1111]))["meta_json"]["description"] == "described by a1111"
    assert (await detail(batched, rows[m.preview]))["images"] == [(0, 64, 48)]
    assert (await detail(batched, rows[m.plain[0]]))["meta_json"]["base_model"] == "SDXL"

    # At info a batch says what it did in one line, its files at debug (not written).
    walks = log_lines(batched, "walk.new")
    assert sum(field_of(ln, "files") for ln in walks) == len(m.new), walks
    batches = log_lines(batched, "hash.batch")
    singles = [ln for ev in ("file.ready", "file.conflict") for ln in log_lines(batched, ev)]
    assert batches and sum(field_of(ln, "files") for ln in batches) + len(singles) == len(m.hashed), batches
    assert sum(field_of(ln, "files") for ln in batches) >= PLAIN, "the first index was not hashed in batches"
    assert sum(field_of(ln, "ready") for ln in batches if " ready=" in ln) + len(
        log_lines(batched, "file.ready")) == len(m.hashed) - 1
    for rel in m.new:
        assert not path_lines(batched, "file.new", batch_root / rel), rel
    for ln in batches:
        assert " level=INFO " in f" {ln}"
    assert path_lines(batched, "file.error", batch_root / m.locked)  # a failure is a warning, said per file

    # A file dropped on its own says what happened to it at info.
    lone = write_model(batch_root / "loras" / "lone.safetensors", size=4096, seed=b"lone")
    await batched.wait_row(lone)

    async def lone_ready() -> list[str]:
        return path_lines(batched, "file.ready", lone)

    (ready,) = await poll(lone_ready, "the lone file's file.ready line")
    assert " level=INFO " in f" {ready}" and f" sha256={digests(lone)[0]} " in ready
    assert len(path_lines(batched, "file.new", lone)) == 1
    assert len(log_lines(batched, "hash.batch")) == len(batches)

    # The import API: many ids mixing plain rows, twins, a row with images, rows whose content is a model, a row
    # that failed, an id asked twice and one that does not exist; against importing each alone in the other.
    order = [*m.plain[:10], m.twins[0], m.preview, m.dup, *m.plain[10:20], m.locked, m.civitai, m.twins[1],
             m.a1111, *m.plain[20:]]
    missing = 10_000_000
    asked = [rows[rel]["id"] for rel in order]
    report = await batched.call("POST", "/api/pending/import", {"ids": [*asked, missing, asked[0]]})
    reported = [e["id"] for e in report["imported"]] + [c["id"] for c in report["conflicts"]] + report[
        "ignored"] + report["deleted"] + [f["id"] for f in report["failed"]]
    assert sorted(reported) == sorted([*asked, missing]), report  # every id once, an id asked twice too
    assert [e["id"] for e in report["imported"]] == [i for i in asked if i in {e["id"] for e in report["imported"]}]
    failed = [f["id"] for f in report["failed"]]
    assert failed == [i for i in [*asked, missing] if i in failed], report["failed"]

    alone_ids = {one_by_one[rel]["id"]: rel for rel in order}
    singles_report: dict[str, tuple[str, Any]] = {}
    for rel in order:
        one = await alone.call("POST", "/api/pending/import", {"ids": [one_by_one[rel]["id"]]})
        singles_report[rel] = outcome(one, one_by_one[rel]["id"])
    batch_ids = {rows[rel]["id"]: rel for rel in order}
    assert {rel: outcome(report, rows[rel]["id"]) for rel in order} == singles_report
    assert outcome(report, missing) == ("failed", "no pending item with this id")
    assert await library(batched, batch_root) == await library(alone, alone_root)
    left = {batch_ids[r["id"]]: (r["status"], r["conflict_sha256"]) for r in await every_row(batched)
            if r["id"] in batch_ids}  # the lone file is not asked about
    assert left == {alone_ids[r["id"]]: (r["status"], r["conflict_sha256"]) for r in await every_row(alone)}
    assert left == {m.twins[1]: ("conflict", rows[m.twins[1]]["sha256"]), m.dup: ("conflict", base_sha),
                    m.locked: ("error", None)}

    # The plain rows went in together: one summary line at info, no line of their own.
    imported_batches = log_lines(batched, "import.batch")
    assert imported_batches and sum(field_of(ln, "files") for ln in imported_batches) >= PLAIN
    for rel in m.plain:
        assert not path_lines(batched, "model.imported", batch_root / rel), rel
    assert len(path_lines(batched, "model.imported", batch_root / m.preview)) == 1  # row by row: its own line


def outcome(report: dict[str, Any], pending_id: int) -> tuple[str, Any]:
    """What an import report says of one id, as something two daemons' reports can be compared by."""
    found = [("imported", e["sha256"]) for e in report["imported"] if e["id"] == pending_id]
    found += [("conflict", c["existing"]["sha256"]) for c in report["conflicts"] if c["id"] == pending_id]
    found += [(kind, None) for kind in ("ignored", "deleted") if pending_id in report[kind]]
    found += [("failed", f["error"]) for f in report["failed"] if f["id"] == pending_id]
    assert len(found) == 1, (pending_id, report)
    return found[0]


async def library(d: Daemon, root: Path) -> dict[str, dict[str, Any]]:
    """Every model, by its path relative to `root`, as far as two daemons' libraries can be compared."""
    listed = (await d.get("/api/models?limit=1000&status=all"))["models"]
    found: dict[str, dict[str, Any]] = {}
    for entry in listed:
        model = await d.get(f"/api/models/{entry['sha256']}")
        rel = os.path.relpath(model["path"], root)
        found[rel] = {
            "sha256": model["sha256"], "blake3": model["blake3"], "name": model["name"], "type": model["type"],
            "status": model["status"], "base_model": model["base_model"], "tags": model["tags"],
            "meta_json": model["meta_json"], "size_bytes": model["size_bytes"],
            "images": [(i["width"], i["height"]) for i in model["images"]],
            "copies": [os.path.relpath(p, root) for p in model["copies"]],
        }
    return found


# -- with auto-import ---------------------------------------------------------------------------------------------
async def test_auto_import_of_a_first_index_imports_each_file_as_alone(daemon_factory, tmp_path: Path) -> None:
    powers = without_root_powers()
    m = mix()
    root, data = tmp_path / "models", tmp_path / "data"
    base_sha = await with_base(daemon_factory, root, m, data)
    put_all(root, m)
    d: Daemon = await daemon_factory("--models-root", str(root), "--auto-import", "no_conflict", data_dir=data,
                                     env=NOT_SYSTEMD, prefix=powers)
    imported = [*m.plain, m.preview, m.civitai, m.a1111, m.twins[0]]

    async def settled() -> dict[str, dict[str, Any]] | None:
        found = await library(d, root)
        rows = await every_row(d)
        done = len(found) == len(imported) + 1 and all(r["status"] in FINAL for r in rows) and len(rows) == 3
        return found if done else None

    found = await poll(settled, "every plain file imported", timeout=90)
    await d.wait_idle()
    assert set(found) == {m.base, *imported}
    for rel in imported:
        sha, b3 = digests(root / rel)
        assert (found[rel]["sha256"], found[rel]["blake3"], found[rel]["status"]) == (sha, b3, "ok"), rel
    rows = {os.path.relpath(r["path"], root): r for r in await every_row(d)}
    assert {rel: (r["status"], r["conflict_sha256"]) for rel, r in rows.items()} == {
        m.twins[1]: ("conflict", found[m.twins[0]]["sha256"]), m.dup: ("conflict", base_sha),
        m.locked: ("error", None)}
    assert found[m.preview]["images"] == [(64, 48)]
    assert found[m.civitai]["meta_json"]["description"] == "<p>described by civitai</p>"
    assert found[m.civitai]["base_model"] == "Pony"
    assert found[m.a1111]["meta_json"]["description"] == "described by a1111"
    assert found[m.twins[0]]["copies"] == []  # another file with the same content is no copy of it

    # At debug every file has its own lines beside the batch's summary lines.
    assert log_lines(d, "walk.new") and log_lines(d, "hash.batch") and log_lines(d, "import.batch")
    for rel in m.new:
        assert len(path_lines(d, "file.new", root / rel)) == 1, rel
    for rel in imported:
        assert len(path_lines(d, "file.ready", root / rel)) == 1, rel
        assert len(path_lines(d, "model.imported", root / rel)) == 1, rel
        assert " level=DEBUG " in f" {path_lines(d, 'file.ready', root / rel)[0]}" or rel not in m.plain
    assert len(path_lines(d, "file.conflict", root / m.dup)) == 1
    assert len(path_lines(d, "file.conflict", root / m.twins[1])) == 1


# -- rows left ready at start ---------------------------------------------------------------------------------------
@pytest.mark.timeout(400)
async def test_rows_left_ready_are_all_imported_at_start_with_auto_import(daemon_factory, tmp_path: Path) -> None:
    """More ready rows than one page of the start-up import, twins among them: every row but the twins' copies is
    imported, none is left ready."""
    root, data = tmp_path / "models", tmp_path / "data"
    count, pairs = 1150, 40
    paths = [write_model(root / "loras" / f"p{i % 10}" / f"ready-{i:04d}.safetensors", size=1024)
             for i in range(count)]
    for i in range(pairs):  # twins spread over the whole queue
        write_model(root / "checkpoints" / f"twin-{i:02d}.safetensors", size=1024,
                    seed=paths[i * (count // pairs)].name.encode())
    for p in root.rglob("*.safetensors"):
        os.utime(p, (HOUR_AGO, HOUR_AGO))
    first: Daemon = await daemon_factory("--models-root", str(root), settle=0.1, data_dir=data)

    async def all_ready() -> int | None:
        rows = await every_row(first)
        return len(rows) if len(rows) == count + pairs and all(r["status"] == "ready" for r in rows) else None

    await poll(all_ready, f"{count + pairs} ready rows", timeout=120)
    assert first.terminate() == 0

    second: Daemon = await daemon_factory("--models-root", str(root), "--auto-import", "no_conflict", settle=0.1,
                                          data_dir=data)

    async def imported() -> list[dict[str, Any]] | None:
        rows = await every_row(second)
        counts = (await second.get("/api/status"))["counts"]
        return rows if counts["models"] == count and len(rows) == pairs else None

    async def stuck() -> str:
        rows = await every_row(second)
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        return f"models: {(await second.get('/api/status'))['counts']['models']}, rows: {statuses}"

    try:
        rows = await poll(imported, f"{count} models and {pairs} conflict rows", timeout=60)
    except AssertionError as e:
        raise AssertionError(f"{e}; {await stuck()}") from None
    assert all(r["status"] == "conflict" for r in rows), {r["status"] for r in rows}


def drop_together(staging: Path, folder: Path, sizes: dict[str, int]) -> None:
    """Model files of these names and sizes written aside, then renamed into `folder` all at once, as an unpacked
    archive arrives."""
    staging.mkdir()
    for name, size in sizes.items():
        write_model(staging / name, size=size)
    for name in sizes:
        os.rename(staging / name, folder / name)


# -- files dropped together while the daemon runs --------------------------------------------------------------------
async def test_files_dropped_together_each_get_their_events_and_rows(daemon_factory, models: Path,
                                                                     tmp_path: Path) -> None:
    d: Daemon = await daemon_factory("--models-root", str(models))
    await d.wait_idle()
    events, task = await d.events()
    names = [f"dropped-{i:02d}.safetensors" for i in range(24)]
    drop_together(tmp_path / "staging", models / "loras", {name: 2048 + len(name) for name in names})
    rows = [await d.wait_row(models / "loras" / name) for name in names]
    await d.wait_idle()
    for name, row in zip(names, rows, strict=True):
        assert row["sha256"] == digests(models / "loras" / name)[0]
        assert len(events.of("pending.added", id=row["id"])) == 1, name
        assert len(events.of("pending.updated", id=row["id"], status="hashing")) == 1, name
        assert len(events.of("pending.updated", id=row["id"], status="ready")) == 1, name
    assert (await d.get("/api/status"))["session"]["files_hashed"] == len(names)
    task.cancel()


async def test_the_pending_images_of_rows_removed_together_go_with_them(daemon_factory, models: Path) -> None:
    d: Daemon = await daemon_factory("--models-root", str(models))
    await d.wait_idle()
    paths = []
    for i in range(4):
        (models / "loras" / f"pic-{i}.png").write_bytes(png((40 * i, 90, 200)))
        paths.append(write_model(models / "loras" / f"pic-{i}.safetensors", size=4096))
    rows = [await d.wait_row(p) for p in paths]
    pending_images = d.data_dir / "images" / "pending"

    def owners() -> set[int]:
        return {int(f.name.split("_")[0]) for f in pending_images.iterdir()}

    assert owners() == {r["id"] for r in rows}
    for p in paths[:3]:  # three rows go at once; the fourth keeps its images
        p.unlink()

    async def cleaned() -> bool:
        return owners() == {rows[3]["id"]} and len(await d.pending()) == 1

    await poll(cleaned, "the removed rows' image files to go")
    assert len(list(pending_images.glob(f"{rows[3]['id']}_0_*"))) == 3


# -- an import batch that fails as a whole ----------------------------------------------------------------------------
BROKEN_BATCH_SITE = """
from hikaze_mm.store.postgres.imports import PgImports
from hikaze_mm.store.sqlite.imports import SQLiteImports


async def _broken(self, promotions):
    raise RuntimeError("injected: the batch broke")


SQLiteImports.promote_new = PgImports.promote_new = _broken
"""


async def test_an_import_batch_that_fails_as_a_whole_goes_row_by_row(daemon_factory, models: Path,
                                                                     tmp_path: Path) -> None:
    d: Daemon = await daemon_factory("--models-root", str(models), env=with_site(tmp_path, BROKEN_BATCH_SITE))
    paths = [write_model(models / "loras" / f"row-{i:02d}.safetensors", size=3000 + i) for i in range(12)]
    rows = await d.ready_rows(*paths)
    ids = [r["id"] for r in reversed(rows)]
    report = await d.call("POST", "/api/pending/import", {"ids": ids})
    assert [e["id"] for e in report["imported"]] == ids and not report["failed"], report
    assert [e["sha256"] for e in report["imported"]] == [digests(p)[0] for p in reversed(paths)]
    assert await d.pending() == []
    assert len(log_lines(d, "import.batch_failed")) == 1
    assert not log_lines(d, "import.batch")
    found = (await d.get("/api/models?q=row-07"))["models"]
    assert [m["sha256"] for m in found] == [digests(paths[7])[0]]


async def test_auto_import_makes_files_dropped_together_models_without_a_stop_at_ready(
    daemon_factory, models: Path, tmp_path: Path
) -> None:
    """Plainly new files hashed together become models in the transaction that would have recorded them ready,
    each a model with its own digests; the events still say each was hashed (progress counts them), then gone
    from the queue into the library."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict", env=NOT_SYSTEMD)
    await d.wait_idle()
    events, task = await d.events()
    names = [f"auto-{i:02d}.safetensors" for i in range(24)]
    drop_together(tmp_path / "staging", models / "loras", {name: 2048 + len(name) + i for i, name in enumerate(names)})

    async def all_models() -> bool:
        return (await d.get("/api/status"))["counts"]["models"] == len(names) and not await d.pending()

    await poll(all_models, f"{len(names)} models")
    await d.wait_idle()
    for name in names:
        path = models / "loras" / name
        sha, b3 = digests(path)
        model = await d.get(f"/api/models/{sha}")
        assert (model["path"], model["blake3"], model["status"]) == (str(path), b3, "ok"), name
        (added,) = events.of("pending.added", path=str(path))
        row_events = [(e["type"], e.get("status")) for e in events.events
                      if e.get("id") == added["id"] and e["type"].startswith("pending.")]
        assert row_events == [("pending.added", "settling"), ("pending.updated", "hashing"),
                              ("pending.updated", "ready"), ("pending.removed", None)], name
        (ready,) = events.of("pending.updated", id=added["id"], status="ready")
        assert (ready["sha256"], ready["blake3"], ready["size_bytes"]) == (sha, b3, path.stat().st_size), name
        assert len(events.of("model.added", sha256=sha)) == 1, name
    batches = log_lines(d, "hash.batch")
    assert batches and all(" ready=" not in f"{ln} " for ln in batches), batches
    assert sum(field_of(ln, "imported") for ln in batches) >= 2
    task.cancel()


async def test_auto_import_of_files_just_hashed_that_fails_as_a_whole_records_them_ready(
    daemon_factory, models: Path, tmp_path: Path
) -> None:
    """The batch that would make files models as they are hashed breaks: they are recorded ready instead, and the
    auto-import then takes them one by one. Nothing is lost on the way."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict",
                                     env=with_site(tmp_path, BROKEN_BATCH_SITE))
    await d.wait_idle()
    paths = [write_model(models / "loras" / f"kept-{i:02d}.safetensors", size=3000 + i) for i in range(12)]

    async def all_models() -> bool:
        return (await d.get("/api/status"))["counts"]["models"] == len(paths) and not await d.pending()

    await poll(all_models, f"{len(paths)} models")
    for p in paths:
        sha, b3 = digests(p)
        model = await d.get(f"/api/models/{sha}")
        assert (model["path"], model["blake3"], model["status"]) == (str(p), b3, "ok"), p
    assert log_lines(d, "import.batch_failed")


# -- a batch of files the library knows -------------------------------------------------------------------------------
PAIR = re.compile(r'[A-Za-z_][\w.]*=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)')


async def test_a_batch_of_models_files_touched_again_keeps_them_and_logs_key_value_pairs(
    daemon_factory, models: Path
) -> None:
    d: Daemon = await daemon_factory("--models-root", str(models), "--log-level", "info", env=NOT_SYSTEMD)
    paths = [write_model(models / "loras" / f"known-{i}.safetensors", size=2048 + i) for i in range(6)]
    shas = await d.import_files(*paths)
    await d.wait_idle()
    before = len(log_lines(d, "hash.batch"))
    later = time.time() + 60
    for p in paths:  # touched, same content: hashed again, together, and found to be the models they were
        os.utime(p, (later, later))
    await d.rescan()

    async def rehashed() -> list[str]:
        return log_lines(d, "hash.batch")[before:]

    await poll(rehashed, "a hash.batch line for the touched files")
    await d.wait_idle()
    lines = log_lines(d, "hash.batch")[before:]
    assert await d.pending() == []
    for p, sha in zip(paths, shas, strict=True):
        model = await d.get(f"/api/models/{sha}")
        assert (model["path"], model["status"]) == (str(p), "ok")
    # Each line stays key=value pairs a log reader can split: no key with spaces in it.
    for line in lines:
        assert PAIR.sub("", line).strip() == "", line
    assert sum(field_of(line, "files") for line in lines) + len(log_lines(d, "model.unchanged")) == len(
        paths), lines
