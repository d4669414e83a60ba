"""A1111's `parameters` text (also written by Forge, Civitai and some ComfyUI savers): the prompt, then a line of
`Key: value` settings. The checkpoint is `Model` with its AutoV2 in `Model hash`; LoRAs are the prompt's
`<lora:name:weight>` entries with their hashes in `Lora hashes: "name: hash, ..."`, and Civitai's `Hashes: {json}`
names both (`model`, `lora:name`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from hikaze_mm.workflows.references import Collector, Reference, hash_fields, lora_tag_names

NODE_ID = "parameters"  # the references of the text are no node's; they are named after the text itself
_KEY = re.compile(r"\s*([A-Za-z][\w \-/.]*?):\s*")
_DECODER = json.JSONDecoder()
# Characters of a `Hashes: {...}` value decoded at most: Civitai's names a handful of models in a few hundred; a
# longer one is read as plain text, so that a deep or huge one costs neither the stack nor the memory.
MAX_JSON = 64 * 1024


@dataclass
class Hashes:
    """What the text says of the models' hashes, by kind and name as it writes them."""

    model: str | None = None  # the checkpoint's hash
    model_name: str | None = None  # the checkpoint's name, which it belongs to
    loras: dict[str, str] = field(default_factory=dict)


def _settings(line: str) -> dict[str, str | dict[str, object]]:
    """The `Key: value, Key: "quoted, value", Hashes: {...}` pairs of the settings line."""
    out: dict[str, str | dict[str, object]] = {}
    pos = 0
    while pos < len(line):
        match = _KEY.match(line, pos)
        if match is None:
            break
        key, pos = match.group(1).strip(), match.end()
        value: str | dict[str, object]
        if line.startswith(("\"", "{"), pos):
            try:
                if line.startswith("{", pos):
                    decoded, end = _DECODER.raw_decode(line[pos:pos + MAX_JSON])
                    pos += end
                else:
                    decoded, pos = _DECODER.raw_decode(line, pos)
            except (ValueError, RecursionError):
                decoded = None
            if isinstance(decoded, (str, dict)):
                value = decoded
            else:
                end = line.find(",", pos)
                value, pos = line[pos:end if end >= 0 else len(line)], end if end >= 0 else len(line)
        else:
            end = line.find(",", pos)
            value, pos = line[pos:end if end >= 0 else len(line)].strip(), end if end >= 0 else len(line)
        out.setdefault(key, value)
        pos = line.find(",", pos)
        pos = len(line) if pos < 0 else pos + 1
    return out


def _split(text: str) -> tuple[str, dict[str, str | dict[str, object]]]:
    lines = text.strip().splitlines()
    settings: dict[str, str | dict[str, object]] = {}
    if lines and lines[-1].lstrip().startswith("Steps:"):
        settings = _settings(lines.pop())
    prompt = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            break
        prompt.append(line)
    return "\n".join(prompt), settings


def hashes(text: str) -> Hashes:
    """The comparable hashes the text gives (a 12-digit AutoV3 of `Lora hashes` is left for Civitai's AutoV2)."""
    return _hashes(_split(text)[1])


def _hashes(settings: dict[str, str | dict[str, object]]) -> Hashes:
    found = Hashes()
    model_name = settings.get("Model")
    found.model_name = model_name.strip() if isinstance(model_name, str) else None
    stated: list[tuple[str | None, object]] = [("", settings.get("Model hash"))]
    lora_hashes = settings.get("Lora hashes")
    if isinstance(lora_hashes, str):
        for pair in lora_hashes.split(","):
            lora, sep, text = pair.rpartition(":")
            stated.append((lora.strip() if sep else None, text))
    civitai = settings.get("Hashes")
    if isinstance(civitai, dict):
        for key, value in civitai.items():
            stated.append(("" if key == "model" else key[5:] if key.startswith("lora:") else None, value))
    for name, value in stated:
        if name is None or not isinstance(value, str) or hash_fields(value) == (None, None):
            continue
        if name == "":
            found.model = found.model or value.strip()
        else:
            found.loras.setdefault(name, value.strip())
    return found


def references(text: str) -> list[Reference]:
    """The checkpoint and LoRAs the text names, with the hashes it gives them."""
    prompt, settings = _split(text)
    known = _hashes(settings)
    refs = Collector()  # which holds the text to the cap on references any workflow has
    model = settings.get("Model")
    sha256, autov2 = hash_fields(known.model)
    if isinstance(model, str) and model.strip():
        refs.add(Reference(NODE_ID, NODE_ID, "Model", None, "checkpoints", model.strip(), sha256, autov2,
                           by_stem=True))
    names = list(dict.fromkeys([*lora_tag_names(prompt), *known.loras]))
    for n, name in enumerate(names, 1):
        sha256, autov2 = hash_fields(known.loras.get(name))
        refs.add(Reference(NODE_ID, NODE_ID, "lora", n, "loras", name, sha256, autov2, by_stem=True))
    return refs.found
