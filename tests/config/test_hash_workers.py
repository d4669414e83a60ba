"""The hash_workers setting: `auto` (the default) or a whole number, from the file or the flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hikaze_mm.config.settings import ConfigError, load_settings


def _load(tmp_path: Path, toml: str = "", **flags: object):
    config = tmp_path / "config.toml"
    config.write_text(f"data_dir = '{tmp_path / 'data'}'\n{toml}")
    return load_settings(argparse.Namespace(config=str(config), **flags))


def test_default_is_auto(tmp_path: Path):
    assert _load(tmp_path).hash_workers == "auto"


@pytest.mark.parametrize(("toml", "flag", "expected"), [
    ("hash_workers = 'auto'\n", None, "auto"),
    ("hash_workers = 3\n", None, 3),
    ("", "4", 4),
    ("", "auto", "auto"),
    ("hash_workers = 3\n", "auto", "auto"),  # the flag beats the file
    ("hash_workers = 'auto'\n", "1", 1),
])
def test_auto_or_a_number(tmp_path: Path, toml: str, flag: str | None, expected: object):
    assert _load(tmp_path, toml, hash_workers=flag).hash_workers == expected


@pytest.mark.parametrize(("toml", "flag", "words"), [
    ("hash_workers = 0\n", None, "at least 1"),
    ("hash_workers = 65\n", None, "at most 64"),
    ("hash_workers = 'many'\n", None, "auto or a whole number"),
    ("hash_workers = 2.5\n", None, "auto or a whole number"),
    ("hash_workers = true\n", None, "auto or a whole number"),
    ("hash_workers = 'AUTO'\n", None, "auto or a whole number"),
    ("", "-2", "at least 1"),
    ("", "two", "auto or a whole number"),
])
def test_bad_values_name_the_key(tmp_path: Path, toml: str, flag: str | None, words: str):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, toml, hash_workers=flag)
    message = str(e.value)
    assert ("--hash-workers" if flag else "`hash_workers`") in message and words in message, message
