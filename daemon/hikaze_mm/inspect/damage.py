"""Whether a model file is damaged, in words: judged from what the probe stored of its first bytes, its name and
its size, so rows hashed before this judgement existed are judged too without reading their files again.

Only formats the probe reads are judged (safetensors by its whole header, GGUF by its magic); a `.ckpt`, `.pt` or
`.bin` may hold anything, so nothing is said of them.
"""

from __future__ import annotations

import os
from typing import Any

_SAFETENSORS = (".safetensors", ".sft")
_WHAT_IT_IS = {
    "gguf": "it is a GGUF file",
    "zip-pickle": "it is a zip archive (a PyTorch checkpoint?)",
    "pickle": "it is a Python pickle",
}
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB")


def damage(path: str, size: int, header: Any) -> str | None:
    """Why the file at `path` cannot be what its name says, or None when it can be or nobody can tell (not probed
    yet, or a format the probe does not read)."""
    if not isinstance(header, dict):
        return None
    ext = os.path.splitext(path)[1].lower()
    found = header.get("format")
    if ext == ".gguf":
        return None if found == "gguf" else "not a GGUF file: it does not begin with the GGUF magic"
    if ext not in _SAFETENSORS:
        return None
    error = header.get("error")
    if found == "safetensors" and not error:
        return None
    declared = header.get("declared_length")
    # A float when it came through SQLite's JSON functions and was past 2^63 - 1, the largest integer they keep.
    if isinstance(declared, (int, float)) and 8 + declared > size:
        return f"the header says it is {size_in_words(int(declared))} long, the file is {size_in_words(size)}"
    if found == "safetensors":
        return str(error)
    if found in _WHAT_IT_IS:
        return f"not a safetensors file: {_WHAT_IT_IS[found]}"
    if size < 8:
        return f"not a safetensors file: it is only {size_in_words(size)}, less than a header length"
    return "not a safetensors file: its first bytes are no header length followed by a JSON header"


def size_in_words(n: int) -> str:
    """`16 bytes`, `1.50 KiB`, `8.00 EiB`: binary units with three significant digits, written as the page writes
    every size, so a reason shown beside a card's size uses the same units."""
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    value, unit = n / 1024, 0
    while value >= 1023.5 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} {_UNITS[unit]}"
