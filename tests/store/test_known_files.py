"""The compact file index answers as the dicts of tuples it replaced did: the same changes applied to both, in
random order and with the awkward values (a model's NULL fingerprint, a sha256 that is not lower-case hex, paths
that do not split cleanly, two models claiming one path), give the same `pending`, `models_ok` and `models`; a
snapshot stays as it was while the index goes on changing; and a walk's per-folder comparison judges each file as
the old whole-listing comparison did."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

from hikaze_mm.store.file_index import Known
from hikaze_mm.store.known_files import FileIndex

UNFINISHED = ("settling", "hashing", "error")
FOLDERS = ["/m/loras", "/m/loras/sub", "/m/vae", "/m//odd", "/m/vae/"]
NAMES = ["a.safetensors", "b.ckpt", "c.pt", "név\n.safetensors"]
SHAS = ["a" * 64, "b" * 64, "0123456789abcdef" * 4, "C" * 64, "not hex"]
FINGERPRINTS: list[tuple[Any, ...]] = [(1, 2, 3, 4), (1, 2, 3, 5), (7, -9, 2**64 - 1, 2**63), (5, 6, None, None),
                                       (2**63, 1, 1, 1)]


class OldIndex:
    """The index as it was: dicts of paths and tuples (the code before the compact tables, kept as the oracle)."""

    def __init__(self) -> None:
        self.pending_files: dict[int, tuple[str, Any, str]] = {}
        self.pending_paths: dict[str, tuple[Any, str]] = {}
        self.model_files: dict[str, tuple[str, Any, str]] = {}
        self.model_paths: dict[str, tuple[str, Any]] = {}
        self.copies: dict[str, tuple[str, Any]] = {}

    def track_pending(self, pending_id: int, path: str, fp: Any, status: str) -> None:
        self.untrack_pending(pending_id)
        self.pending_files[pending_id] = (path, fp, status)
        self.pending_paths[path] = (fp, status)

    def untrack_pending(self, pending_id: int) -> None:
        old = self.pending_files.pop(pending_id, None)
        if old is not None:
            self.pending_paths.pop(old[0], None)

    def track_model(self, sha: str, path: str, fp: Any, status: str) -> None:
        old = self.model_files.get(sha)
        if old is not None and self.model_paths.get(old[0], ("",))[0] == sha:
            del self.model_paths[old[0]]
        self.model_files[sha] = (path, fp, status)
        if status == "ok":
            self.model_paths[path] = (sha, fp)

    def forget_model(self, sha: str, paths: list[str]) -> None:
        self.model_files.pop(sha, None)
        for path in paths:
            if self.model_paths.get(path, ("",))[0] == sha:
                del self.model_paths[path]
            if self.copies.get(path, ("",))[0] == sha:
                del self.copies[path]

    def set_copy(self, path: str, sha: str, fp: Any) -> None:
        self.copies[path] = (sha, fp)

    def untrack_copy(self, path: str) -> None:
        self.copies.pop(path, None)

    def move_copy(self, src: str, dest: str, fp: Any) -> None:
        entry = self.copies.pop(src, None)
        if entry is not None:
            self.copies[dest] = (entry[0], fp)

    def views(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        models_ok = self.copies.copy()
        models_ok.update(self.model_paths)
        return dict(self.pending_paths), models_ok, dict(self.model_files)


def _path(rng: random.Random) -> str:
    return os.path.join(rng.choice(FOLDERS), rng.choice(NAMES)) if rng.random() < 0.9 else \
        rng.choice(FOLDERS) + "/" + rng.choice(NAMES)


def _change(rng: random.Random, new: Known, old: OldIndex) -> None:
    path, sha, fp = _path(rng), rng.choice(SHAS), rng.choice(FINGERPRINTS)
    what = rng.randrange(8)
    if what == 0:
        pending_id, status = rng.randrange(1, 12), rng.choice(["settling", "hashing", "ready", "conflict", "error"])
        if any(p == path and i != pending_id for i, (p, _, _) in old.pending_files.items()):
            return  # a pending row's path is unique in the database
        new.track_pending(pending_id, path, fp, status)
        old.track_pending(pending_id, path, fp, status)
    elif what == 1:
        pending_id = rng.randrange(1, 12)
        new.untrack_pending(pending_id)
        old.untrack_pending(pending_id)
    elif what in (2, 3):
        status = "ok" if rng.random() < 0.8 else "missing"
        new.track_model(sha, path, fp, status)
        old.track_model(sha, path, fp, status)
    elif what == 4:
        # as the store does: the model's own path and its copies'
        paths = [path, *(p for p, _, _ in [old.model_files.get(sha, ("", None, ""))] if p)]
        new.forget_model(sha, paths)
        old.forget_model(sha, paths)
    elif what == 5:
        new.set_copy(path, sha, fp)
        old.set_copy(path, sha, fp)
    elif what == 6:
        new.copies.pop(path)
        old.untrack_copy(path)
    else:
        dest = _path(rng)
        new.move_copy(path, dest, fp)
        old.move_copy(path, dest, fp)


def _same(index: FileIndex, expected: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    pending, models_ok, models = expected
    assert index.pending == pending
    assert index.models_ok == models_ok
    assert index.models == models
    assert dict(index.pending.items()) == pending and len(index.pending) == len(pending)
    assert sorted(map(repr, index.models.values())) == sorted(map(repr, models.values()))
    for path in {*pending, *models_ok, "/m/loras/none.safetensors"}:
        assert index.pending.get(path) == pending.get(path)
        assert index.models_ok.get(path) == models_ok.get(path)
        assert index.known(path) == (path in pending or any(p == path for p, _, _ in models.values()))
    for folder in ("/m", "/m/loras", "/m/vae"):
        expect = sorted(p for p in {*pending, *models_ok} if p.startswith(folder.rstrip("/") + "/"))
        assert index.below(folder) == expect


def _judged_as_before(index: FileIndex, expected: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
                      rng: random.Random) -> None:
    """A listing of each folder, judged file by file, against the old comparison of a whole listing."""
    pending, models_ok, _ = expected
    for folder in FOLDERS:
        key = os.path.dirname(os.path.join(folder, "x"))
        listed = {name: rng.choice(FINGERPRINTS[:3]) for name in NAMES if rng.random() < 0.6}
        check = index.folder(key, UNFINISHED)
        for name, fp in listed.items():
            path = os.path.join(key, name)
            row, model = pending.get(path), models_ok.get(path)
            before = (row[0] == fp and row[1] not in UNFINISHED) if row is not None else \
                model is not None and model[1] == fp
            assert check.unchanged(name, fp) == before, (path, fp, row, model)
        gone = {p: row[0] for p, row in pending.items()}
        gone.update((p, m[1]) for p, m in models_ok.items())
        expect = {p: f for p, f in gone.items() if os.path.split(p)[0] == key and os.path.split(p)[1] not in listed}
        assert check.unlisted(set(listed)) == expect


@pytest.mark.parametrize("seed", range(40))
def test_the_compact_index_answers_as_the_dicts_did(seed: int):
    rng = random.Random(seed)
    new, old = Known(), OldIndex()
    snapshots: list[tuple[FileIndex, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]] = []
    for step in range(300):
        _change(rng, new, old)
        if step % 25 == 0:
            snapshots.append((new.snapshot(), old.views()))
    _same(new.snapshot(), old.views())
    for snapshot, then in snapshots:  # each as it was when it was taken
        _same(snapshot, then)
        _judged_as_before(snapshot, then, rng)


def test_a_folder_of_packed_entries_reuses_the_slots_it_freed():
    known = Known()
    for i in range(100):
        known.track_pending(i + 1, f"/m/loras/{i}.safetensors", (i, i, i, i), "ready")
    for i in range(50):
        known.untrack_pending(i + 1)
    for i in range(50):
        known.track_pending(i + 1000, f"/m/loras/new{i}.safetensors", (i, i, i, i), "settling")
    entries = known.pending.folders["/m/loras"]
    assert len(entries.values) == 100 and len(entries.fps) == 100 * 32 and not entries.free
    assert known.snapshot().pending["/m/loras/new7.safetensors"] == ((7, 7, 7, 7), "settling")
