"""The metadata files other tools leave beside a model, read and brought to one shape.

Read, in this order (which is also the order of precedence for the single-valued fields):
    <stem>.metadata.json   ComfyUI LoRA Manager: own fields plus the Civitai model-version JSON under `civitai`
    <stem>.cm-info.json    Stability Matrix "connected model" info
    <stem>.civitai.info    Civitai Helper: the Civitai model-version JSON as fetched
    <stem>.json            A1111 per-model user metadata
The first two carry the model's description, the third only the version's, and the A1111 file's is often a copy.

The result is a `Sidecars` with absent keys left out (so a model without sidecars gives {}). Plain blocking I/O:
call it from a thread.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from hikaze_mm.inspect.base_model import UNKNOWN, normalise, unique_words
from hikaze_mm.inspect.folder_names import FolderNames
from hikaze_mm.inspect.sidecar_tags import names_given, sidecar_tags

MAX_SIDECAR_BYTES = 10 * 1024 * 1024
# Civitai rates images in bit flags: 1 PG, 2 PG-13, 4 R, 8 X, 16 the strongest; R and up counts as mature.
MATURE_PREVIEW_LEVEL = 4


class Sidecars(TypedDict, total=False):
    """What the sidecars say, as it is stored in a row's metadata (`sidecars`)."""

    description: str  # the first one found; Civitai descriptions are HTML from the web, unsanitised
    trigger_words: list[str]  # from all files, de-duplicated; lists are kept per entry, free text split on commas
    base_model: str  # the first value the probe's vocabulary recognises, else the first value given as written
    links: list[str]  # Civitai model pages
    tags: list[str]  # the model's tags on Civitai, from all files, cleaned and capped (sidecar_tags)
    nsfw: bool  # true if any file says so, false if some file says false and none says true
    sources: list[str]  # names of the sidecar files that were read
    errors: list[str]  # "<file>: <what>" for sidecars that could not be read or held a field of the wrong type


@dataclass
class _Reading:
    description: str | None = None
    trigger_words: list[str] = field(default_factory=list)
    base_model: str | None = None
    links: list[str] = field(default_factory=list)
    nsfw: bool | None = None
    tags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def text(self, doc: dict[str, Any], key: str, where: str = "") -> str | None:
        value = doc.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problems.append(f"{where}{key} is not a string")
            return None
        return value.strip() or None

    def words(self, doc: dict[str, Any], key: str, where: str = "") -> None:
        value = doc.get(key)
        if value is None:
            return
        if isinstance(value, str):
            self.trigger_words += value.split(",")
        elif isinstance(value, list):
            self.trigger_words += [word for word in value if isinstance(word, str)]
            if not all(isinstance(word, str) for word in value):
                self.problems.append(f"{where}{key} holds entries that are not strings")
        else:
            self.problems.append(f"{where}{key} is not a list of strings")

    def tag_list(self, doc: dict[str, Any], key: str, where: str = "") -> None:
        value = doc.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.problems.append(f"{where}{key} is not a list")
            return
        names, odd = names_given(value)
        self.tags += names
        if odd:
            self.problems.append(f"{where}{key} holds entries that are neither names nor objects with a name")

    def flag(self, doc: dict[str, Any], key: str, where: str = "") -> None:
        value = doc.get(key)
        if value is None:
            return
        if not isinstance(value, bool):
            self.problems.append(f"{where}{key} is not true or false")
            return
        self.nsfw = value or bool(self.nsfw)

    def ident(self, doc: dict[str, Any], key: str, where: str = "") -> int | None:
        value = doc.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.isascii() and value.isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        self.problems.append(f"{where}{key} is not a number")
        return None

    def civitai_link(self, model_id: int | None, version_id: int | None) -> None:
        if model_id is None:
            return
        url = f"https://civitai.com/models/{model_id}"
        self.links.append(url if version_id is None else f"{url}?modelVersionId={version_id}")


def _civitai_version(doc: dict[str, Any], r: _Reading, where: str = "") -> None:
    """A Civitai model-version object: `trainedWords`, `baseModel`, `description`, `modelId`, `id`, `model`."""
    r.description = r.text(doc, "description", where)
    r.base_model = r.text(doc, "baseModel", where)
    r.words(doc, "trainedWords", where)
    model = doc.get("model")
    if isinstance(model, dict):
        r.flag(model, "nsfw", f"{where}model.")
        r.tag_list(model, "tags", f"{where}model.")
    elif model is not None:
        r.problems.append(f"{where}model is not an object")
    r.civitai_link(r.ident(doc, "modelId", where), r.ident(doc, "id", where))
    r.tag_list(doc, "tags", where)  # a model's JSON (rather than a version's) has them at the top


def _lora_manager(doc: dict[str, Any], r: _Reading) -> None:
    civitai = doc.get("civitai")
    if isinstance(civitai, dict):
        _civitai_version(civitai, r, "civitai.")
    elif civitai is not None:
        r.problems.append("civitai is not an object")
    r.description = r.text(doc, "modelDescription") or r.description
    r.tag_list(doc, "tags")
    base = r.text(doc, "base_model")
    if base is not None and base.lower() != UNKNOWN:
        r.base_model = base
    level = doc.get("preview_nsfw_level")
    if isinstance(level, int) and not isinstance(level, bool):
        if level >= MATURE_PREVIEW_LEVEL:
            r.nsfw = True
    elif level is not None:
        r.problems.append("preview_nsfw_level is not a number")


def _stability_matrix(doc: dict[str, Any], r: _Reading) -> None:
    r.description = r.text(doc, "ModelDescription") or r.text(doc, "VersionDescription")
    r.base_model = r.text(doc, "BaseModel")
    r.words(doc, "TrainedWords")
    r.flag(doc, "Nsfw")
    r.civitai_link(r.ident(doc, "ModelId"), r.ident(doc, "VersionId"))


def _a1111(doc: dict[str, Any], r: _Reading) -> None:
    r.description = r.text(doc, "description")
    r.base_model = r.text(doc, "sd version")
    r.words(doc, "activation text")


_SIDECARS: tuple[tuple[str, Callable[[dict[str, Any], _Reading], None]], ...] = (
    (".metadata.json", _lora_manager),
    (".cm-info.json", _stability_matrix),
    (".civitai.info", _civitai_version),
    (".json", _a1111),
)


def sidecar_paths(model_path: str) -> list[str]:
    """The sidecar files that exist beside `model_path`, in the order they are read."""
    stem = os.path.splitext(model_path)[0]
    return [stem + suffix for suffix, _ in _SIDECARS if os.path.isfile(stem + suffix)]


def _load(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The sidecar's JSON object, or why it could not be had; (None, None) when there is no such file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"cannot stat ({e.strerror or e})"
    # A FIFO or device under a sidecar's name would block the read or never end.
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file"
    if st.st_size > MAX_SIDECAR_BYTES:
        return None, f"{st.st_size} bytes, over the {MAX_SIDECAR_BYTES}-byte limit"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"cannot read ({e.strerror or e})"
    if len(raw) > MAX_SIDECAR_BYTES:
        return None, f"over the {MAX_SIDECAR_BYTES}-byte limit"
    try:
        # Notepad and some .NET writers start UTF-8 files with a byte-order mark.
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 (bad byte at {e.start})"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as e:
        return None, f"not valid JSON ({e})"
    if not isinstance(doc, dict):
        return None, f"a JSON {type(doc).__name__}, not an object"
    return doc, None


def read_sidecars(model_path: str, names: FolderNames | None = None) -> Sidecars:
    """What the sidecar files beside `model_path` say about it; never raises for a bad sidecar. With `names`, a
    sidecar its folder's listing does not have is not looked for."""
    stem = os.path.splitext(model_path)[0]
    readings: list[_Reading] = []
    sources: list[str] = []
    errors: list[str] = []
    for suffix, read in _SIDECARS:
        path = stem + suffix
        name = os.path.basename(path)
        if names is not None and names.absent(path):
            continue
        doc, problem = _load(path)
        if problem is not None:
            errors.append(f"{name}: {problem}")
        if doc is None:
            continue
        reading = _Reading()
        read(doc, reading)
        readings.append(reading)
        sources.append(name)
        errors += [f"{name}: {what}" for what in reading.problems]

    found: Sidecars = {}
    description = next((r.description for r in readings if r.description), None)
    if description:
        found["description"] = description
    words = unique_words([word for r in readings for word in r.trigger_words])
    if words:
        found["trigger_words"] = words
    given = [r.base_model for r in readings if r.base_model and r.base_model.lower() != UNKNOWN]
    base = next((known for label in given if (known := normalise(label))), given[0] if given else None)
    if base:
        found["base_model"] = base
    links = unique_words([link for r in readings for link in r.links])
    if links:
        found["links"] = links
    tags = sidecar_tags([tag for r in readings for tag in r.tags])
    if tags:
        found["tags"] = tags
    flags = [r.nsfw for r in readings if r.nsfw is not None]
    if flags:
        found["nsfw"] = any(flags)
    if sources:
        found["sources"] = sources
    if errors:
        found["errors"] = errors
    return found
