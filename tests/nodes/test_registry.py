"""The Comfy Registry's own checks on the node pack: `comfy node validate` (what the registry runs before it
publishes) passes, and `comfy node pack` holds the built page and the built ComfyUI extension, not the sources,
tests or anything from node_modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMFY = Path(sys.executable).with_name("comfy")


def comfy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # comfy-cli's telemetry and update check stay off, and its config goes to the test's folder, not the user's.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "DO_NOT_TRACK": "1",
           "COMFY_NO_TELEMETRY": "1", "COMFY_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}
    return subprocess.run([str(COMFY), "--skip-prompt", "--no-json", "node", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def packed(tmp_path: Path) -> list[str]:
    target = ROOT / "node.zip"
    if target.exists():
        pytest.fail(f"{target} is in the way; move it")
    try:
        done = comfy(tmp_path, "pack")
        assert done.returncode == 0, done.stdout + done.stderr
        shutil.move(target, tmp_path / "node.zip")
    finally:
        target.unlink(missing_ok=True)
    with zipfile.ZipFile(tmp_path / "node.zip") as z:
        return z.namelist()


def test_comfy_node_validate_passes(tmp_path: Path):
    done = comfy(tmp_path, "validate")
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "passed" in out and "version is empty" not in out, out


def test_pack_holds_the_built_page_and_extension_and_no_sources(packed: list[str]):
    names = set(packed)
    assert {"__init__.py", "pyproject.toml", "requirements.txt", "web/dist/index.html"} <= names
    assert any(n.startswith("web/dist/assets/") and n.endswith(".js") for n in names)
    assert any(n.startswith("web/comfyui/") and n.endswith(".js") for n in names)
    assert {"nodes/__init__.py", "daemon/hikaze_mm/__main__.py"} <= names  # autostart runs the daemon from here
    assert not [n for n in names if "node_modules" in n or n.startswith(("tests/", "bench/", "web/src/", ".ci/"))]
