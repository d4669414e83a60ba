"""Where image files live under `data_dir/images`, and the file operations on them (blocking; run in threads).

A model's image is `<sha256>_<seq>_<tier>.webp`; a pending row's is `pending/<id>_<seq>_<tier>.webp`. Files are
written before the database row that names them is committed and removed after it is deleted, so every row
has its files; a crash in between leaves at worst a stray file, never a row without one, and the next start
sweeps the strays away.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from hikaze_mm.library.images import TIERS, EncodedImage, image_file_name

_TIER = "|".join(TIERS)
_MODEL_FILE = re.compile(rf"([0-9a-f]{{64}})_(\d+)_(?:{_TIER})\.(webp|tmp)")
_PENDING_FILE = re.compile(rf"(\d+)_(\d+)_(?:{_TIER})\.(webp|tmp)")


class ImageFiles:
    def __init__(self, root: Path):
        self.root = root
        self.pending_root = root / "pending"

    def model_file(self, sha256: str, seq: int, tier: str) -> Path:
        return self.root / image_file_name(sha256, seq, tier)

    def pending_file(self, pending_id: int, seq: int, tier: str) -> Path:
        if tier not in TIERS:  # the one part that is not a number; it must not carry a path out of the folder
            raise ValueError(f"unknown tier {tier[:80]!r}; expected one of {', '.join(TIERS)}")
        return self.pending_root / f"{int(pending_id)}_{int(seq)}_{tier}.webp"

    def spool(self) -> BinaryIO:
        """A nameless file beside the images for an upload on its way in; it is gone once closed, or after a crash."""
        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(dir=self.root)

    def write_model(self, sha256: str, seq: int, image: EncodedImage) -> None:
        self._write({self.model_file(sha256, seq, t): data for t, data in image.tiers.items()})

    def write_pending(self, pending_id: int, seq: int, image: EncodedImage) -> None:
        self._write({self.pending_file(pending_id, seq, t): data for t, data in image.tiers.items()})

    def _write(self, files: dict[Path, bytes]) -> None:
        """All tiers or none: a failed write (a full disk) takes back the tiers already written."""
        done: list[Path] = []
        try:
            for path, data in files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                done.append(tmp)
                tmp.write_bytes(data)
                os.replace(tmp, path)
                done[-1] = path
        except BaseException:
            for path in done:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise

    def adopt_pending(self, pending_id: int, pending_seq: int, sha256: str, seq: int) -> None:
        """Give a pending row's image its model name (a hard link, so the pending file can go later)."""
        for tier in TIERS:
            target = self.model_file(sha256, seq, tier)
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            source = self.pending_file(pending_id, pending_seq, tier)
            try:
                os.link(source, target)
            except OSError:
                target.write_bytes(source.read_bytes())

    def remove_model(self, sha256: str, seqs: list[int]) -> None:
        for seq in seqs:
            for tier in TIERS:
                with contextlib.suppress(FileNotFoundError):
                    self.model_file(sha256, seq, tier).unlink()

    def stored_keys(self) -> tuple[set[tuple[str, int]], set[tuple[int, int]]]:
        """The (sha256, seq) and (pending id, seq) of the finished image files on disk: `sweep` needs to be told
        which of these have a row, and asking the database about them costs by the files there, not by the size
        of the library."""
        return ({key for key, tmp, _ in self._ours(False) if not tmp},
                {key for key, tmp, _ in self._ours(True) if not tmp})

    def sweep(self, models: set[tuple[str, int]], pending: set[tuple[int, int]], min_age_s: float = 0) -> int:
        """Remove the files a crash left behind: tiers whose row was never committed or is gone (`models` and
        `pending` are the keys that have a row, of at least the files on disk), and half-written `.tmp` files.
        Only names of our own pattern are touched. Call it before this daemon writes images; in a folder the
        daemons of several hosts share, another may be writing one whose row it has not committed yet: only files
        older than `min_age_s` are taken then."""
        removed = 0
        newest = time.time() - min_age_s
        for is_pending, keys in ((False, models), (True, pending)):
            for key, tmp, path in self._ours(is_pending):
                if (tmp or key not in keys) and (not min_age_s or _mtime(path) < newest):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    removed += 1
        return removed

    def _ours(self, pending: bool) -> Iterator[tuple[tuple[Any, int], bool, str]]:
        """(key, whether half-written, path) of each file of our own pattern in the models' or pending folder."""
        folder, pattern = (self.pending_root, _PENDING_FILE) if pending else (self.root, _MODEL_FILE)
        if not folder.is_dir():
            return
        for entry in os.scandir(folder):
            m = pattern.fullmatch(entry.name)
            if m is None or not entry.is_file(follow_symlinks=False):
                continue
            yield (int(m[1]) if pending else m[1], int(m[2])), m[3] == "tmp", entry.path

    def remove_pending(self, *pending_ids: int) -> None:
        """The image files of these pending rows, in one listing of the folder however many rows there are."""
        if not pending_ids or not self.pending_root.is_dir():
            return
        ids = {str(int(i)) for i in pending_ids}
        for entry in os.scandir(self.pending_root):
            if entry.name.partition("_")[0] in ids:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")  # gone already: nothing to take
