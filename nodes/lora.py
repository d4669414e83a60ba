"""Hikaze LoRA Power Loader: applies the LoRA list document, then the LoRAs written in its text input, in order, and
outputs the applied LoRAs' trigger words."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .daemon import DaemonClient
from .lora_text import TextEntry, parse_lora_text
from .lora_words import lora_words
from .payload import LORA_DEFAULT, LoraEntry, PayloadError, parse_lora_list
from .payload_node import PayloadNode
from .resolve import Wanted, fingerprint, resolve


@dataclass(frozen=True)
class Applied:
    """One LoRA to apply, from the payload or from the text: the same file lookup, the same call into ComfyUI."""

    wanted: Wanted
    strength_model: float
    strength_clip: float
    ticked: tuple[str, ...] | None  # the words the user ticked; None: all of the LoRA's words


class HikazeLoraPowerLoader(PayloadNode):
    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "trigger_words")
    FUNCTION = "load_loras"
    DESCRIPTION = (
        "Applies the LoRAs picked in the Hikaze Model Manager, in order, each with its own strengths; then the "
        "LoRAs written in lora_text as <lora:name:0.8> or <lora:name:0.8:0.5> (model, clip), in text order. "
        "trigger_words holds the words of the LoRAs applied: the ones ticked in the node's list, else all of them."
    )

    @staticmethod
    def parse(payload: str) -> list[LoraEntry]:
        return parse_lora_list(payload)

    @staticmethod
    def files(parsed: list[LoraEntry]) -> list[Wanted]:
        return [_from_payload(e).wanted for e in parsed if e.active]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                # Multiline keeps the document a visible text the user can always read and fix.
                "hikaze_payload": ("STRING", {
                    "multiline": True, "default": LORA_DEFAULT,
                    "tooltip": 'JSON: {"version": 2, "loras": [{"name", "full_path", "sha256", "strength_model", '
                               '"strength_clip", "enabled", "trigger_words"}]}',
                }),
            },
            # After the existing inputs: a workflow saved before lora_text existed fills its widgets in order.
            "optional": {
                "clip": ("CLIP",),
                "lora_text": ("STRING", {
                    "multiline": True, "default": "",
                    "tooltip": "More LoRAs, applied after the list: <lora:name:0.8> (both strengths), "
                               "<lora:name:0.8:0.5> (model, clip) or <lora:name> (1.0). Names as in the loras "
                               "folder, sub-folders and .safetensors optional; other text is ignored, so a prompt "
                               "can be wired in.",
                }),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, hikaze_payload: str | None = None, lora_text: str | None = None) -> bool | str:
        # None: the input comes through a link, whose value is known only when the node runs.
        checked = super().VALIDATE_INPUTS(hikaze_payload)
        if checked is not True or lora_text is None:
            return checked
        try:
            parse_lora_text(lora_text)
        except PayloadError as e:
            return str(e)
        return True

    @classmethod
    def IS_CHANGED(cls, hikaze_payload: str | None = None, lora_text: str | None = None, **_other_inputs: Any) -> str:
        # A linked input is None here: a change upstream runs the node again anyway.
        if hikaze_payload is None and not lora_text:
            return ""
        inputs = json.dumps([hikaze_payload, lora_text or ""])
        try:
            applied = _plan(hikaze_payload or "", lora_text)
        except PayloadError:
            return inputs  # the node fails, and a failed node runs again
        return fingerprint(inputs, [a.wanted for a in applied])

    def load_loras(
        self, model: Any, hikaze_payload: str, clip: Any = None, lora_text: str | None = None
    ) -> tuple[Any, Any, str]:
        import comfy.sd
        import comfy.utils

        applied = _plan(hikaze_payload, lora_text)
        daemon = DaemonClient()
        # Every file is found before the first is read, so a missing one fails the run at once.
        paths = [resolve(a.wanted, daemon) for a in applied]
        for a, path in zip(applied, paths, strict=True):
            lora = comfy.utils.load_torch_file(path, safe_load=True)
            model, clip = comfy.sd.load_lora_for_models(model, clip, lora, a.strength_model, a.strength_clip)
        return model, clip, _trigger_words(applied, paths, daemon)


def _plan(payload: str, text: str | None) -> list[Applied]:
    """What is applied, in order: the payload's active entries, then the text's. Both are read before anything
    is loaded, so a wrong entry in either fails the run before it starts."""
    entries = parse_lora_list(payload)
    written = parse_lora_text(text)
    return [_from_payload(e) for e in entries if e.active] + [_from_text(e) for e in written if e.active]


def _from_payload(entry: LoraEntry) -> Applied:
    label = f"LoRA {entry.number} ({entry.name or entry.full_path})"
    wanted = Wanted(label, "loras", entry.full_path or entry.name, entry.sha256)
    return Applied(wanted, entry.strength_model, entry.strength_clip, entry.trigger_words)


def _from_text(entry: TextEntry) -> Applied:
    wanted = Wanted(entry.label, "loras", entry.name, "", by_file_name=True)
    return Applied(wanted, entry.strength_model, entry.strength_clip, None)


def _trigger_words(applied: list[Applied], paths: list[str], daemon: DaemonClient) -> str:
    words: dict[str, None] = {}  # a dict keeps the first-seen order
    for a, path in zip(applied, paths, strict=True):
        words.update(dict.fromkeys(a.ticked if a.ticked is not None else lora_words(a.wanted, path, daemon)))
    return ", ".join(words)
