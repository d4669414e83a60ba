"""The base-model vocabulary shared by the header probe and the sidecar reader, and the labels that map onto it.

Labels come from many writers: ModelSpec architecture ids (`stable-diffusion-xl-v1-base/lora`), kohya versions
(`sdxl_base_v1-0`), Civitai names (`SDXL 1.0`, `Flux.1 D`) and A1111's `sd version` (`SD1`). They are compared with
case, spaces and punctuation squeezed out, so one table serves them all.
"""

from __future__ import annotations

import re

SD1 = "SD 1.x"
SD2 = "SD 2.x"
SDXL = "SDXL"
SD3 = "SD3"
FLUX = "Flux"
PONY = "Pony"
ILLUSTRIOUS = "Illustrious"
UNKNOWN = "unknown"

_FAMILIES = (
    (re.compile(r"sdxl"), SDXL),
    (re.compile(r"sdv?1"), SD1),
    (re.compile(r"sdv?2"), SD2),
    (re.compile(r"sdv?3"), SD3),
    # Flux.2 is a different model whose LoRAs do not load on Flux.1, so only the first generation is "Flux".
    (re.compile(r"flux(?:v?1|$)"), FLUX),
)


def finetune_named_in(text: str) -> str | None:
    """Pony or Illustrious when `text` names one: SDXL fine-tunes whose LoRAs do not mix well with plain SDXL."""
    low = text.lower()
    if "illustrious" in low:
        return ILLUSTRIOUS
    # Pony V7 is built on AuraFlow, not SDXL: what works with Pony V6 does not work with it.
    if "pony" in low and not re.search(r"v\s*7", low):
        return PONY
    return None


def normalise(label: str) -> str | None:
    """The vocabulary name for a base-model label, or None when the label is not one this module knows."""
    named = finetune_named_in(label)
    if named is not None:
        return named
    compact = re.sub(r"[^a-z0-9]", "", label.split("/", 1)[0].lower())
    if compact.startswith("stablediffusion"):
        compact = "sd" + compact[len("stablediffusion"):]
    for pattern, name in _FAMILIES:
        if pattern.match(compact):
            return name
    return None


def unique_words(items: list[str]) -> list[str]:
    """Stripped, non-empty, first spelling kept: trigger words and links compare without regard to case."""
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        item = item.strip()
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out
