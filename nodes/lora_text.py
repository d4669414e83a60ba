"""The LoRA loader's `lora_text` input: A1111 prompt entries, `<lora:name:0.8>` or `<lora:name:0.8:0.5>`.

Everything outside the entries is left alone, so a whole prompt can be wired in. An entry that cannot be read fails
the run: a LoRA silently left out would change the image without a word.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .payload import PayloadError

OPEN = re.compile(r"<lora:", re.IGNORECASE)
FIX = "write it as <lora:name:0.8> or <lora:name:0.8:0.5>"


@dataclass(frozen=True)
class TextEntry:
    number: int  # 1-based, in text order
    text: str  # the entry as written, for messages
    name: str
    strength_model: float
    strength_clip: float

    @property
    def active(self) -> bool:
        return self.strength_model != 0 or self.strength_clip != 0

    @property
    def label(self) -> str:
        return f"LoRA text entry {self.number} {self.text}"


def parse_lora_text(text: str | None) -> list[TextEntry]:
    """Every entry in text order, those with both strengths 0 too."""
    if not text:
        return []
    if not isinstance(text, str):
        raise PayloadError(f"lora_text must be text, got {type(text).__name__}")
    entries: list[TextEntry] = []
    starts = [m.start() for m in OPEN.finditer(text)]
    for number, start in enumerate(starts, 1):
        following = starts[number] if number < len(starts) else len(text)
        end = text.find(">", start, following)
        if end < 0:
            shown = _shorten(text[start:following].rstrip())
            raise PayloadError(f"LoRA text entry {number} {shown}: no closing >; {FIX}")
        entries.append(_entry(number, text[start:end + 1]))
    return entries


def _entry(number: int, written: str) -> TextEntry:
    where = f"LoRA text entry {number} {_shorten(written)}"
    fields = written[len("<lora:"):-1].split(":")
    name = fields[0].strip()
    if not name:
        raise PayloadError(f"{where}: the name is empty; {FIX}")
    if len(fields) > 3:
        raise PayloadError(f"{where}: too many fields ({len(fields)}); {FIX}")
    strengths = [_strength(raw, where) for raw in fields[1:]]
    model = strengths[0] if strengths else 1.0
    clip = strengths[1] if len(strengths) > 1 else model
    return TextEntry(number, written, name, model, clip)


def _strength(raw: str, where: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise PayloadError(f'{where}: the strength "{raw.strip()}" is not a finite number; {FIX}')
    return value


def _shorten(written: str) -> str:
    return written if len(written) <= 80 else written[:77] + "..."
