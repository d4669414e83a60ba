"""Telling the daemon where this ComfyUI listens and which folders it loads models from.

Only the pack knows both for certain: ComfyUI's arguments say where it listens, and `folder_paths` holds every
folder it loads from, those of --extra-model-paths-config and of other custom nodes too. The daemon compares the
folders with the ones it watches and trusts the origins to frame its page.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .daemon import DaemonClient

log = logging.getLogger("hikaze.nodes")
# A listen address on every interface is reached from this machine through these.
ANY_V4, ANY_V6 = "0.0.0.0", "::"
LOOPBACK_V4, LOOPBACK_V6 = ("127.0.0.1", "localhost"), ("[::1]",)


def comfy_origins() -> list[str]:
    """The origins a browser on this machine opens this ComfyUI at: its --listen addresses, --port and TLS."""
    from comfy.cli_args import args  # ComfyUI's own module: only there when ComfyUI runs us

    scheme = "https" if getattr(args, "tls_keyfile", None) and getattr(args, "tls_certfile", None) else "http"
    origins: list[str] = []
    for address in str(getattr(args, "listen", "") or "127.0.0.1").split(","):
        address = address.strip()
        if address in ("", ANY_V4):
            hosts: tuple[str, ...] = LOOPBACK_V4
        elif address == ANY_V6:
            hosts = LOOPBACK_V4 + LOOPBACK_V6  # a dual-stack socket takes IPv4 as well
        else:
            hosts = (f"[{address}]" if ":" in address else address,)
        origins.extend(f"{scheme}://{host}:{args.port}" for host in hosts)
    return list(dict.fromkeys(origins))


def comfy_folders() -> dict[str, list[str]]:
    """Every folder name ComfyUI knows and the folders it loads that kind of model from, in ComfyUI's order."""
    import folder_paths

    return {name: [str(p) for p in entry[0]] for name, entry in folder_paths.folder_names_and_paths.items()}


def announce(client: DaemonClient | None = None) -> dict[str, Any]:
    """{"announced": [origins], "reason": str}; never raises, since ComfyUI runs the same with no daemon."""
    client = client or DaemonClient()
    try:
        origins, folders = comfy_origins(), comfy_folders()
    except Exception as e:  # ComfyUI changed its modules: the nodes still work, only the daemon is not told
        log.warning("Hikaze: cannot tell the daemon about this ComfyUI: %s", e)
        return {"announced": [], "reason": str(e)}
    announced: list[str] = []
    for origin in origins:
        answer = client.announce(origin, folders)
        if answer is None:
            reason = client.problem or f"the daemon at {client.url} has no /api/comfyui/announce (an older version)"
            log.info("Hikaze: the daemon was not told about %s: %s", origin, reason)
            return {"announced": announced, "reason": reason}
        announced.append(origin)
        missing = answer.get("missing") if isinstance(answer, dict) else None
        if missing and origin == origins[0]:
            log.warning("Hikaze: the daemon at %s does not watch these folders ComfyUI loads models from: %s",
                        client.url, "; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items()))
    return {"announced": announced, "reason": ""}


def announce_in_background() -> threading.Thread:
    thread = threading.Thread(target=announce, name="hikaze-announce", daemon=True)
    thread.start()
    return thread
