"""What we learn about a freshly hashed file besides its hashes: the metadata other tools left beside it, its
preview images, and the user-facing fields both they and the file's header suggest. Blocking; runs in a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hikaze_mm.inspect.base_model import unique_words
from hikaze_mm.inspect.sidecars import read_sidecars
from hikaze_mm.library.images import EncodedImage, ImageError, encode_tiers_from_file, find_previews

log = logging.getLogger(__name__)
MAX_PREVIEWS = 4
FINETUNES_OF_SDXL = ("Pony", "Illustrious")
MAX_HEADER_TEXT = 64 * 1024


@dataclass
class Discovery:
    sidecars: dict[str, Any]
    previews: list[tuple[str, EncodedImage]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def discover(path: str, with_previews: bool) -> Discovery:
    found = Discovery(read_sidecars(path))
    if with_previews:
        for preview in find_previews(path)[:MAX_PREVIEWS]:
            try:
                found.previews.append((preview, encode_tiers_from_file(preview)))
            except (ImageError, OSError) as e:
                found.errors.append(f"{preview}: {e}")
    return found


def stored_header(header: dict[str, Any]) -> dict[str, Any]:
    """The header as kept in the database: embedded thumbnails (base64 images of up to megabytes) are left out,
    so listing and searching stay light."""
    metadata = header.get("metadata")
    if not isinstance(metadata, dict):
        return header
    slim = {k: v for k, v in metadata.items() if not (isinstance(v, str) and len(v) > MAX_HEADER_TEXT)}
    dropped = sorted(set(metadata) - set(slim))
    result = {**header, "metadata": slim}
    if dropped:
        result["metadata_omitted"] = dropped
    return result


def suggested_fields(header: dict[str, Any], sidecars: dict[str, Any]) -> dict[str, Any]:
    """User fields as the header and the sidecars suggest them; a field the user already has always wins."""
    suggested: dict[str, Any] = {}
    if sidecars.get("description"):
        suggested["description"] = sidecars["description"]
    words = unique_words([*sidecars.get("trigger_words", []), *header.get("trigger_words", [])])
    if words:
        suggested["trigger_words"] = words
    if sidecars.get("links"):
        suggested["community_links"] = sidecars["links"]
    if sidecars.get("nsfw"):
        suggested["nsfw"] = True
    return suggested


def suggested_base_model(header: dict[str, Any], sidecars: dict[str, Any]) -> str:
    """The file's own header first (it cannot be stale), then what a sidecar claims. Tensors cannot tell a
    Pony or Illustrious fine-tune from SDXL, so there a sidecar that names one is believed."""
    from_header = header.get("base_model") or "unknown"
    from_sidecar = sidecars.get("base_model") or "unknown"
    if from_sidecar in FINETUNES_OF_SDXL and from_header in ("SDXL", "unknown"):
        return from_sidecar
    return from_header if from_header != "unknown" else from_sidecar
