"""What lies beside a model file and what it suggests: the metadata other tools left there, its preview images, and
the user-facing fields both they and the file's header suggest. Blocking; runs in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hikaze_mm.inspect.base_model import unique_words
from hikaze_mm.inspect.folder_names import FolderNames
from hikaze_mm.inspect.previews import find_previews
from hikaze_mm.inspect.probe import Header
from hikaze_mm.inspect.sidecars import Sidecars, read_sidecars

MAX_PREVIEWS = 4
FINETUNES_OF_SDXL = ("Pony", "Illustrious")
MAX_HEADER_TEXT = 64 * 1024


@dataclass
class Companions:
    sidecars: Sidecars
    previews: list[str]  # paths, best first


def find_companions(path: str, with_previews: bool, names: FolderNames | None = None) -> Companions:
    """With `names`, the folder's listing is shared with the other files of a batch."""
    names = names or FolderNames()
    return Companions(read_sidecars(path, names), find_previews(path, names)[:MAX_PREVIEWS] if with_previews else [])


class StoredHeader(Header, total=False):
    metadata_omitted: list[str]  # metadata keys whose long values were left out


def stored_header(header: Header) -> StoredHeader:
    """The header as kept in the database: embedded thumbnails (base64 images of up to megabytes) are left out,
    so listing and searching stay light."""
    stored: StoredHeader = {**header}
    metadata = header.get("metadata")
    if not isinstance(metadata, dict):
        return stored
    slim = {k: v for k, v in metadata.items() if not (isinstance(v, str) and len(v) > MAX_HEADER_TEXT)}
    dropped = sorted(set(metadata) - set(slim))
    stored["metadata"] = slim
    if dropped:
        stored["metadata_omitted"] = dropped
    return stored


def suggested_fields(header: Header, sidecars: Sidecars) -> dict[str, Any]:
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


def suggested_base_model(header: Header, sidecars: Sidecars) -> str:
    """The file's own header first (it cannot be stale), then what a sidecar claims. Tensors cannot tell a
    Pony or Illustrious fine-tune from SDXL, so there a sidecar that names one is believed."""
    from_header = header.get("base_model") or "unknown"
    from_sidecar = sidecars.get("base_model") or "unknown"
    if from_sidecar in FINETUNES_OF_SDXL and from_header in ("SDXL", "unknown"):
        return from_sidecar
    return from_header if from_header != "unknown" else from_sidecar
