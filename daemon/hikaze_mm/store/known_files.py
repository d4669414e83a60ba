"""A snapshot of the files the store knows (`FileIndex`), read by the walks: the pending rows', the models' and
their copies' paths and fingerprints, in path tables (compact, by folder), with the old dict-shaped views over
them and the per-folder comparison a walk makes as it lists each folder."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from hikaze_mm.store.path_table import FINGERPRINT, FP_BYTES, Fingerprint, PathTable, split

SHA_HEX = 64


def sha_key(sha: str) -> bytes | None:
    """The 32 bytes of a lowercase hex sha256 (half the memory of the string), or None for any other string."""
    if len(sha) != SHA_HEX:
        return None
    try:
        key = bytes.fromhex(sha)
    except ValueError:
        return None
    # 32 bytes: no whitespace, which fromhex skips; no capital, which it reads as well
    return key if len(key) == SHA_HEX // 2 and (sha.islower() or sha.isdigit()) else None


def sha_of(value: bytes | str) -> str:
    return value.hex() if isinstance(value, bytes) else value


def _folder(path: str) -> str | None:
    parts = split(path)
    return None if parts is None else parts[0]


class PendingView(Mapping[str, tuple[Fingerprint, str]]):
    """path -> (fingerprint, status) of every pending row."""

    def __init__(self, table: PathTable):
        self._table = table

    def __getitem__(self, path: str) -> tuple[Fingerprint, str]:
        hit = self._table.get(path)
        if hit is None:
            raise KeyError(path)
        return hit

    def get(self, path: str, default: Any = None) -> Any:
        hit = self._table.get(path)
        return default if hit is None else hit

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._table.get(path) is not None

    def __iter__(self) -> Iterator[str]:
        return self._table.paths()

    def __len__(self) -> int:
        return len(self._table)

    def items(self) -> Iterator[tuple[str, tuple[Fingerprint, str]]]:  # type: ignore[override]
        return self._table.items()


class ModelsOkView(Mapping[str, tuple[str, Fingerprint]]):
    """path -> (sha256, fingerprint) of every model whose status is ok, and of their copies (a model's own path
    wins over a copy's)."""

    def __init__(self, models: PathTable, copies: PathTable):
        self._models, self._copies = models, copies

    def get(self, path: str, default: Any = None) -> Any:
        hit = self._models.get(path) or self._copies.get(path)
        return default if hit is None else (sha_of(hit[1]), hit[0])

    def __getitem__(self, path: str) -> tuple[str, Fingerprint]:
        hit = self.get(path)
        if hit is None:
            raise KeyError(path)
        return hit

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None

    def __iter__(self) -> Iterator[str]:
        yield from self._models.paths()
        yield from (p for p in self._copies.paths() if self._models.get(p) is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ModelsView(Mapping[str, tuple[str, Fingerprint, str]]):
    """sha256 -> (path, fingerprint, status) of every model."""

    def __init__(self, models: PathTable, at: dict[bytes, str], odd: dict[str, tuple[str, Fingerprint, str]]):
        self._models, self._at, self._odd = models, at, odd

    def get(self, sha: str, default: Any = None) -> Any:
        if (hit := self._odd.get(sha)) is not None:
            return hit
        key = sha_key(sha)
        folder = None if key is None else self._at.get(key)
        if key is None or folder is None:
            return default
        entries = self._models.folders[folder]
        slot = entries.values.index(key)
        name = next(n for n, s in entries.slots.items() if s == slot)
        return os.path.join(folder, name), entries.fingerprint(slot), "ok"

    def folder_of(self, key: bytes) -> str | None:
        return self._at.get(key)

    def __getitem__(self, sha: str) -> tuple[str, Fingerprint, str]:
        hit = self.get(sha)
        if hit is None:
            raise KeyError(sha)
        return hit

    def __iter__(self) -> Iterator[str]:
        yield from self._odd
        yield from (key.hex() for key in self._at)

    def __len__(self) -> int:
        return len(self._odd) + len(self._at)

    def values(self) -> Iterator[tuple[str, Fingerprint, str]]:  # type: ignore[override]
        yield from self._odd.values()
        for folder, entries in self._models.folders.items():
            for name, fingerprint, key in entries.items():
                if self._at.get(key) == folder:
                    yield os.path.join(folder, name), fingerprint, "ok"

    def items(self) -> Iterator[tuple[str, tuple[str, Fingerprint, str]]]:  # type: ignore[override]
        yield from self._odd.items()
        for folder, entries in self._models.folders.items():
            for name, fingerprint, key in entries.items():
                if self._at.get(key) == folder:
                    yield key.hex(), (os.path.join(folder, name), fingerprint, "ok")


class FileIndex:
    """Every file the store knows, as of one moment. Fingerprints are plain (size, mtime_ns, inode, device)
    tuples, which compare equal to the FileStat of the same values.

    `pending`: path -> (fingerprint, status); `models_ok`: path -> (sha256, fingerprint), models whose status is ok
    and their copies; `models`: sha256 -> (path, fingerprint, status), every model."""

    def __init__(self, pending: PathTable, models: PathTable, copies: PathTable, model_at: dict[bytes, str],
                 model_odd: dict[str, tuple[str, Fingerprint, str]]):
        self._pending, self._models, self._copies, self._odd = pending, models, copies, model_odd
        self.pending = PendingView(pending)
        self.models_ok = ModelsOkView(models, copies)
        self.models = ModelsView(models, model_at, model_odd)
        self._odd_paths: set[str] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileIndex):
            return NotImplemented
        return (dict(self.pending.items()) == dict(other.pending.items())
                and dict(self.models_ok.items()) == dict(other.models_ok.items())
                and dict(self.models.items()) == dict(other.models.items()))

    __hash__ = None  # type: ignore[assignment]

    def known(self, path: str) -> bool:
        """Whether a pending row or a model (a missing one too) has this path."""
        if path in self.pending:
            return True
        held = self._models.get(path)
        if held is not None and isinstance(held[1], bytes) and self.models.folder_of(held[1]) == _folder(path):
            return True  # else the model that held the path was forgotten without it, as `models` says
        if self._odd_paths is None:
            self._odd_paths = {path for path, _, _ in self._odd.values()}
        return path in self._odd_paths

    def below(self, folder: str) -> list[str]:
        """The paths of the pending rows, models and copies below the folder, sorted."""
        prefix = folder.rstrip(os.sep) + os.sep
        out: set[str] = set()
        for table in (self._pending, self._models, self._copies):
            for parent, entries in table.folders.items():
                if parent == folder or parent.startswith(prefix):
                    out.update(os.path.join(parent, name) for name in entries.slots)
            out.update(p for p in table.odd if p.startswith(prefix))
        return sorted(out)

    def fingerprints_outside(self, folders: Collection[str]) -> set[Fingerprint]:
        """The fingerprints of the known files that are not below these folders, and of the models that are not
        ok (a walk of the folders cannot have seen them)."""
        prefixes = tuple(f.rstrip(os.sep) + os.sep for f in folders)
        out: set[Fingerprint] = {fp for _, fp, _ in self._odd.values()}
        for table in (self._pending, self._models, self._copies):
            for parent, entries in table.folders.items():
                if parent not in folders and not parent.startswith(prefixes):
                    out.update(fp for _, fp, _ in entries.items())
            out.update(fp for p, (fp, _) in table.odd.items() if not p.startswith(prefixes))
        return out

    def folder(self, folder: str, unfinished: Collection[str]) -> FolderCheck:
        return FolderCheck(self, folder, unfinished)

    def unlisted(self, listed: set[str], within: Collection[str]) -> dict[str, Fingerprint]:
        """The known files in the folders below `within` that the walk did not list, and those that could not be
        packed outside the listed folders, with their fingerprints (the listed folders' own are `FolderCheck`'s)."""
        prefixes = tuple(f.rstrip(os.sep) + os.sep for f in within)
        out: dict[str, Fingerprint] = {}
        for table in (self._pending, self._copies, self._models):
            for parent, entries in table.folders.items():
                if parent not in listed and (parent in within or parent.startswith(prefixes)):
                    for name, fingerprint, _ in entries.items():
                        out[os.path.join(parent, name)] = fingerprint
            out.update((p, fp) for p, (fp, _) in table.odd.items() if os.path.split(p)[0] not in listed)
        return out


class FolderCheck:
    """One listed folder compared with the index, file by file as the walk stats them: whether each is unchanged
    (its pending row's fingerprint matches and the row is not unfinished; else its model's or copy's does), and
    afterwards which known files the folder no longer holds."""

    __slots__ = ("_copies", "_folder", "_index", "_models", "_odd", "_pending", "_unfinished")

    def __init__(self, index: FileIndex, folder: str, unfinished: Collection[str]):
        self._folder, self._index, self._unfinished = folder, index, unfinished
        self._pending = index._pending.folders.get(folder)
        self._models = index._models.folders.get(folder)
        self._copies = index._copies.folders.get(folder)
        self._odd = bool(index._pending.odd or index._models.odd or index._copies.odd)

    def unchanged(self, name: str, fingerprint: Fingerprint) -> bool:
        if self._odd:
            return self._unchanged_slowly(name, fingerprint)
        packed = FINGERPRINT.pack(*fingerprint)
        entries = self._pending
        if entries is not None and (slot := entries.slots.get(name)) is not None:
            start = slot * FP_BYTES
            return entries.fps[start:start + FP_BYTES] == packed and entries.values[slot] not in self._unfinished
        for entries in (self._models, self._copies):
            if entries is not None and (slot := entries.slots.get(name)) is not None:
                start = slot * FP_BYTES
                return entries.fps[start:start + FP_BYTES] == packed
        return False

    def _unchanged_slowly(self, name: str, fingerprint: Fingerprint) -> bool:
        path = os.path.join(self._folder, name)
        row = self._index.pending.get(path)
        if row is not None:
            return bool(row[0] == fingerprint and row[1] not in self._unfinished)
        model = self._index.models_ok.get(path)
        return model is not None and model[1] == fingerprint

    def unlisted(self, listed: Collection[str]) -> dict[str, Fingerprint]:
        """The folder's known files that were not listed, with their fingerprints (a model's own path wins over a
        copy's, as in `models_ok`)."""
        out: dict[str, Fingerprint] = {}
        index = self._index
        for entries, table in ((self._pending, index._pending), (self._copies, index._copies),
                               (self._models, index._models)):
            if entries is not None:
                for name in entries.slots.keys() - listed:
                    out[os.path.join(self._folder, name)] = entries.fingerprint(entries.slots[name])
            if self._odd:
                for path, (fingerprint, _) in table.odd.items():
                    folder, name = os.path.split(path)
                    if folder == self._folder and name not in listed:
                        out[path] = fingerprint
        return out
