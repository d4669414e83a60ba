"""The text a node's `hikaze_payload` widget holds: a checkpoint reference, or the LoRA list document.

Strict about types, lenient about shape (aliases, rgthree rows, missing strengths): a payload either says exactly
what to load or fails with the entry and the field to fix. The first version fell back to "no LoRAs" on a payload
its own front end had written; nothing here does that.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

CHECKPOINT_DEFAULT = '{"ckpt_path": "", "sha256": ""}'
LORA_DEFAULT = '{"version": 2, "loras": []}'
LIST_KEYS = ("loras", "LoRAs", "LoRAList", "loRAList")  # the canonical key first, then the first version's aliases
CHECKPOINT_FIELDS = ("ckpt_path", "sha256", "name")
LORA_FIELDS = ("name", "full_path", "sha256", "strength_model", "strength_clip", "enabled", "trigger_words")
RGTHREE_FIELDS = ("on", "lora", "strength", "strengthTwo")
SHA256 = re.compile(r"[0-9a-f]{64}")


class PayloadError(ValueError):
    """A payload the nodes cannot load; the message names the entry and the field."""


@dataclass(frozen=True)
class CheckpointRef:
    path: str
    sha256: str  # "" when the payload does not know it
    name: str


@dataclass(frozen=True)
class LoraEntry:
    number: int  # 1-based, as the user counts the rows
    name: str
    full_path: str
    sha256: str
    strength_model: float
    strength_clip: float
    enabled: bool
    # The words the user ticked, in their order; None: all the LoRA's words, as the daemon knows them.
    trigger_words: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        return self.enabled and (self.strength_model != 0 or self.strength_clip != 0)


def parse_checkpoint(text: str) -> CheckpointRef:
    data = _json(text, "the checkpoint payload")
    if not isinstance(data, dict):
        raise PayloadError(f"the checkpoint payload must be a JSON object like {CHECKPOINT_DEFAULT}, got {_show(data)}")
    _known_fields(data, CHECKPOINT_FIELDS, "the checkpoint payload")
    path = _string(data, "ckpt_path", "the checkpoint payload")
    if not path:
        raise PayloadError("no checkpoint chosen: ckpt_path is empty; pick one with the node's button or type its path")
    return CheckpointRef(path, _sha256(data, "the checkpoint payload"), _string(data, "name", "the checkpoint payload"))


def parse_lora_list(text: str) -> list[LoraEntry]:
    """All entries, the skipped ones too (their fields are checked like the others')."""
    if isinstance(text, str) and not text.strip():
        return []
    data = _json(text, "the LoRA payload")
    if isinstance(data, dict):
        rows = _document_rows(data)
    elif isinstance(data, list):
        rows = data
    else:
        raise PayloadError(f"the LoRA payload must be a JSON object like {LORA_DEFAULT} or a list, got {_show(data)}")
    return [_entry(number, row) for number, row in enumerate(rows, 1)]


def _document_rows(data: dict[str, Any]) -> list[Any]:
    keys = [k for k in LIST_KEYS if k in data]
    if not keys:
        raise PayloadError('the LoRA payload has no "loras" list (also read: ' + ", ".join(LIST_KEYS[1:]) + ")")
    if len(keys) > 1:
        raise PayloadError(f"the LoRA payload has both {keys[0]} and {keys[1]}; keep one list")
    _known_fields(data, ("version", keys[0]), "the LoRA payload")
    version = data.get("version", 2)
    if isinstance(version, bool) or version not in (1, 2, "1", "2"):
        raise PayloadError(f"the LoRA payload's version must be 1 or 2, got {_show(version)}")
    rows = data[keys[0]]
    if not isinstance(rows, list):
        raise PayloadError(f'the LoRA payload\'s "{keys[0]}" must be a list, got {_show(rows)}')
    return rows


def _entry(number: int, row: Any) -> LoraEntry:
    where = f"LoRA {number}"
    if not isinstance(row, dict):
        raise PayloadError(f"{where} must be an object, got {_show(row)}")
    ours, theirs = set(row) & set(LORA_FIELDS), set(row) & set(RGTHREE_FIELDS)
    if ours and theirs:
        raise PayloadError(
            f"{where} mixes Hikaze fields ({', '.join(sorted(ours))}) with rgthree fields ({', '.join(sorted(theirs))})"
        )
    if theirs:
        _known_fields(row, RGTHREE_FIELDS, where)
        strength = _strength(row, "strength", where, 1.0)
        entry = LoraEntry(
            number, _string(row, "lora", where), "", "", strength,
            _strength(row, "strengthTwo", where, strength), _flag(row, "on", where),
        )
    else:
        _known_fields(row, LORA_FIELDS, where)
        entry = LoraEntry(
            number, _string(row, "name", where), _string(row, "full_path", where), _sha256(row, where),
            _strength(row, "strength_model", where, 1.0), _strength(row, "strength_clip", where, 1.0),
            _flag(row, "enabled", where), _words(row, "trigger_words", where),
        )
    if entry.active and not (entry.full_path or entry.name):
        raise PayloadError(f"{where}: no file; set full_path (or name), or turn the entry off")
    return entry


def _json(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise PayloadError(f"{what} must be JSON text, got {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PayloadError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def _known_fields(data: dict[str, Any], fields: tuple[str, ...], where: str) -> None:
    # An unknown field is most often a misspelt one, whose value would otherwise be dropped without a word.
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise PayloadError(f"{where}: unknown field(s) {', '.join(unknown)}; it takes {', '.join(fields)}")


def _string(data: dict[str, Any], field: str, where: str) -> str:
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where}: {field} must be a string, got {_show(value)}")
    return value.strip()


def _sha256(data: dict[str, Any], where: str) -> str:
    value = _string(data, "sha256", where).lower()
    if value and not SHA256.fullmatch(value):
        raise PayloadError(f"{where}: sha256 must be 64 hex digits, got {_show(data['sha256'])}")
    return value


def _strength(data: dict[str, Any], field: str, where: str, default: float) -> float:
    value = data.get(field)
    if value is None or value == "":  # rgthree writes null for "same as the first strength"; the page reads "" so too
        return default
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise PayloadError(f"{where}: {field} must be a number, got {_show(value)}")
    return number


def _flag(data: dict[str, Any], field: str, where: str) -> bool:
    value = data.get(field, True)
    if not isinstance(value, bool):
        raise PayloadError(f"{where}: {field} must be true or false, got {_show(value)}")
    return value


def _words(data: dict[str, Any], field: str, where: str) -> tuple[str, ...] | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise PayloadError(f"{where}: {field} must be a list of words (strings), got {_show(value)}; "
                           "remove the field to output all of the LoRA's words")
    return tuple(word.strip() for word in value if word.strip())


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 80 else shown[:77] + "..."
