"""Hikaze LoRA Power Loader: applies the LoRA list document in order and outputs the applied LoRAs' trigger words."""

from __future__ import annotations

from typing import Any

from .daemon import DaemonClient
from .payload import LORA_DEFAULT, LoraEntry, parse_lora_list
from .payload_node import PayloadNode
from .resolve import Wanted, resolve


class HikazeLoraPowerLoader(PayloadNode):
    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "trigger_words")
    FUNCTION = "load_loras"
    DESCRIPTION = "Applies the LoRAs picked in the Hikaze Model Manager, in order, each with its own strengths."

    @staticmethod
    def parse(payload: str) -> list[LoraEntry]:
        return parse_lora_list(payload)

    @staticmethod
    def files(parsed: list[LoraEntry]) -> list[Wanted]:
        return [_wanted(e) for e in parsed if e.active]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                # Multiline keeps the document a visible text the user can always read and fix.
                "hikaze_payload": ("STRING", {
                    "multiline": True, "default": LORA_DEFAULT,
                    "tooltip": 'JSON: {"version": 2, "loras": [{"name", "full_path", "sha256", "strength_model", '
                               '"strength_clip", "enabled"}]}',
                }),
            },
            "optional": {"clip": ("CLIP",)},
        }

    def load_loras(self, model: Any, hikaze_payload: str, clip: Any = None) -> tuple[Any, Any, str]:
        import comfy.sd
        import comfy.utils

        entries = [e for e in parse_lora_list(hikaze_payload) if e.active]
        daemon = DaemonClient()
        # Every file is found before the first is read, so a missing one fails the run at once.
        paths = [resolve(_wanted(e), daemon) for e in entries]
        for entry, path in zip(entries, paths, strict=True):
            lora = comfy.utils.load_torch_file(path, safe_load=True)
            model, clip = comfy.sd.load_lora_for_models(model, clip, lora, entry.strength_model, entry.strength_clip)
        return model, clip, _trigger_words(entries, daemon)


def _wanted(entry: LoraEntry) -> Wanted:
    shown = entry.name or entry.full_path
    label = f"LoRA {entry.number} ({shown})"
    return Wanted(label, "loras", entry.full_path or entry.name, entry.sha256)


def _trigger_words(entries: list[LoraEntry], daemon: DaemonClient) -> str:
    words: dict[str, None] = {}  # a dict keeps the first-seen order
    for entry in entries:
        if entry.sha256:
            words.update(dict.fromkeys(daemon.trigger_words(entry.sha256)))
    return ", ".join(words)
