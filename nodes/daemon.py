"""A small client for the daemon's API: where a model's file is now, its trigger words (by sha256 or by the file's
path), whether the daemon runs.

The nodes work without the daemon, so every question has a one-second timeout and a failed answer is just None.
"""

from __future__ import annotations

import json
import os
from http.client import HTTPException
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import ProxyHandler, Request, build_opener

DEFAULT_URL = "http://127.0.0.1:8789"
TIMEOUT_S = 1.0
# A request the user waits for (a workflow check of a large image) may take longer than a node's lookup.
RELAY_TIMEOUT_S = 60.0
# The daemon is local: a proxy from the environment would only send these requests somewhere else.
_opener = build_opener(ProxyHandler({}))


def daemon_url() -> str:
    return (os.environ.get("HIKAZE_MM_URL") or DEFAULT_URL).strip().rstrip("/")


class DaemonClient:
    """One node run's view of the daemon. After a failed connection it stops asking, so a daemon that is down costs
    one timeout per run, not one per LoRA."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or daemon_url()
        self.problem: str | None = None  # why the daemon gave no answers, once it did not

    def _call(self, path: str, body: Any = None, unknown: tuple[int, ...] = (404,)) -> Any:
        """The JSON answer, or None when the daemon does not know the thing (an `unknown` status) or does not
        answer. With a body, a POST of it as JSON (no Origin: the daemon treats a request without one as a plain
        client's)."""
        if self.problem is not None:
            return None
        headers = _headers()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            with _opener.open(Request(self.url + path, data=data, headers=headers), timeout=TIMEOUT_S) as resp:
                return json.load(resp)
        except HTTPError as e:
            if e.code not in unknown:
                said = _said(e)
                self.problem = f"the daemon at {self.url} answered HTTP {e.code}" + (f": {said}" if said else "")
        except (URLError, HTTPException, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            self.problem = f"the daemon at {self.url} did not answer ({reason})"
        return None

    def relay(self, path: str, body: bytes | bytearray, content_type: str) -> tuple[int, Any]:
        """A POST for the front end passed on as it came (its body and type): the daemon's status and JSON answer,
        its error answers too, or 502 with the reason when there is no answer to pass on."""
        headers = {**_headers(), "Content-Type": content_type}
        request = Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with _opener.open(request, timeout=RELAY_TIMEOUT_S) as resp:
                return resp.status, json.load(resp)
        except HTTPError as e:
            return e.code, {"error": _said(e) or f"the daemon at {self.url} answered HTTP {e.code}"}
        except ValueError:
            return 502, {"error": f"the daemon at {self.url} answered with something that is not JSON"}
        except (URLError, HTTPException, OSError) as e:
            return 502, {"error": f"the daemon at {self.url} did not answer ({getattr(e, 'reason', e)})"}

    def post_usage(self, uses: list[dict[str, Any]]) -> tuple[int, str]:
        """POST /api/usage: (the HTTP status, what the daemon said about it), or (0, why) when it did not answer.
        Unlike the questions above it never gives up for good: the usage reporter asks again until one answers. A
        batch of 1,000 uses is a few hundred KiB for the daemon to check and count, hence a millisecond per use
        on top of the usual timeout."""
        headers = {**_headers(), "Content-Type": "application/json"}
        request = Request(self.url + "/api/usage", data=json.dumps({"uses": uses}).encode(), headers=headers)
        try:
            with _opener.open(request, timeout=TIMEOUT_S + len(uses) / 1000) as resp:
                resp.read()
                return resp.status, ""
        except HTTPError as e:
            return e.code, _said(e)
        except (URLError, HTTPException, OSError, ValueError) as e:
            return 0, f"the daemon at {self.url} did not answer ({getattr(e, 'reason', e)})"

    def path_for(self, sha256: str) -> str | None:
        """Where the daemon last saw the model's file; None when it does not know the model or does not answer."""
        answer = self._call(f"/api/models/{quote(sha256)}/path")
        path = answer.get("path") if isinstance(answer, dict) else None
        return path if isinstance(path, str) and path else None

    def trigger_words(self, sha256: str) -> list[str]:
        return _trigger_words(self._call(f"/api/models/{quote(sha256)}"))

    def trigger_words_at(self, path: str) -> list[str]:
        """The words of the model whose file is at `path` on this host; [] when the daemon knows no such file."""
        # surrogateescape: a name that is not UTF-8 travels as its own bytes, as the daemon stores it.
        query = "/api/models/by-path?path=" + quote(path, safe="", errors="surrogateescape")
        # A daemon older than the route reads "by-path" as a malformed sha256 (400): it knows no such file, and the
        # other LoRAs' words are still asked for.
        return _trigger_words(self._call(query, unknown=(400, 404)))

    def announce(self, origin: str, folders: dict[str, list[str]]) -> Any:
        """Tell the daemon where this ComfyUI listens and what it loads from; its answer, or None."""
        return self._call("/api/comfyui/announce", {"origin": origin, "folders": folders})

    def status(self) -> dict[str, Any]:
        """What the front end shows: {"url", "reachable", "version"}."""
        answer = self._call("/api/health")
        reachable = isinstance(answer, dict) and answer.get("status") == "ok"
        version = answer.get("version") if reachable else None
        return {"url": self.url, "reachable": reachable, "version": version if isinstance(version, str) else None}


def _trigger_words(model: Any) -> list[str]:
    meta = model.get("meta_json") if isinstance(model, dict) else None
    words = meta.get("trigger_words") if isinstance(meta, dict) else None
    return [w.strip() for w in words if isinstance(w, str) and w.strip()] if isinstance(words, list) else []


def _headers() -> dict[str, str]:
    headers = {"Accept": "application/json"}
    token = os.environ.get("HIKAZE_MM_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _said(error: HTTPError) -> str:
    """What the daemon's error answer says (`{"error": ...}`), e.g. that its database is unreachable (503)."""
    try:
        said = json.loads(error.read(4096) or b"{}").get("error")
    except (OSError, HTTPException, ValueError, AttributeError):
        return ""
    return said if isinstance(said, str) else ""
