"""Roots and ComfyUI's extra_model_paths.yaml grammar, and what counts as a model file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikaze_mm.config.extra_model_paths import parse_extra_model_paths
from hikaze_mm.config.roots import Root, RootSet, build_roots
from hikaze_mm.config.settings import ConfigError, Settings


def test_grammar_base_path_relative_absolute_default_and_null(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MODELS_HOME", str(tmp_path / "env"))
    yaml_file = tmp_path / "cfg" / "extra.yaml"
    yaml_file.parent.mkdir()
    yaml_file.write_text(
        "rel:\n  base_path: ../webui\n  loras: |\n    models/Lora\n\n    /abs/lora\n"
        "env:\n  base_path: $MODELS_HOME\n  is_default: true\n  vae: v\n"
        "nobase:\n  checkpoints: ck\n"
        "skipped:\n"
    )
    entries = [(e.group, e.folder, str(e.path), e.is_default) for e in parse_extra_model_paths(yaml_file)]
    assert entries == [
        ("rel", "loras", str(tmp_path / "webui" / "models" / "Lora"), False),
        ("rel", "loras", "/abs/lora", False),
        ("env", "vae", str(tmp_path / "env" / "v"), True),
        ("nobase", "checkpoints", str(tmp_path / "cfg" / "ck"), False),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- a\n- b\n", "top level must be a mapping"),
        ("g: 5\n", "must be a mapping"),
        ("g:\n  is_default: maybe\n", "`is_default`"),
        ("g:\n  base_path: [1]\n", "`base_path`"),
    ],
)
def test_grammar_errors_name_the_problem(tmp_path: Path, text: str, words: str):
    yaml_file = tmp_path / "x.yaml"
    yaml_file.write_text(text)
    with pytest.raises(ConfigError, match=words):
        parse_extra_model_paths(yaml_file)


def test_types_follow_folders_and_legacy_names():
    roots = RootSet([Root("/m", None, "t"), Root("/m/loras/special", "embeddings", "t")])
    assert roots.type_of("/m/clip/t5.safetensors") == "text_encoders"
    assert roots.type_of("/m/unet/sub/x.gguf") == "diffusion_models"
    assert roots.type_of("/m/t2i_adapter/x.safetensors") == "controlnet"
    assert roots.type_of("/m/loras/special/e.pt") == "embeddings"
    assert roots.type_of("/m/loras/a.SafeTensors") == "loras"
    assert roots.type_of("/m/loras/a.safetensors.part") is None
    assert roots.type_of("/m/loras/._a.safetensors") is None
    assert roots.type_of("/m/loras/.git/a.safetensors") is None
    assert roots.type_of("/m/configs/a.ckpt") is None
    assert roots.type_of("/m/a.safetensors") is None
    assert roots.type_of("/elsewhere/loras/a.safetensors") is None
    assert [r.path for r in roots.top_level()] == ["/m"]


def test_default_models_folder_when_nothing_is_configured(tmp_path: Path):
    roots = build_roots(Settings(data_dir=tmp_path))
    assert [(r.path, r.source) for r in roots] == [(str(tmp_path / "models"), "default")]
    assert (tmp_path / "models" / "checkpoints").is_dir() and (tmp_path / "models" / "loras").is_dir()
