"""Reading a version-1 database: what each row becomes, what is dropped and why, and that the file stays as it was."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hikaze_mm.legacy import reader as legacy
from hikaze_mm.legacy.reader import LegacyError, LegacyItem, read_legacy

# The v1 DDL as the v1 test fixture wrote it.
V1_MODELS = (
    "CREATE TABLE models (id INTEGER PRIMARY KEY, path, name, type, size_bytes INTEGER, hash_hex, "
    "created_at INTEGER, extra_json, meta_json)"
)
V1_TAGS = "CREATE TABLE tags (id INTEGER PRIMARY KEY, name, color)"
V1_LINKS = "CREATE TABLE model_tags (model_id, tag_id)"
V1_DDL = (V1_MODELS, V1_TAGS, V1_LINKS)
HASH = "AB" * 32


def make_v1(
    path: Path,
    models: Sequence[dict[str, Any]] = (),
    tags: Sequence[tuple[int, str]] = (),
    links: Sequence[tuple[int, int]] = (),
    ddl: Sequence[str] = V1_DDL,
    wal: bool = False,
) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")  # what v1 itself set on every connection
    for statement in ddl:
        conn.execute(statement)
    for row in models:
        values = [json.dumps(v) if k.endswith("_json") and isinstance(v, dict) else v for k, v in row.items()]
        conn.execute(f"INSERT INTO models ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", values)
    if tags:
        conn.executemany("INSERT INTO tags (id, name) VALUES (?, ?)", tags)
    if links:
        conn.executemany("INSERT INTO model_tags (model_id, tag_id) VALUES (?, ?)", links)
    conn.commit()
    conn.close()
    return path


def model(legacy_id: int, **columns: Any) -> dict[str, Any]:
    return {"id": legacy_id, "path": f"/models/loras/m{legacy_id}.safetensors", "type": "lora", **columns}


def fingerprint(db: Path) -> tuple[str, list[str], int]:
    return hashlib.sha256(db.read_bytes()).hexdigest(), sorted(os.listdir(db.parent)), db.stat().st_mtime_ns


def open_handles(db: Path) -> list[str]:
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return []
    handles = []
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith(str(db)):
                handles.append(os.readlink(fd))
    return handles


@contextlib.contextmanager
def untouched(db: Path) -> Iterator[None]:
    """The file keeps its bytes and mtime, nothing (-wal, -shm, -journal) appears next to it, nothing stays open."""
    before, handles = fingerprint(db), open_handles(db)
    yield
    assert fingerprint(db) == before
    assert open_handles(db) == handles


def by_id(items: list[LegacyItem]) -> dict[int, LegacyItem]:
    return {item.legacy_id: item for item in items}


# -- rows ---------------------------------------------------------------------------------------------------------
def test_rows_with_tags_metadata_and_images(tmp_path: Path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "model_1_1700_sample.png").write_bytes(b"png")
    (media / "Other.PNG").write_bytes(b"png")
    full_extra = {
        "description": " A style \n",
        "community_links": "https://civitai.com/models/1, https://huggingface.co/a/b\nsee notes https://civitai.com/models/1",
        "images": ["/media/model_1_1700_sample.png", "/media/second.png"],
        "prompts": {"positive": "masterpiece", "negative": "lowres"},
        "params": {"steps": 20},
    }
    db = make_v1(
        tmp_path / "hikaze_mm.sqlite3",
        models=[
            model(1, name="Style", size_bytes=1234, hash_hex=HASH, created_at=1699999999999, extra_json=full_extra),
            model(
                2,
                path="/models/checkpoints/base.safetensors",
                name="",
                type="checkpoints",
                extra_json={"images": ["/media/other.png"]},
            ),
            model(3, type="vae", hash_hex="", extra_json={"images": ["C:\\v1\\media\\gone.png"]}),
            model(4, hash_hex="abc123", extra_json={"prompts": {"positive": "", "negative": ""}}),
        ],
        tags=[
            (1, "lora"),
            (2, "Anime"),
            (3, " anime"),
            (4, "style"),
            (5, "checkpoint"),
            (6, "favorite"),
            (7, "checkpoints"),
            (8, "vae"),
            (9, ""),
        ],
        links=[(1, 1), (1, 2), (1, 3), (1, 4), (1, 99), (1, 9), (2, 7), (2, 8), (3, 8), (42, 6)],
    )

    with untouched(db):
        export = read_legacy(str(db), str(media))

    assert export.source == str(db)
    assert export.skipped == []
    items = by_id(export.items)
    assert list(items) == [1, 2, 3, 4]
    assert items[1] == LegacyItem(
        legacy_id=1,
        path="/models/loras/m1.safetensors",
        name="Style",
        type="loras",
        size_bytes=1234,
        created_at=1699999999999,
        claimed_sha256="ab" * 32,
        meta={
            "description": "A style",
            "community_links": ["https://civitai.com/models/1", "https://huggingface.co/a/b"],
            "prompts": {"positive": "masterpiece", "negative": "lowres"},
            "legacy": {"id": 1, "type": "lora", "hash_hex": HASH, "images": full_extra["images"]},
        },
        tags=["Anime", "style"],  # " anime" repeats "Anime"; "lora" is v1's own type tag
        image=str(media / "model_1_1700_sample.png"),
        notes=[
            "community_links: not http(s) URLs, dropped: see, notes",
            "metadata keys not imported: params",
            "tag id 9 has no name",
            "tag id 99 does not exist",
        ],
    )
    assert items[2] == LegacyItem(
        legacy_id=2,
        path="/models/checkpoints/base.safetensors",
        name="base.safetensors",
        type="checkpoints",
        size_bytes=0,
        created_at=None,
        claimed_sha256=None,
        meta={"legacy": {"id": 2, "type": "checkpoints", "hash_hex": None, "images": ["/media/other.png"]}},
        tags=["vae"],  # a checkpoint tagged "vae" (baked in) is a real tag, unlike the vae's own type tag below
        image=str(media / "Other.PNG"),
        notes=[],
    )
    assert (items[3].type, items[3].tags, items[3].image) == ("vae", [], None)
    assert items[3].notes == [f"image gone.png not found in {media}"]
    assert items[4].meta == {"legacy": {"id": 4, "type": "lora", "hash_hex": "abc123", "images": []}}
    assert items[4].notes == []
    # Unused user tags stay; v1's automatic type tags go unless a model carries one as a real tag.
    assert export.tags == ["Anime", "style", "favorite", "vae"]
    assert json.loads(json.dumps([item.meta for item in export.items])) == [item.meta for item in export.items]


def test_without_images_folder_no_image_and_no_note(tmp_path: Path):
    db = make_v1(tmp_path / "v1.sqlite3", models=[model(1, extra_json={"images": ["/media/a.png"]})])
    [item] = read_legacy(str(db), None).items
    assert item.image is None
    assert item.notes == []
    assert item.meta["legacy"]["images"] == ["/media/a.png"]


def test_images_folder_that_does_not_exist(tmp_path: Path):
    db = make_v1(tmp_path / "v1.sqlite3", models=[model(1)])
    with pytest.raises(LegacyError, match=r"images folder .* does not exist"):
        read_legacy(str(db), str(tmp_path / "no-media"))


def test_only_a_full_64_hex_hash_is_claimed(tmp_path: Path):
    hashes = {1: None, 2: "", 3: "abc123", 4: "g" * 64, 5: HASH + "0", 6: f" {HASH}", 7: HASH, 8: "0123abcd" * 8}
    db = make_v1(tmp_path / "v1.sqlite3", models=[model(i, hash_hex=h) for i, h in hashes.items()])
    items = by_id(read_legacy(str(db), None).items)
    claimed = {i: item.claimed_sha256 for i, item in items.items()}
    assert claimed == {1: None, 2: None, 3: None, 4: None, 5: None, 6: None, 7: "ab" * 32, 8: "0123abcd" * 8}
    assert {i: item.meta["legacy"]["hash_hex"] for i, item in items.items()} == hashes


def test_type_mapping(tmp_path: Path):
    expected = {
        "checkpoint": "checkpoints", "Checkpoints": "checkpoints", "Stable-diffusion": "checkpoints",
        "ckpt": "checkpoints", "lora": "loras", "loras": "loras", "LoRA": "loras", "lycoris": "loras",
        "LyCORIS": "loras", "VAE": "vae", "embedding": "embeddings", "embeddings": "embeddings",
        "textual_inversion": "embeddings", "hypernetwork": "hypernetworks", "controlnet": "controlnet",
        "upscale": "upscale_models", "upscaler": "upscale_models", "upscale_models": "upscale_models",
        "ESRGAN": "upscale_models", "clip": "text_encoders", "text_encoder": "text_encoders",
        "unet": "diffusion_models", "diffusion_model": "diffusion_models", "Ultralytics": "ultralytics",
        " Sams ": "sams", "": "other", "   ": "other", None: "other",
    }  # fmt: skip
    db = make_v1(tmp_path / "v1.sqlite3", models=[model(i, type=t) for i, t in enumerate(expected, 1)])
    items = read_legacy(str(db), None).items
    assert {item.meta["legacy"]["type"]: item.type for item in items} == expected


def test_invalid_or_misplaced_metadata(tmp_path: Path):
    db = make_v1(
        tmp_path / "v1.sqlite3",
        models=[
            model(1, extra_json="{not json"),
            model(2, extra_json="{broken", meta_json={"description": "from meta_json"}),
            model(3, extra_json="[1, 2]"),
            model(4, extra_json="{}", meta_json={"prompts": {"positive": "p"}}),
            model(5, extra_json={"description": "x"}, meta_json={"description": "y"}),
            model(6, extra_json={"description": 5, "community_links": ["a"], "prompts": "p", "images": 7}),
            model(7, extra_json="null", meta_json="{also broken"),
            model(8, extra_json=None, meta_json={"sha": "scanner data"}),
            model(9, extra_json={"images": "/media/one.png", "prompts": {"negative": 3}}),
        ],
    )
    items = by_id(read_legacy(str(db), None).items)
    assert list(items) == list(range(1, 10))
    notes = {i: item.notes for i, item in items.items()}
    meta = {i: {k: v for k, v in item.meta.items() if k != "legacy"} for i, item in items.items()}
    assert notes[1] == ["extra_json is not valid JSON"]
    assert notes[2] == ["extra_json is not valid JSON", "metadata taken from meta_json because extra_json has none"]
    assert meta[2] == {"description": "from meta_json"}
    assert notes[3] == ["extra_json is not a JSON object"]
    assert notes[4] == ["metadata taken from meta_json because extra_json has none"]
    assert meta[4] == {"prompts": {"positive": "p", "negative": ""}}
    assert (notes[5], meta[5]) == ([], {"description": "x"})
    assert notes[6] == [
        "images is not a list",
        "description is not text",
        "community_links is not text",
        "prompts is not an object",
    ]
    assert notes[7] == ["meta_json is not valid JSON"]
    assert notes[8] == []
    assert notes[9] == ["prompts.negative is not text"]
    assert items[9].meta["legacy"]["images"] == ["/media/one.png"]
    assert all(m == {} for i, m in meta.items() if i not in (2, 4, 5))


def test_older_file_without_meta_json_color_or_created_at(tmp_path: Path):
    db = make_v1(
        tmp_path / "old.sqlite3",
        models=[
            {
                "id": 1,
                "path": "/m/a.safetensors",
                "name": "a",
                "type": "ckpt",
                "size_bytes": "2048",
                "hash_hex": HASH.lower(),
                "extra_json": {"description": "old"},
            },
            {"id": 2, "path": "/m/b.safetensors", "type": "lora", "extra_json": "{oops"},
        ],
        tags=[(1, "old tag")],
        links=[(1, 1)],
        ddl=(
            "CREATE TABLE models (id INTEGER PRIMARY KEY, path, name, type, size_bytes, hash_hex, extra_json)",
            "CREATE TABLE tags (id INTEGER PRIMARY KEY, name)",
            V1_LINKS,
        ),
    )
    with untouched(db):
        export = read_legacy(str(db), None)
    first, second = export.items
    assert (first.type, first.size_bytes, first.created_at) == ("checkpoints", 2048, None)
    assert first.claimed_sha256 == HASH.lower()
    assert first.meta["description"] == "old"
    assert first.tags == ["old tag"]
    assert second.notes == ["extra_json is not valid JSON"]
    assert export.tags == ["old tag"]


def test_rows_that_cannot_become_anything_are_skipped(tmp_path: Path):
    db = make_v1(
        tmp_path / "v1.sqlite3",
        models=[
            model(1, path=None),
            model(2, path="  "),
            model(3, path=123),
            model(4, path="/models/loras/a.safetensors"),
            model(5, path="/models//loras/./a.safetensors"),
            model(6, path=b"/models/loras/b.safetensors"),
            model(7, path="/models/loras/b.safetensors"),
            model(8, path="/models/loras/a.safetensors"),
        ],
    )
    export = read_legacy(str(db), None)
    assert [item.legacy_id for item in export.items] == [4, 7]
    assert export.skipped == [
        (1, "no path"),
        (2, "no path"),
        (3, "path is not text but int"),
        (5, "same path as v1 model 4"),
        (6, "path is not text but bytes"),
        (8, "same path as v1 model 4"),
    ]


# -- the file ---------------------------------------------------------------------------------------------------
def test_missing_file_is_an_error_and_is_not_created(tmp_path: Path):
    for missing in (tmp_path / "hikaze_mm.sqlite3", tmp_path / "no-dir" / "hikaze_mm.sqlite3"):
        with pytest.raises(LegacyError, match="does not exist"):
            read_legacy(str(missing), None)
    assert list(tmp_path.iterdir()) == []


def test_files_that_are_not_v1_databases(tmp_path: Path):
    text = tmp_path / "notes.txt"
    text.write_text("SQLite is not here\n" * 100)
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    for path in (text, empty):
        with untouched(path), pytest.raises(LegacyError, match="is not an SQLite database"):
            read_legacy(str(path), None)
    with pytest.raises(LegacyError, match="is not a file"):
        read_legacy(str(tmp_path), None)

    other = make_v1(tmp_path / "other.sqlite3", ddl=("CREATE TABLE things (id INTEGER PRIMARY KEY)",))
    with untouched(other), pytest.raises(LegacyError, match="no models, tags, model_tags table"):
        read_legacy(str(other), None)
    partial = make_v1(tmp_path / "partial.sqlite3", ddl=(V1_MODELS, V1_TAGS))
    with pytest.raises(LegacyError, match="no model_tags table"):
        read_legacy(str(partial), None)
    # Same table names, different shape: the v2 library keys models by hash and has no v1 ids.
    v2_like = make_v1(
        tmp_path / "v2.sqlite3",
        ddl=(
            "CREATE TABLE models (sha256 TEXT PRIMARY KEY, path TEXT)",
            V1_TAGS,
            "CREATE TABLE model_tags (sha256, tag_id)",
        ),
    )
    with pytest.raises(LegacyError, match="table models has no id"):
        read_legacy(str(v2_like), None)


def test_path_with_uri_characters(tmp_path: Path):
    folder = tmp_path / "we?ird #dir %41 ü&mode=rwc"
    folder.mkdir()
    db = make_v1(folder / "v1?#%.sqlite3", models=[model(1)])
    with untouched(db):
        export = read_legacy(str(db), None)
    assert [item.legacy_id for item in export.items] == [1]
    assert export.source == str(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_rollback_journal_file_is_left_byte_for_byte(tmp_path: Path):
    db = make_v1(tmp_path / "hikaze_mm.sqlite3", models=[model(i, extra_json={"description": "d"}) for i in range(50)])
    with untouched(db):
        for _ in range(2):
            assert len(read_legacy(str(db), None).items) == 50
    assert sorted(os.listdir(tmp_path)) == ["hikaze_mm.sqlite3"]


def test_idle_wal_file_gets_no_wal_or_shm(tmp_path: Path):
    db = make_v1(tmp_path / "hikaze_mm.sqlite3", models=[model(1), model(2)], wal=True)
    assert sorted(os.listdir(tmp_path)) == ["hikaze_mm.sqlite3"]
    with untouched(db):
        export = read_legacy(str(db), None)
    assert [item.legacy_id for item in export.items] == [1, 2]
    assert sorted(os.listdir(tmp_path)) == ["hikaze_mm.sqlite3"]


def test_wal_file_in_use_by_a_running_v1(tmp_path: Path):
    db = make_v1(tmp_path / "hikaze_mm.sqlite3", models=[model(1)], wal=True)
    running = sqlite3.connect(db)
    try:
        running.execute("PRAGMA journal_mode=WAL")
        running.execute("INSERT INTO models (id, path, type) VALUES (2, '/m/new.safetensors', 'vae')")
        running.commit()  # this row lives only in the -wal file until a checkpoint
        wal = db.with_name(db.name + "-wal")
        before, wal_before = fingerprint(db), wal.read_bytes()
        export = read_legacy(str(db), None)
        assert [(item.legacy_id, item.type) for item in export.items] == [(1, "loras"), (2, "vae")]
        assert (fingerprint(db), wal.read_bytes()) == (before, wal_before)
    finally:
        running.close()
    # Only now: SQLite keeps a closed connection's descriptor while another connection of the same process holds
    # locks on the file, since closing it would drop those locks. A real v1 runs in a process of its own.
    assert open_handles(db) == []


def test_idle_wal_file_changing_during_the_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    db = make_v1(tmp_path / "hikaze_mm.sqlite3", models=[model(1)], wal=True)
    check_schema = legacy._check_schema

    def v1_writes_meanwhile(conn: sqlite3.Connection, source: str) -> None:
        check_schema(conn, source)
        st = os.stat(source)
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    monkeypatch.setattr(legacy, "_check_schema", v1_writes_meanwhile)
    with pytest.raises(LegacyError, match="changed while it was being read"):
        read_legacy(str(db), None)
