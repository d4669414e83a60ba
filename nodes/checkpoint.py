"""Hikaze Checkpoint Loader: loads the checkpoint the manager's picker wrote into the payload."""

from __future__ import annotations

from typing import Any

from .daemon import DaemonClient
from .payload import CHECKPOINT_DEFAULT, CheckpointRef, parse_checkpoint
from .payload_node import PayloadNode
from .resolve import Wanted, resolve


class HikazeCheckpointLoader(PayloadNode):
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    DESCRIPTION = "Loads a checkpoint picked in the Hikaze Model Manager; finds it again if it was moved."

    @staticmethod
    def parse(payload: str) -> CheckpointRef:
        return parse_checkpoint(payload)

    @staticmethod
    def files(parsed: CheckpointRef) -> list[Wanted]:
        return [_wanted(parsed)]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        # Multiline keeps the payload a visible text the user can always read and fix, even without the front end.
        return {"required": {"hikaze_payload": ("STRING", {
            "multiline": True, "default": CHECKPOINT_DEFAULT,
            "tooltip": 'JSON: {"ckpt_path": "<path>", "sha256": "<hex>"}, written by the picker',
        })}}

    def load_checkpoint(self, hikaze_payload: str) -> tuple[Any, Any, Any]:
        import comfy.sd
        import folder_paths

        path = resolve(_wanted(parse_checkpoint(hikaze_payload)), DaemonClient())
        out = comfy.sd.load_checkpoint_guess_config(
            path, output_vae=True, output_clip=True, embedding_directory=folder_paths.get_folder_paths("embeddings")
        )
        return out[:3]


def _wanted(ref: CheckpointRef) -> Wanted:
    label = f'the checkpoint "{ref.name}"' if ref.name else "the checkpoint"
    return Wanted(label, "checkpoints", ref.path, ref.sha256)
