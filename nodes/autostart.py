"""Starting the daemon from ComfyUI, with ComfyUI's own folders, when the user turned on the `autostart` setting.

The daemon is a child of ComfyUI's process: it stops with ComfyUI, and one is started at most once at a time.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .announce import announce, comfy_folders
from .daemon import DaemonClient, daemon_url

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STARTUP_S = 10.0  # how long the answer waits for the new daemon to answer; it keeps starting after that
CHECKOUT = Path(__file__).resolve().parents[1] / "daemon"  # the daemon's code beside the nodes, in a git clone

_lock = threading.Lock()
_child: subprocess.Popen[bytes] | None = None


def start() -> dict[str, Any]:
    """{"started": bool, "reason": str}. Blocks up to STARTUP_S: call it from a thread."""
    global _child
    with _lock:
        url = daemon_url()
        if DaemonClient(url).status()["reachable"]:
            return {"started": False, "reason": f"the daemon already answers at {url}"}
        if _child is not None and _child.poll() is None:
            return {"started": False, "reason": f"the daemon started earlier (pid {_child.pid}) is still starting"}
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK:
            return {"started": False, "reason": f"{url} is not an http address on this machine; start the daemon there"}
        env = _environment()
        if env is None:
            return {"started": False, "reason": "hikaze_mm is not installed in ComfyUI's Python "
                                                "(pip install -e <this folder>), and this folder has no daemon/"}
        _child = subprocess.Popen(_command(parts.port or 80), env=env, stdin=subprocess.DEVNULL)
        atexit.register(stop)  # registering twice is harmless: stop() does nothing the second time
        return _wait(_child, url)


def stop() -> None:
    """Stop the daemon this process started, if it still runs."""
    if _child is not None and _child.poll() is None:
        _child.terminate()
        try:
            _child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _child.kill()
            _child.wait()


def _environment() -> dict[str, str] | None:
    """The child's environment; None when no hikaze_mm can run here. An installed one wins over the checkout's."""
    env = dict(os.environ)
    if find_spec("hikaze_mm") is not None:
        return env
    if (CHECKOUT / "hikaze_mm" / "__main__.py").is_file():
        # A clone installed by ComfyUI-Manager has the daemon's requirements but not the daemon package itself.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH")) if p)
        return env
    return None


def _command(port: int) -> list[str]:
    """The daemon watches exactly the folders ComfyUI loads from, each as its type: those of models/, of
    --extra-model-paths-config and of other custom nodes alike (the daemon skips the ones that hold no models)."""
    command = [sys.executable, "-m", "hikaze_mm", "serve", "--port", str(port)]
    for name, folders in comfy_folders().items():
        for folder in folders:
            command += ["--model-folder", f"{name}={folder}"]
    return command


def _wait(child: subprocess.Popen[bytes], url: str) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return {"started": False, "reason": f"the daemon exited with code {child.returncode} while starting; "
                                                "ComfyUI's console shows why"}
        if DaemonClient(url).status()["reachable"]:
            announce(DaemonClient(url))
            return {"started": True, "reason": f"started the daemon (pid {child.pid}) at {url}"}
        time.sleep(0.1)  # the poll interval; the deadline above bounds the wait
    return {"started": True, "reason": f"started the daemon (pid {child.pid}); it does not answer at {url} yet"}
