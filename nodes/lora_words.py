"""A LoRA's trigger words as the daemon knows them, for the loader's output and for the word toggles in its panel."""

from __future__ import annotations

from typing import Any

from .daemon import DaemonClient
from .resolve import Wanted, resolve


def lora_words(wanted: Wanted, path: str, daemon: DaemonClient) -> list[str]:
    """All of a LoRA's words: by its sha256, else by the file it is loaded from."""
    return daemon.trigger_words(wanted.sha256) if wanted.sha256 else daemon.trigger_words_at(path)


def panel_words(sha256: str, path: str) -> dict[str, Any]:
    """{"words": [...], "reachable": bool} for one row of the panel: the row's file is found the way the node finds
    it, so a row without sha256 (typed by hand, an rgthree row) shows the words its file will output."""
    daemon = DaemonClient()
    wanted = Wanted("the row", "loras", path, sha256)
    found = ""
    if not sha256:
        try:
            found = resolve(wanted, daemon)
        except FileNotFoundError:
            # The daemon is asked either way (it knows no such file), so the answer never tells whether a file
            # exists on this machine.
            found = path
    words = lora_words(wanted, found, daemon)
    return {"words": words, "reachable": daemon.problem is None}
