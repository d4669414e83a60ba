"""Paths with a fingerprint and one value each, kept compactly for the file index of a million files: grouped by
folder (a folder's path is held once, each file by its name), each fingerprint packed into 32 bytes of one
bytearray per folder rather than a tuple of four Python ints per file. The file index's dicts of paths to tuples
took about 650 bytes a file; its tables take about 350, the ids and sha256s they are found by included.

A table hands out snapshots in O(folders): a snapshot shares the folders' entries with the table, and the table
copies a folder's entries before it changes them for the first time after a snapshot (copy on write). A snapshot
is never changed, so another thread may read it while the table goes on changing."""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

FINGERPRINT = struct.Struct("<qqQQ")  # size, mtime_ns, inode, device
FP_BYTES = FINGERPRINT.size
Fingerprint = tuple[Any, ...]


def pack(fingerprint: Iterable[Any]) -> bytes | None:
    """The fingerprint in 32 bytes, or None when a value is NULL or out of range (a model's fingerprint as stored
    may lack its inode and device): such a path is kept as it is, beside the packed ones."""
    try:
        return FINGERPRINT.pack(*fingerprint)
    except (struct.error, TypeError):
        return None


def split(path: str) -> tuple[str, str] | None:
    """(folder, name), or None for a path that `os.path.join(folder, name)` would not give back as it is (`//` in
    it, a trailing `/`): such a path is kept as it is. Done on the string, at a third of `os.path.split`'s cost,
    which loading a million paths feels."""
    if os.altsep is not None:  # Windows: either separator splits
        folder, name = os.path.split(path)
        return (folder, name) if name and os.path.join(folder, name) == path else None
    i = path.rfind(os.sep)
    name = path[i + 1:]
    if not name or (i > 0 and path[i - 1] == os.sep):
        return None
    return (path[:i] if i > 0 else path[:i + 1]), name


class Entries:
    """One folder's entries: name -> slot, and each slot's packed fingerprint and value. A removed entry's slot is
    reused by the next one added, so the folder never grows past the most entries it held at once."""

    __slots__ = ("fps", "free", "gen", "ids", "slots", "values")

    def __init__(self, gen: int):
        self.slots: dict[str, int] = {}
        self.fps = bytearray()
        self.values: list[Any] = []
        self.ids = array("q")  # a row id per slot, for the tables whose rows are found by id (0 otherwise)
        self.free: list[int] = []
        self.gen = gen  # the table's generation it belongs to: older ones are shared with a snapshot

    def clone(self, gen: int) -> Entries:
        copy = Entries(gen)
        copy.slots, copy.fps, copy.values = self.slots.copy(), self.fps[:], self.values[:]
        copy.ids, copy.free = self.ids[:], self.free[:]
        return copy

    def fingerprint(self, slot: int) -> Fingerprint:
        return FINGERPRINT.unpack_from(self.fps, slot * FP_BYTES)

    def packed(self, slot: int) -> bytes:
        return bytes(self.fps[slot * FP_BYTES:(slot + 1) * FP_BYTES])

    def entry(self, name: str) -> tuple[Fingerprint, Any] | None:
        slot = self.slots.get(name)
        return None if slot is None else (self.fingerprint(slot), self.values[slot])

    def items(self) -> Iterator[tuple[str, Fingerprint, Any]]:
        for name, slot in self.slots.items():
            yield name, self.fingerprint(slot), self.values[slot]

    def name_of(self, ident: int) -> str | None:
        """The name of the entry with this row id."""
        try:
            slot = self.ids.index(ident)
        except ValueError:
            return None
        return next((name for name, s in self.slots.items() if s == slot), None)

    def _put(self, name: str, packed: bytes, value: Any, ident: int) -> None:
        slot = self.slots.get(name)
        if slot is None and not self.free:
            self.slots[name] = len(self.values)
            self.values.append(value)
            self.ids.append(ident)
            self.fps += packed
            return
        if slot is None:
            slot = self.slots[name] = self.free.pop()
        self.fps[slot * FP_BYTES:(slot + 1) * FP_BYTES] = packed
        self.values[slot] = value
        self.ids[slot] = ident

    def _drop(self, name: str) -> None:
        slot = self.slots.pop(name)
        self.values[slot] = None
        self.ids[slot] = 0
        self.free.append(slot)


class PathTable:
    """path -> (fingerprint, value), by folder."""

    def __init__(self) -> None:
        self.folders: dict[str, Entries] = {}
        self.odd: dict[str, tuple[Fingerprint, Any]] = {}  # paths whose fingerprint or shape cannot be packed
        self._odd_ids: dict[str, int] = {}
        self._gen = 0

    def snapshot(self) -> PathTable:
        copy = PathTable()
        copy.folders, copy.odd, copy._gen = self.folders.copy(), self.odd.copy(), -1
        self._gen += 1  # every folder now shared is copied before its next change
        return copy

    def __len__(self) -> int:
        return len(self.odd) + sum(len(e.slots) for e in self.folders.values())

    def get(self, path: str) -> tuple[Fingerprint, Any] | None:
        if self.odd and (hit := self.odd.get(path)) is not None:
            return hit
        parts = split(path)
        entries = None if parts is None else self.folders.get(parts[0])
        return None if entries is None or parts is None else entries.entry(parts[1])

    def path_of(self, folder: str, ident: int) -> str | None:
        """The path of the entry with this row id, which is in this folder."""
        entries = self.folders.get(folder)
        name = None if entries is None else entries.name_of(ident)
        if name is not None:
            return os.path.join(folder, name)
        return next((path for path, i in self._odd_ids.items() if i == ident), None)

    def paths(self) -> Iterator[str]:
        for folder, entries in self.folders.items():
            for name in entries.slots:
                yield os.path.join(folder, name)
        yield from self.odd

    def items(self) -> Iterator[tuple[str, tuple[Fingerprint, Any]]]:
        for folder, entries in self.folders.items():
            for name, fingerprint, value in entries.items():
                yield os.path.join(folder, name), (fingerprint, value)
        yield from self.odd.items()

    def set(self, path: str, fingerprint: Fingerprint, value: Any, ident: int = 0) -> None:
        """Sets the path's entry; `ident` is the row id it is found by (`path_of`), if any."""
        packed, parts = pack(fingerprint), split(path)
        if packed is None or parts is None:
            self._drop_packed(path)
            self.odd[path] = (tuple(fingerprint), value)
            self._odd_ids[path] = ident
            return
        if self.odd:
            self.odd.pop(path, None)
            self._odd_ids.pop(path, None)
        entries = self._own(parts[0], create=True)
        assert entries is not None
        entries._put(parts[1], packed, value, ident)

    def pop(self, path: str) -> tuple[Fingerprint, Any] | None:
        if self.odd and (hit := self.odd.pop(path, None)) is not None:
            self._odd_ids.pop(path, None)
            return hit
        old = self.get(path)
        if old is not None:
            self._drop_packed(path)
        return old

    def _drop_packed(self, path: str) -> None:
        parts = split(path)
        if parts is None:
            return
        folder, name = parts
        entries = self.folders.get(folder)
        if entries is None or name not in entries.slots:
            return
        entries = self._own(folder, create=False)
        assert entries is not None
        entries._drop(name)
        if not entries.slots:
            del self.folders[folder]

    def _own(self, folder: str, create: bool) -> Entries | None:
        """The folder's entries, copied first if a snapshot shares them."""
        entries = self.folders.get(folder)
        if entries is None:
            if create:
                entries = self.folders[folder] = Entries(self._gen)
        elif entries.gen != self._gen:
            entries = self.folders[folder] = entries.clone(self._gen)
        return entries
