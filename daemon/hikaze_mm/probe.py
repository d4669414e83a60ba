"""What a model file's first bytes say about it, read from the hashing pass (no second read of the file)."""

from __future__ import annotations

import json
import struct
from typing import Any

MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the format's own limit


class HeaderProbe:
    """Fed the file's chunks in order; stops collecting as soon as it has what it needs."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 8
        self.done = False
        self.result: dict[str, Any] = {}

    def feed(self, chunk: memoryview) -> None:
        if self.done:
            return
        take = self._need - len(self._buf)
        self._buf += chunk[:take]
        if len(self._buf) < self._need:
            return
        if self._need == 8:
            self._start(bytes(self._buf))
        else:
            self._finish_safetensors(bytes(self._buf[8:]))

    def finish(self) -> dict[str, Any]:
        """The findings so far; a file shorter than its header says is called truncated."""
        if not self.done and self._need > 8:
            self.result = {"format": "safetensors", "error": "file is shorter than its header length says"}
        elif not self.done and not self.result:
            self.result = {"format": "unknown"}
        self.done = True
        return self.result

    def _start(self, head: bytes) -> None:
        if head[:4] == b"GGUF":
            self._stop({"format": "gguf"})
        elif head[:2] == b"PK":
            self._stop({"format": "zip-pickle"})
        elif head[:1] == b"\x80":
            self._stop({"format": "pickle"})
        else:
            (n,) = struct.unpack("<Q", head)
            if 2 <= n <= MAX_SAFETENSORS_HEADER:
                self._need = 8 + n
            else:
                self._stop({"format": "unknown"})

    def _finish_safetensors(self, header: bytes) -> None:
        try:
            doc = json.loads(header)
        except (UnicodeDecodeError, ValueError):
            self._stop({"format": "unknown"})
            return
        if not isinstance(doc, dict):
            self._stop({"format": "unknown"})
            return
        meta = doc.pop("__metadata__", None)
        found: dict[str, Any] = {"format": "safetensors", "tensor_count": len(doc)}
        if isinstance(meta, dict):
            found["metadata"] = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
        self._stop(found)

    def _stop(self, found: dict[str, Any]) -> None:
        self.result = found
        self.done = True
        self._buf = bytearray()
