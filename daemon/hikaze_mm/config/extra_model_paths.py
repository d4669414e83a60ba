"""Read ComfyUI's extra_model_paths.yaml with ComfyUI's own grammar, without importing ComfyUI.

Top level: group name -> mapping. In a group, `base_path` (expanded, relative to the YAML's folder),
`is_default` (bool), and every other key is a folder name whose value is a string of newline-separated paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from hikaze_mm.config.settings import ConfigError


@dataclass(frozen=True)
class ExtraPath:
    folder: str  # the category as written (legacy names are mapped by the caller)
    path: Path
    group: str
    is_default: bool


def _expand(value: str, base: Path) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    if not p.is_absolute():
        p = base / p
    return Path(os.path.normpath(p))


def parse_extra_model_paths(yaml_file: Path) -> list[ExtraPath]:
    try:
        text = yaml_file.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{yaml_file} cannot be read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{yaml_file} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{yaml_file} is not valid YAML: {e}".replace("\n", " ")) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{yaml_file}: the top level must be a mapping of group names")

    yaml_dir = yaml_file.resolve().parent
    found: list[ExtraPath] = []
    for group, conf in data.items():
        if conf is None:
            continue
        where = f"{yaml_file}: group `{group}`"
        if not isinstance(conf, dict):
            raise ConfigError(f"{where} must be a mapping of folder names to paths")
        base_value = conf.get("base_path")
        base: Path | None = None
        if base_value is not None:
            if not isinstance(base_value, str):
                raise ConfigError(f"{where}: `base_path` must be a string")
            base = _expand(base_value, yaml_dir)
        is_default = conf.get("is_default", False)
        if not isinstance(is_default, bool):
            raise ConfigError(f"{where}: `is_default` must be true or false")
        for folder, value in conf.items():
            if folder in ("base_path", "is_default"):
                continue
            if not isinstance(value, str):
                raise ConfigError(
                    f"{where}: `{folder}` must be a string with one path per line (a YAML list is not "
                    f"what ComfyUI reads; write `{folder}: |` and the paths below it)"
                )
            for line in value.split("\n"):
                if not line.strip():
                    continue
                path = _expand(line, base if base is not None else yaml_dir)
                found.append(ExtraPath(str(folder), path, str(group), is_default))
    return found
