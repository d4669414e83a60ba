"""Which folders hold models, and what type a file under them is.

A root is either a models folder (its first-level subfolders are the types, like ComfyUI's `models/`) or a
folder of one type (an `extra_model_paths.yaml` entry). A file's type is the folder it sits in.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from hikaze_mm.config.extra_model_paths import parse_extra_model_paths
from hikaze_mm.config.settings import Settings

log = logging.getLogger(__name__)

MODEL_EXTENSIONS = frozenset({".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl", ".gguf"})
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".tmp", ".aria2")
# ComfyUI's older folder names, read as the type it loads them as (folder_paths groups them so too).
LEGACY_FOLDERS = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}
# Folders ComfyUI lists beside the model folders that hold no model files of their own.
NOT_MODEL_FOLDERS = frozenset({"configs", "custom_nodes", "diffusers"})
STANDARD_FOLDERS = (
    "checkpoints", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models",
    "embeddings", "vae_approx", "controlnet", "gligen", "upscale_models", "latent_upscale_models",
    "hypernetworks", "photomaker", "model_patches", "audio_encoders",
)


def model_type(folder: str) -> str:
    return LEGACY_FOLDERS.get(folder, folder)


def is_partial_name(name: str) -> bool:
    return name.lower().endswith(PARTIAL_SUFFIXES)


def is_model_name(name: str) -> bool:
    """A model file by its name: a model extension, not hidden (rsync temp files, macOS `._` files)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS


def skip_dir(name: str) -> bool:
    return name.startswith(".") or name.startswith("@")  # .git, .Trash-1000, Synology's @eaDir


@dataclass(frozen=True)
class Root:
    path: str  # absolute, normalised, not resolved: paths are stored as the user sees them
    type: str | None  # None: a models folder whose subfolders name the types
    source: str

    def type_of(self, path: str) -> str | None:
        """The model type of a file at `path` under this root, or None if it is not a model file here."""
        rel = os.path.relpath(path, self.path)
        parts = rel.split(os.sep)
        if rel.startswith(".."):
            return None
        if any(skip_dir(p) for p in parts[:-1]) or not is_model_name(parts[-1]):
            return None
        if self.type is not None:
            return self.type
        if len(parts) < 2 or parts[0] in NOT_MODEL_FOLDERS:
            return None
        return model_type(parts[0])


def _norm(path: Path | str) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class RootSet:
    """The configured roots, with lookups from a path to its root and type."""

    def __init__(self, roots: list[Root]):
        seen: dict[str, Root] = {}
        for r in roots:
            seen.setdefault(r.path, r)
        # Longest first, so the most specific root decides a file's type.
        self.roots = sorted(seen.values(), key=lambda r: len(r.path), reverse=True)

    def __iter__(self):
        return iter(self.roots)

    def __len__(self) -> int:
        return len(self.roots)

    def root_of(self, path: str) -> Root | None:
        for r in self.roots:
            if within(path, r.path):
                return r
        return None

    def type_of(self, path: str) -> str | None:
        root = self.root_of(path)
        return root.type_of(path) if root else None

    def top_level(self) -> list[Root]:
        """Roots not inside another root: walking and watching these covers every root."""
        tops: list[Root] = []
        for r in sorted(self.roots, key=lambda r: len(r.path)):
            if not any(within(r.path, t.path) for t in tops):
                tops.append(r)
        return tops


def build_roots(settings: Settings) -> RootSet:
    roots: list[Root] = []
    yaml_files: list[Path] = []
    if settings.comfyui_dir is not None:
        comfy = settings.comfyui_dir
        roots.append(Root(_norm(comfy / "models"), None, "comfyui_dir"))
        for name in ("extra_model_paths.yaml", "extra_paths.yaml"):
            if (comfy / name).is_file():
                yaml_files.append(comfy / name)
    yaml_files.extend(settings.extra_model_paths)
    for yaml_file in yaml_files:
        for entry in parse_extra_model_paths(yaml_file):
            folder = model_type(entry.folder)
            if folder in NOT_MODEL_FOLDERS:
                continue
            roots.append(Root(_norm(entry.path), folder, f"{yaml_file.name}:{entry.group}"))
    for models_root in settings.models_roots:
        roots.append(Root(_norm(models_root), None, "models_roots"))
    for folder_type, folders in settings.model_folders.items():
        if model_type(folder_type) in NOT_MODEL_FOLDERS:
            continue
        roots.extend(Root(_norm(folder), model_type(folder_type), "model_folders") for folder in folders)
    if not roots:
        default = settings.default_models_dir
        for folder in STANDARD_FOLDERS:
            (default / folder).mkdir(parents=True, exist_ok=True)
        log.info("no model folders configured; watching the default models folder %s", default)
        roots.append(Root(_norm(default), None, "default"))
    return RootSet(roots)
