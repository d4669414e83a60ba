"""Bringing a first-version (v1) database into the daemon, through `POST /api/migrate/legacy` and through
`hikaze-mm import-legacy`: what each v1 row becomes, that running it again duplicates and loses nothing, that the
v1 file is left byte for byte, and that bad input is refused with a reason."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from conftest import DEADLINE_S, Daemon, digests, free_port, poll, run_cli, with_site, write_model, written_bytes

V1_DDL = (
    "CREATE TABLE models (id INTEGER PRIMARY KEY, path, name, type, size_bytes INTEGER, hash_hex, "
    "created_at INTEGER, extra_json, meta_json)",
    "CREATE TABLE tags (id INTEGER PRIMARY KEY, name, color)",
    "CREATE TABLE model_tags (model_id, tag_id)",
)
WRONG_HASH = "ab" * 32
FILE_GONE = "the file is gone"
# What the reader dropped from a row it still took reaches the user in the report.
NOTES = [{"legacy_id": 1, "notes": ["community_links: not http(s) URLs, dropped: not-a-link"]}]


def make_v1(path: Path, models: Sequence[dict[str, Any]], tags: Sequence[tuple[int, str]],
            links: Sequence[tuple[int, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # what v1 set on every connection
    for statement in V1_DDL:
        conn.execute(statement)
    for row in models:
        values = [json.dumps(v) if k.endswith("_json") and isinstance(v, dict) else v for k, v in row.items()]
        conn.execute(f"INSERT INTO models ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", values)
    conn.executemany("INSERT INTO tags (id, name, color) VALUES (?, ?, '#fff')", tags)
    conn.executemany("INSERT INTO model_tags (model_id, tag_id) VALUES (?, ?)", links)
    conn.commit()
    conn.close()
    return path


def fingerprint(db: Path) -> tuple[str, list[str], int]:
    return hashlib.sha256(db.read_bytes()).hexdigest(), sorted(os.listdir(db.parent)), db.stat().st_mtime_ns


@dataclass
class V1:
    db: Path
    images: Path
    tagged: Path  # exists, correct hash, tags, metadata, an image
    wrong: Path  # exists, a wrong 64-hex hash
    gone: Path  # no file; tags and metadata
    gone_vae: Path  # no file; a description only


def build_v1(tmp_path: Path, models: Path, image_row: int = 1) -> V1:
    """The v1 database and images folder. The model files are not written here (see `write_files`)."""
    v1 = V1(db=tmp_path / "v1" / "hikaze_mm.sqlite3", images=tmp_path / "v1" / "images",
            tagged=models / "loras" / "tagged.safetensors", wrong=models / "checkpoints" / "wrong.safetensors",
            gone=models / "loras" / "gone.safetensors", gone_vae=models / "vae" / "gone_vae.safetensors")
    v1.images.mkdir(parents=True)
    Image.new("RGB", (40, 30), (10, 120, 240)).save(v1.images / "tagged.png")
    tagged_sha = hashlib.sha256(model_bytes(v1.tagged)).hexdigest()
    meta_1 = {
        "description": "  A tagged LoRA.  ",
        "community_links": "https://civitai.com/models/1 not-a-link https://example.com/x",
        "prompts": {"positive": "masterpiece, mychar", "negative": "lowres"},
        "images": ["/media/tagged.png"],
    }
    meta_3 = {"description": "gone but remembered", "prompts": {"positive": "gone prompt"}}
    rows: list[dict[str, Any]] = [
        {"id": 1, "path": str(v1.tagged), "name": "Tagged", "type": "lora", "size_bytes": 65536,
         "hash_hex": tagged_sha.upper(), "created_at": 1_700_000_000, "extra_json": meta_1 if image_row == 1 else
         {k: v for k, v in meta_1.items() if k != "images"}, "meta_json": None},
        {"id": 2, "path": str(v1.wrong), "name": "Wrong", "type": "checkpoint", "size_bytes": 65536,
         "hash_hex": WRONG_HASH, "created_at": 1_700_000_001, "extra_json": {}, "meta_json": None},
        {"id": 3, "path": str(v1.gone), "name": "Gone", "type": "lora", "size_bytes": 1, "hash_hex": "",
         "created_at": 1_700_000_002,
         "extra_json": meta_3 if image_row == 1 else {**meta_3, "images": ["/media/tagged.png"]}},
        {"id": 4, "path": str(v1.gone_vae), "name": "GoneVae", "type": "vae", "hash_hex": None,
         "extra_json": {"description": "vae note"}},
        {"id": 5, "path": None, "name": "nowhere", "type": "lora"},
        {"id": 6, "path": str(v1.tagged), "name": "same path again", "type": "lora"},
    ]
    tags = [(1, "anime"), (2, "style"), (3, "lora"), (4, "keepme"), (5, "ANIME"), (6, "checkpoint")]
    links = [(1, 1), (1, 2), (1, 3), (2, 2), (2, 5), (2, 6), (3, 4), (3, 3)]
    make_v1(v1.db, rows, tags, links)
    return v1


def model_bytes(path: Path) -> bytes:
    """What `write_files` writes at `path`."""
    return written_bytes(path.name.encode(), 65536, path.suffix)


def write_files(v1: V1) -> None:
    write_model(v1.tagged)
    write_model(v1.wrong)
    assert v1.tagged.read_bytes() == model_bytes(v1.tagged)


async def migrate(d: Daemon, v1: V1) -> dict[str, Any]:
    """POST the migration (it answers at once with the job) and wait for the job's report."""
    job = await d.call("POST", "/api/migrate/legacy", {"db_path": str(v1.db), "images_dir": str(v1.images)},
                       expect=202)
    ended = await job_end(d, job)
    assert ended["state"] == "done", ended
    return ended["report"]


async def job_end(d: Daemon, job: dict[str, Any], timeout: float = DEADLINE_S) -> dict[str, Any]:
    async def over() -> dict[str, Any] | None:
        last = (await d.get("/api/status"))["legacy"]
        return last if last["id"] == job["id"] and last["state"] != "running" else None

    return await poll(over, f"v1 migration {job['id']} to end", timeout)


async def detail_at(d: Daemon, path: Path) -> dict[str, Any]:
    (row,) = [r for r in await d.pending() if r["path"] == str(path)]
    return await d.get(f"/api/pending/{row['id']}")


def tag_names(detail: dict[str, Any]) -> list[str]:
    return sorted(t["name"].lower() for t in detail["tags"])


def pending_images(d: Daemon, pending_id: int) -> list[str]:
    return sorted(p.name for p in (d.data_dir / "images" / "pending").glob(f"{pending_id}_*"))


async def everything(d: Daemon) -> dict[str, Any]:
    """All pending rows in detail, the models and the tags: to compare before and after."""
    return {
        "pending": [await d.get(f"/api/pending/{r['id']}") for r in await d.pending()],
        "models": [await d.get(f"/api/models/{m['sha256']}")
                   for m in (await d.get("/api/models?status=all&limit=1000"))["models"]],
        "tags": await d.get("/api/tags"),
    }


SKIPPED = [{"legacy_id": 5, "reason": "no path"}, {"legacy_id": 6, "reason": "same path as v1 model 1"}]


async def migrated_once(daemon_factory, models: Path, tmp_path: Path) -> tuple[Daemon, Any, dict, dict]:
    """A daemon (watching off, so only the migration brings the files in) after one migration, with the two
    rows whose files exist hashed."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    await d.wait_idle()
    v1 = build_v1(tmp_path, models)
    write_files(v1)
    await migrate(d, v1)
    tagged, wrong = await d.ready_rows(v1.tagged, v1.wrong)
    return d, v1, tagged, wrong


# -- through the API ------------------------------------------------------------------------------------------
async def test_migration_of_every_kind_of_row_twice(daemon_factory, models: Path, tmp_path: Path):
    # Watching is off and the model files appear after the start-up walk: only the migration brings them in.
    d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    await d.wait_idle()
    v1 = build_v1(tmp_path, models)
    write_files(v1)
    before_v1 = fingerprint(v1.db)

    report = await migrate(d, v1)
    assert report == {"source": str(v1.db), "migrated": 4, "merged": 0, "missing_files": 2, "outside_folders": 0,
                      "not_model_files": 0, "images_copied": 1,
                      "skipped": SKIPPED, "errors": [], "hash_mismatches": [], "notes": NOTES}
    tagged, wrong = await d.ready_rows(v1.tagged, v1.wrong)
    assert (tagged["sha256"], tagged["blake3"]) == digests(v1.tagged)
    assert (wrong["sha256"], wrong["blake3"]) == digests(v1.wrong)
    assert (tagged["type"], wrong["type"]) == ("loras", "checkpoints")  # the folder decides

    t = await d.get(f"/api/pending/{tagged['id']}")
    assert tag_names(t) == ["anime", "style"]  # v1's own type tag ("lora") is not a user tag
    meta = t["meta_json"]
    assert meta["description"] == "A tagged LoRA."
    assert meta["community_links"] == ["https://civitai.com/models/1", "https://example.com/x"]
    assert meta["prompts"] == {"positive": "masterpiece, mychar", "negative": "lowres"}
    assert meta["legacy"]["id"] == 1 and meta["legacy"]["images"] == ["/media/tagged.png"]
    assert meta["legacy_sha256"] == tagged["sha256"] and "legacy_sha256_mismatch" not in meta
    assert pending_images(d, tagged["id"]) == [f"{tagged['id']}_0_{x}.webp" for x in ("high", "low", "medium")]

    w = await d.get(f"/api/pending/{wrong['id']}")
    assert w["meta_json"]["legacy_sha256_mismatch"] == {"claimed": WRONG_HASH, "actual": wrong["sha256"]}
    assert tag_names(w) == ["anime", "style"]  # "ANIME" is the same tag as "anime"

    for path, tags, description in ((v1.gone, ["keepme"], "gone but remembered"), (v1.gone_vae, [], "vae note")):
        g = await detail_at(d, path)
        assert (g["status"], g["error"], g["sha256"]) == ("error", FILE_GONE, None), path
        assert tag_names(g) == tags and g["meta_json"]["description"] == description
    assert {t["name"].lower(): (t["models"], t["pending"]) for t in (await d.get("/api/tags"))["tags"]} == {
        "anime": (0, 2), "keepme": (0, 1), "style": (0, 2)}

    # A walk keeps the rows whose files are gone: they hold what the user once entered.
    await d.rescan()
    first = await everything(d)
    assert len(first["pending"]) == 4
    assert {(r["path"], r["status"]) for r in first["pending"]} == {
        (str(v1.tagged), "ready"), (str(v1.wrong), "ready"), (str(v1.gone), "error"), (str(v1.gone_vae), "error")}

    # Again: nothing new, nothing duplicated, nothing lost.
    report = await migrate(d, v1)
    mismatch = {"legacy_id": 2, "path": str(v1.wrong), "claimed": WRONG_HASH, "actual": wrong["sha256"]}
    assert report == {"source": str(v1.db), "migrated": 0, "merged": 4, "missing_files": 0, "outside_folders": 0,
                      "not_model_files": 0, "images_copied": 0,
                      "skipped": SKIPPED, "errors": [], "hash_mismatches": [mismatch],  # hashed by now: told now
                      "notes": NOTES}
    await d.wait_idle()
    assert await everything(d) == first
    assert pending_images(d, tagged["id"]) == [f"{tagged['id']}_0_{x}.webp" for x in ("high", "low", "medium")]
    assert fingerprint(v1.db) == before_v1

    # A row whose file is gone cannot be imported, and says why; when the file is back it is hashed as usual.
    gone_row = await detail_at(d, v1.gone)
    report = await d.call("POST", "/api/pending/import", {"ids": [gone_row["id"]]})
    assert report["failed"] == [{"id": gone_row["id"], "error": f"the file could not be hashed: {FILE_GONE}"}]
    write_model(v1.gone)
    await d.rescan()
    back = await d.wait_row(v1.gone)
    assert back["id"] == gone_row["id"] and back["sha256"] == digests(v1.gone)[0]
    back = await d.get(f"/api/pending/{back['id']}")
    assert tag_names(back) == ["keepme"] and back["meta_json"]["description"] == "gone but remembered"
    assert back["meta_json"]["prompts"] == {"positive": "gone prompt", "negative": ""}


async def test_imported_row_keeps_description_prompts_tags_and_image(daemon_factory, models: Path, tmp_path: Path):
    d, v1, tagged, wrong = await migrated_once(daemon_factory, models, tmp_path)
    report = await d.call("POST", "/api/pending/import", {"ids": [tagged["id"], wrong["id"]]})
    assert [i["id"] for i in report["imported"]] == [tagged["id"], wrong["id"]]
    model = await d.get(f"/api/models/{tagged['sha256']}")
    assert (model["name"], model["type"], model["path"]) == ("tagged", "loras", str(v1.tagged))
    assert [t.lower() for t in model["tags"]] == ["anime", "style"]
    meta = model["meta_json"]
    assert meta["description"] == "A tagged LoRA."
    assert meta["prompts"] == {"positive": "masterpiece, mychar", "negative": "lowres"}
    assert meta["community_links"] == ["https://civitai.com/models/1", "https://example.com/x"]
    assert meta["legacy"]["id"] == 1
    (image,) = model["images"]
    assert (image["width"], image["height"]) == (40, 30)
    assert d.session is not None
    async with d.session.get(d.url + image["urls"]["high"]) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/webp"
    assert [t.lower() for t in (await d.get(f"/api/models/{wrong['sha256']}"))["tags"]] == ["anime", "style"]
    assert [m["name"] for m in (await d.get("/api/models?q=tagged%20lora"))["models"]] == ["tagged"]
    # Running the migration again now merges into the model: nothing is duplicated, nothing reverts.
    await d.call("PATCH", f"/api/models/{tagged['sha256']}", {"meta_json": {"description": "edited since"}})
    report = await migrate(d, v1)
    assert (report["migrated"], report["merged"], report["errors"]) == (0, 4, [])
    again = await d.get(f"/api/models/{tagged['sha256']}")
    assert again["meta_json"]["description"] == "edited since"
    assert again["tags"] == model["tags"] and len(again["images"]) == 1
    assert str(v1.tagged) not in [r["path"] for r in await d.pending()]


async def test_bug_6_rerunning_the_migration_loses_no_tag(daemon_factory, models: Path, tmp_path: Path):
    d, v1, tagged, wrong = await migrated_once(daemon_factory, models, tmp_path)
    await d.call("POST", "/api/pending/import", {"ids": [tagged["id"]]})
    # Tags given since the first run: on the model, and tags that only the v1 file knows on the pending rows.
    await d.call("PATCH", f"/api/models/{tagged['sha256']}", {"tags": ["anime", "style", "added later"]})
    before = await everything(d)
    for _ in range(2):
        report = await migrate(d, v1)
        assert (report["migrated"], report["merged"], report["errors"]) == (0, 4, [])
    await d.wait_idle()
    after = await everything(d)
    assert after["tags"] == before["tags"]
    assert [p["tags"] for p in after["pending"]] == [p["tags"] for p in before["pending"]]
    assert sorted(t.lower() for t in after["models"][0]["tags"]) == ["added later", "anime", "style"]
    assert tag_names(await d.get(f"/api/pending/{wrong['id']}")) == ["anime", "style"]
    assert tag_names(await detail_at(d, v1.gone)) == ["keepme"]


async def test_already_hashed_files_get_the_v1_data_and_the_hash_check(daemon: Daemon, models: Path, tmp_path: Path):
    """The usual case: the daemon has watched the folder for a while, so the v1 models' files are ready rows
    before the migration runs. They must still get the v1 tags, metadata, image and hash comparison."""
    v1 = build_v1(tmp_path, models)
    write_files(v1)
    tagged, wrong = await daemon.ready_rows(v1.tagged, v1.wrong)
    report = await migrate(daemon, v1)
    assert (report["migrated"], report["merged"], report["missing_files"]) == (2, 2, 2)
    assert report["errors"] == []
    await daemon.wait_idle()
    t = await daemon.get(f"/api/pending/{tagged['id']}")
    assert tag_names(t) == ["anime", "style"] and t["meta_json"]["description"] == "A tagged LoRA."
    assert t["meta_json"]["prompts"] == {"positive": "masterpiece, mychar", "negative": "lowres"}
    w = await daemon.get(f"/api/pending/{wrong['id']}")
    assert tag_names(w) == ["anime", "style"]
    problems = []
    if "legacy_sha256_mismatch" in t["meta_json"]:
        problems.append("a correct v1 hash is reported as a mismatch")
    if w["meta_json"].get("legacy_sha256_mismatch") != {"claimed": WRONG_HASH, "actual": wrong["sha256"]}:
        problems.append(f"the wrong v1 hash of an already hashed file is not reported: {w['meta_json']}")
    if t["meta_json"].get("legacy", {}).get("id") != 1:
        problems.append(f"the v1 record (`legacy`) is not kept on a merged row: {t['meta_json']}")
    if report["images_copied"] != 1 or len(pending_images(daemon, tagged["id"])) != 3:
        problems.append(f"the v1 image of a file that was already a pending row is dropped: {report}")
    assert problems == [], "\n".join(problems)


async def test_tag_rename_merge_reaches_pending_rows(daemon_factory, models: Path, tmp_path: Path):
    d, v1, tagged, wrong = await migrated_once(daemon_factory, models, tmp_path)
    tags = {t["name"].lower(): t["id"] for t in (await d.get("/api/tags"))["tags"]}
    # "style" into "anime": both rows had both; each keeps one link, to the surviving tag.
    merged = await d.call("PATCH", f"/api/tags/{tags['style']}", {"name": "Anime"})
    assert merged == {"id": tags["anime"], "name": "Anime"}
    for row in (tagged, wrong):
        assert (await d.get(f"/api/pending/{row['id']}"))["tags"] == [
            {"id": tags["anime"], "name": "Anime"}]
    # "keepme" into "anime": the gone row's only tag moves over.
    await d.call("PATCH", f"/api/tags/{tags['keepme']}", {"name": "anime"})
    assert tag_names(await detail_at(d, v1.gone)) == ["anime"]
    assert [(t["id"], t["pending"]) for t in (await d.get("/api/tags"))["tags"]] == [(tags["anime"], 3)]
    # Importing keeps the merged tag.
    await d.call("POST", "/api/pending/import", {"ids": [tagged["id"]]})
    assert [t.lower() for t in (await d.get(f"/api/models/{tagged['sha256']}"))["tags"]] == ["anime"]


# -- bad input ------------------------------------------------------------------------------------------------
async def test_bad_requests_are_400_and_lose_nothing(daemon_factory, models: Path, tmp_path: Path):
    d, v1, _, _ = await migrated_once(daemon_factory, models, tmp_path)
    await d.wait_idle()
    before = await everything(d)
    before_v1 = fingerprint(v1.db)

    text = tmp_path / "notes.sqlite3"
    text.write_text("this is not a database\n" * 10)
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    other_db = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other_db)
    conn.execute("CREATE TABLE models (sha256 TEXT PRIMARY KEY)")
    conn.commit()
    conn.close()
    no_columns = tmp_path / "no_columns.sqlite3"
    conn = sqlite3.connect(no_columns)
    conn.execute("CREATE TABLE models (id INTEGER PRIMARY KEY, name)")
    conn.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name)")
    conn.execute("CREATE TABLE model_tags (model_id, tag_id)")
    conn.commit()
    conn.close()
    missing = tmp_path / "nowhere" / "hikaze_mm.sqlite3"
    cases: list[tuple[Any, str]] = [
        ({"db_path": str(missing)}, "does not exist"),
        ({"db_path": str(text)}, "not an SQLite database"),
        ({"db_path": str(empty)}, "not an SQLite database"),
        ({"db_path": str(other_db)}, "not a Hikaze v1 database"),
        ({"db_path": str(no_columns)}, "has no path"),
        ({"db_path": str(tmp_path)}, "not a file"),
        ({"db_path": str(v1.db), "images_dir": str(tmp_path / "no-images")}, "does not exist"),
        ({"db_path": str(v1.db), "images_dir": str(text)}, "not a folder"),
        ({"db_path": ""}, "`db_path`"),
        ({"db_path": "   "}, "`db_path`"),
        ({"db_path": 5}, "`db_path`"),
        ({"db_path": str(v1.db) + "\u0000x"}, "`db_path`"),
        ({"db_path": str(v1.db), "images_dir": 7}, "`images_dir`"),
        ({}, "`db_path`"),
        ({"db_path": str(v1.db), "force": True}, "unknown field"),
        ([str(v1.db)], "JSON object"),
    ]
    for body, words in cases:
        code, answer = await d.request("POST", "/api/migrate/legacy", json=body)
        assert code == 400 and words in answer["error"], (body, code, answer)
    code, answer = await d.request("POST", "/api/migrate/legacy", data="{oops")
    assert code == 400 and "not valid JSON" in answer["error"]
    assert await everything(d) == before
    assert not missing.exists() and not missing.parent.exists()
    assert fingerprint(v1.db) == before_v1
    assert text.read_text() == "this is not a database\n" * 10 and empty.stat().st_size == 0


# -- through the command line ---------------------------------------------------------------------------------
async def test_cli_without_a_daemon_then_the_daemon_sees_the_rows(daemon_factory, databases, models: Path,
                                                                  tmp_path: Path):
    # The image is on a row whose file is gone, so the report does not depend on whether the start-up walk or
    # the migration reaches the two existing files first.
    v1 = build_v1(tmp_path, models, image_row=3)
    write_files(v1)
    before_v1 = fingerprint(v1.db)
    data = tmp_path / "data"
    common = ["--models-root", str(models), "--data-dir", str(data), "--port", str(free_port()),
              "--settle-seconds", "0.2", *await databases.args(data)]
    result = run_cli("import-legacy", str(v1.db), "--images", str(v1.images), *common)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == str(v1.db)
    assert report["migrated"] + report["merged"] == 4 and report["missing_files"] == 2
    assert (report["images_copied"], report["skipped"], report["errors"]) == (1, SKIPPED, [])
    assert fingerprint(v1.db) == before_v1

    # A second run duplicates nothing.
    result = run_cli("import-legacy", str(v1.db), "--images", str(v1.images), *common)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["migrated"], report["merged"], report["images_copied"], report["errors"]) == (0, 4, 0, [])

    # Bad input: exit 1 and a reason on stderr, nothing on stdout.
    for bad, words in ((tmp_path / "missing.sqlite3", "does not exist"), (v1.images / "tagged.png",
                                                                          "not an SQLite database")):
        result = run_cli("import-legacy", str(bad), *common)
        assert result.returncode == 1 and words in result.stderr and result.stdout == "", result
    result = run_cli("import-legacy", str(v1.db), "--images", str(tmp_path / "nope"), *common)
    assert result.returncode == 1 and "does not exist" in result.stderr

    d: Daemon = await daemon_factory("--models-root", str(models), data_dir=data)
    await d.wait_idle()
    rows = await d.pending()
    assert sorted(r["path"] for r in rows) == sorted(map(str, (v1.tagged, v1.wrong, v1.gone, v1.gone_vae)))
    tagged, wrong = await d.ready_rows(v1.tagged, v1.wrong)
    assert tagged["sha256"] == digests(v1.tagged)[0] and wrong["sha256"] == digests(v1.wrong)[0]
    t = await d.get(f"/api/pending/{tagged['id']}")
    assert tag_names(t) == ["anime", "style"] and t["meta_json"]["prompts"]["negative"] == "lowres"
    g = await detail_at(d, v1.gone)
    assert (g["status"], g["error"], tag_names(g)) == ("error", FILE_GONE, ["keepme"])
    assert len(pending_images(d, g["id"])) == 3
    assert sorted(t["name"].lower() for t in (await d.get("/api/tags"))["tags"]) == ["anime", "keepme", "style"]
    w = await d.get(f"/api/pending/{wrong['id']}")
    assert w["meta_json"].get("legacy_sha256_mismatch") == {"claimed": WRONG_HASH, "actual": wrong["sha256"]}, (
        f"the wrong v1 hash is not reported; the row's metadata: {w['meta_json']}")


async def test_cli_asks_the_running_daemon(daemon: Daemon, models: Path, tmp_path: Path):
    v1 = build_v1(tmp_path, models)
    await daemon.wait_idle()
    before_v1 = fingerprint(v1.db)
    common = ["--models-root", str(models), "--data-dir", str(daemon.data_dir), "--port", str(daemon.port)]
    result = run_cli("import-legacy", str(v1.db), "--images", str(v1.images), *common)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # No model file exists here: all four rows are kept for their data alone.
    assert (report["migrated"], report["missing_files"], report["images_copied"]) == (4, 4, 1)
    assert len(await daemon.pending(status="error")) == 4
    result = run_cli("import-legacy", str(tmp_path / "missing.sqlite3"), *common)
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert len(await daemon.pending()) == 4
    assert fingerprint(v1.db) == before_v1


# -- rows that name files outside the model folders ----------------------------------------------------------
# Loaded into the daemon through PYTHONPATH (see conftest.with_site): every file the daemon (or a thread or process
# of it) opens through Python is logged by its real path. Hashing, trashing and image encoding all open through
# Python, so a file missing from the log was never read.
OPEN_LOG_SITE = r"""
import os, sys, threading
_log = os.open(os.environ["HIKAZE_TEST_OPEN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
_inside = threading.local()


def _hook(event, args):
    if event != "open" or getattr(_inside, "on", False) or not isinstance(args[0], (str, bytes)):
        return
    _inside.on = True
    try:
        os.write(_log, os.fsencode(os.path.realpath(args[0])) + b"\n")
    finally:
        _inside.on = False


sys.addaudithook(_hook)
"""


def opened(log: Path) -> set[str]:
    return set(log.read_text().splitlines()) if log.exists() else set()


def v1_row(legacy_id: int, path: str, name: str) -> dict[str, Any]:
    return {"id": legacy_id, "path": path, "name": name, "type": "lora", "size_bytes": 1, "hash_hex": None,
            "extra_json": {"description": f"about {name}", "prompts": {"positive": f"{name} prompt"}}}


async def test_rows_outside_the_model_folders_are_never_read_hashed_or_trashed(daemon_factory, models: Path,
                                                                               tmp_path: Path):
    tmp = tmp_path.resolve()
    outside = tmp / "outside"
    outside.mkdir()
    canary = outside / "canary.safetensors"
    canary.write_bytes(os.urandom(12_345))
    second = outside / "second.safetensors"
    second.write_bytes(os.urandom(12_346))
    key = outside / "id_ed25519"  # what an SSH key looks like: no model extension
    key.write_bytes(os.urandom(4_321))
    secrets = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (canary, second, key)}
    before = {p: p.read_bytes() for p in secrets}
    (tmp / "alias").symlink_to(outside, target_is_directory=True)  # in the model folder's parent
    (tmp / "canary_link.safetensors").symlink_to(canary)
    notes = models / "loras" / "notes.txt"
    notes.write_text("a note beside the models, not a model\n")
    real = write_model(models / "loras" / "real.safetensors")
    proc = "/proc/self/root"
    paths = {
        1: str(canary),
        2: str(tmp / "alias" / canary.name),
        3: proc + str(canary),
        4: str(models / "loras" / ".." / ".." / "outside" / second.name),
        5: str(key),
        6: proc + str(key),
        7: str(tmp / "canary_link.safetensors"),
        8: str(notes),
        9: str(real),
        10: proc + str(real),  # the model's own file by another name: the same row, not a second one
    }
    v1 = V1(db=tmp / "v1" / "hikaze_mm.sqlite3", images=tmp / "v1" / "images", tagged=real, wrong=real, gone=real,
            gone_vae=real)
    v1.images.mkdir(parents=True)
    make_v1(v1.db, [v1_row(i, p, f"row{i}") for i, p in paths.items()], [(1, "kept")], [(i, 1) for i in paths])

    log = tmp / "opened.log"
    d: Daemon = await daemon_factory("--models-root", str(models),
                                     env={**with_site(tmp, OPEN_LOG_SITE), "HIKAZE_TEST_OPEN_LOG": str(log)})
    await d.ready_rows(real)
    events, reader = await d.events()
    report = await migrate(d, v1)
    await d.wait_idle()
    assert (report["migrated"], report["merged"], report["outside_folders"], report["not_model_files"]) == (8, 2, 7, 1)
    assert (report["errors"], report["skipped"]) == ([], [])

    rows = {r["path"]: r for r in await d.pending()}
    assert len(rows) == 9, sorted(rows)  # rows 9 and 10 are one row, at the model folder's own spelling
    for legacy_id in range(1, 9):
        path = os.path.normpath(paths[legacy_id])
        row = await d.get(f"/api/pending/{rows[path]['id']}")
        what = f"v1 row {legacy_id} ({path})"
        assert (row["status"], row["sha256"], row["blake3"], row["size_bytes"]) == ("error", None, None, 0), what
        reason = "not a model file" if legacy_id == 8 else "outside the model folders"
        assert row["error"].startswith(reason), (what, row["error"])
        if legacy_id != 8:
            assert f"its folder {os.path.dirname(path)} " in row["error"] or "absolute" in row["error"], row["error"]
        assert row["meta_json"]["description"] == f"about row{legacy_id}", what
        assert row["meta_json"]["prompts"]["positive"] == f"row{legacy_id} prompt", what
        assert row["meta_json"]["legacy"]["id"] == legacy_id and tag_names(row) == ["kept"], what
    model_row = await d.get(f"/api/pending/{rows[str(real)]['id']}")
    assert model_row["status"] == "ready" and model_row["sha256"] == digests(real)[0]
    assert model_row["meta_json"]["description"] == "about row9"  # the first v1 row's data; row 10's merged in

    # Nobody may make the daemon read them, delete them, or tell their hash or size: not an import with the
    # "delete" strategy and file deletion, not a retry.
    ids = [r["id"] for r in rows.values()]
    imported = await d.call("POST", "/api/pending/import", {"ids": ids, "conflict_strategy": "delete",
                                                            "delete_files": True})
    assert [i["id"] for i in imported["imported"]] == [model_row["id"]]
    kept_out = [i for i in ids if i != model_row["id"]]
    assert sorted(f["id"] for f in imported["failed"]) == sorted(kept_out)
    retried = await d.call("POST", "/api/pending/retry", {"ids": kept_out})
    assert retried["retried"] == [] and len(retried["failed"]) == 8
    assert all(f["error"].startswith(("outside the model folders", "not a model file")) for f in retried["failed"])
    await d.wait_idle()
    after = await everything(d)
    assert [r["status"] for r in after["pending"]] == ["error"] * 8
    assert {p: p.read_bytes() for p in secrets} == before
    assert sorted(os.listdir(outside)) == ["canary.safetensors", "id_ed25519", "second.safetensors"]
    reader.cancel()
    told = json.dumps([after, report, await d.get("/api/status"), imported, retried, events.events])
    for path, sha256 in secrets.items():
        assert sha256 not in told, f"the sha256 of {path} was told"
    assert not any(r["size_bytes"] in (12_345, 12_346, 4_321) for r in after["pending"])
    seen = opened(log)
    assert str(real) in seen, "the open log works: the model file in the model folder was read"
    assert not {str(canary), str(second), str(key), str(notes)} & seen, sorted(seen)


async def test_a_row_kept_out_is_taken_in_by_a_retry_once_its_folder_is_added(daemon_factory, models: Path,
                                                                              tmp_path: Path):
    extra = tmp_path.resolve() / "extra"
    late = write_model(extra / "loras" / "late.safetensors")
    v1 = V1(db=tmp_path / "v1" / "hikaze_mm.sqlite3", images=tmp_path / "v1" / "images", tagged=late, wrong=late,
            gone=late, gone_vae=late)
    v1.images.mkdir(parents=True)
    make_v1(v1.db, [v1_row(1, str(late), "late")], [(1, "kept")], [(1, 1)])
    log = tmp_path / "opened.log"
    env = {**with_site(tmp_path, OPEN_LOG_SITE), "HIKAZE_TEST_OPEN_LOG": str(log)}
    d: Daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "off", env=env)
    await d.wait_idle()
    assert (await migrate(d, v1))["outside_folders"] == 1
    (row,) = await d.pending()
    assert row["error"] == (f"outside the model folders: its folder {late.parent} is not in one; add that folder "
                            "to the model folders, then retry")
    retried = await d.call("POST", "/api/pending/retry", {"ids": [row["id"]]})
    assert retried == {"retried": [], "failed": [{"id": row["id"], "error": row["error"]}]}
    assert str(late) not in opened(log)
    await d.close()

    # With the folder added, the start-up walk would find the file by itself: it is put aside while that runs,
    # so that the retry is what brings it in.
    aside = late.rename(extra / "late.aside")
    d = await daemon_factory("--models-root", str(models), "--models-root", str(extra), "--watch-mode", "off",
                             data_dir=d.data_dir, env=env)
    await d.wait_idle()
    aside.rename(late)
    retried = await d.call("POST", "/api/pending/retry", {"ids": [row["id"]]})
    assert retried == {"retried": [row["id"]], "failed": []}
    ready = await d.wait_row(late)
    assert (ready["id"], ready["sha256"], ready["type"]) == (row["id"], digests(late)[0], "loras")
    detail = await d.get(f"/api/pending/{row['id']}")
    assert detail["meta_json"]["description"] == "about late" and tag_names(detail) == ["kept"]


# -- a big database ------------------------------------------------------------------------------------------
BIG = 20_000


def big_v1(path: Path, models: Path, outside: Path) -> Path:
    """20,000 rows of junk, as a careless or hostile v1 file holds them: files outside the model folders, files
    in them that are gone, and files that are no models, each with a description and two tags."""
    rows = []
    for i in range(1, BIG + 1):
        where = (outside / f"dir{i % 50}" / f"junk{i}.safetensors", models / "loras" / f"gone{i}.safetensors",
                 models / "loras" / f"notes{i}.txt")[i % 3]
        rows.append({"id": i, "path": str(where), "name": f"junk {i}", "type": "lora",
                     "extra_json": {"description": f"junk row {i}"}})
    return make_v1(path, rows, [(1, "junk"), (2, f"batch{BIG}")], [(i, t) for i in range(1, BIG + 1) for t in (1, 2)])


async def test_a_big_migration_runs_in_the_background_and_leaves_the_writer_free(daemon_factory, models: Path,
                                                                                tmp_path: Path):
    d: Daemon = await daemon_factory("--models-root", str(models))
    (sha256,) = await d.import_files(write_model(models / "checkpoints" / "edited.safetensors"))
    db = big_v1(tmp_path / "v1" / "hikaze_mm.sqlite3", models, tmp_path / "outside")
    events, reader = await d.events()

    job = await d.call("POST", "/api/migrate/legacy", {"db_path": str(db)}, expect=202)
    assert (job["state"], job["rows"], job["source"]) == ("running", BIG, str(db))
    assert job["done"] < BIG and job["finished_at"] is None
    # One at a time: a second request is refused while this one runs, and changes nothing.
    code, answer = await d.request("POST", "/api/migrate/legacy", json={"db_path": str(db)})
    assert code == 409 and "a v1 migration is running" in answer["error"], (code, answer)
    # Other writes are served meanwhile: edits answered while the job still runs (it ran before the first).
    edits = answered_during = 0
    while True:
        edits += 1
        await d.call("PATCH", f"/api/models/{sha256}", {"meta_json": {"notes": f"edit {edits}"}})
        if (await d.get("/api/status"))["legacy"]["state"] != "running":
            break
        answered_during += 1
    assert answered_during >= 1, "no edit was answered while the job ran"
    ended = await job_end(d, job, timeout=300)
    assert ended["state"] == "done" and ended["done"] == BIG, ended
    report = ended["report"]
    outside, gone, notes = (len(range(k or 3, BIG + 1, 3)) for k in range(3))  # rows i with i % 3 == k
    assert (report["migrated"], report["outside_folders"], report["missing_files"], report["not_model_files"]) == (
        BIG, outside, gone, notes), report
    assert report["errors"] == []

    async def told_done() -> bool:
        return bool(events.of("legacy.done", id=job["id"]))

    await poll(told_done, "the legacy.done event")
    reader.cancel()
    progress = [e["done"] for e in events.of("legacy.progress", id=job["id"])]
    assert progress == sorted(progress) and len([n for n in progress if 0 < n < BIG]) >= 10, progress
    (done,) = events.of("legacy.done", id=job["id"])
    assert done["report"] == report
    counts = (await d.get("/api/status"))["counts"]["pending"]
    assert counts["error"] == BIG and counts["ready"] == 0
    assert (await d.get(f"/api/models/{sha256}"))["meta_json"]["notes"] == f"edit {edits}"
    rows = (await d.get("/api/pending?status=error&limit=3&offset=9000"))["pending"]
    for row in rows:
        detail = await d.get(f"/api/pending/{row['id']}")
        assert detail["meta_json"]["description"].startswith("junk row") and tag_names(detail) == [
            f"batch{BIG}", "junk"], detail
