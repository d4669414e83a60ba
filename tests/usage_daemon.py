"""A stand-in of the daemon's `POST /api/usage` (issue 17, contract 1) for the node pack's usage tests, on loopback.

It follows the contract: a body `{"uses": [...]}` of 1..1000 uses, each `{"id", "at", "kind", "path", "sha256",
"node"}`, a 400 naming the use's index and field for anything malformed (counting nothing), each id counted once
ever, a model found by its sha256 when given, else by its path (exact, then realpath), and the answer
`{"counted", "repeated", "unknown"}`. It records every request, and can be told to fail the ways a real one does:
answer 503, close the connection unread, or count a batch and then lose the answer.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")
FIELDS = {"id": str, "at": (int, float), "kind": str, "path": str, "sha256": (str, type(None)), "node": str}
MODES = ("ok", "unavailable", "close", "lose_answer", "refuse")


class Refused(ValueError):
    pass


@dataclass
class UsageDaemon:
    models: dict[str, list[str]]  # sha256 -> the paths of its files on this host
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)  # {"body", "authorization", "mode"}
    use_count: dict[str, int] = field(default_factory=dict)
    last_used_at: dict[str, float] = field(default_factory=dict)
    counted_ids: set[str] = field(default_factory=set)
    answers: list[dict[str, int]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/usage", self.usage)
        return app

    def uses_received(self) -> list[dict[str, Any]]:
        return [use for r in self.requests if isinstance(r["body"], dict) for use in r["body"].get("uses", [])]

    async def usage(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        if mode == "close":
            self.requests.append({"body": None, "authorization": request.headers.get("Authorization"), "mode": mode})
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("Authorization"), "mode": mode})
        if mode == "unavailable":
            return web.json_response({"error": "the database cannot be reached; try again"}, status=503)
        if mode == "refuse":
            return web.json_response({"error": "uses[0].kind: refused by the test"}, status=400)
        try:
            uses = _checked(body)
        except Refused as e:
            return web.json_response({"error": str(e)}, status=400)
        answer = self._count(uses)
        self.answers.append(answer)
        if mode == "lose_answer":
            assert request.transport is not None
            request.transport.close()
        return web.json_response(answer)

    def _count(self, uses: list[dict[str, Any]]) -> dict[str, int]:
        counted = repeated = unknown = 0
        now = time.time()
        for use in uses:
            if use["id"] in self.counted_ids:
                repeated += 1
                continue
            self.counted_ids.add(use["id"])
            sha256 = self._model_of(use)
            if sha256 is None:
                unknown += 1
                continue
            counted += 1
            self.use_count[sha256] = self.use_count.get(sha256, 0) + 1
            self.last_used_at[sha256] = max(self.last_used_at.get(sha256, 0.0), min(float(use["at"]), now))
        return {"counted": counted, "repeated": repeated, "unknown": unknown}

    def _model_of(self, use: dict[str, Any]) -> str | None:
        if use["sha256"] is not None:
            return use["sha256"] if use["sha256"] in self.models else None
        path = use["path"]
        for candidate in (path, os.path.realpath(path) if path else ""):
            for sha256, paths in self.models.items():
                if candidate and candidate in paths:
                    return sha256
        return None


def _checked(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or set(body) != {"uses"}:
        raise Refused('the body must be {"uses": [...]}')
    uses = body["uses"]
    if not isinstance(uses, list) or not 1 <= len(uses) <= 1000:
        raise Refused("uses must be a list of 1 to 1000 uses")
    for i, use in enumerate(uses):
        if not isinstance(use, dict):
            raise Refused(f"uses[{i}] must be an object")
        if set(use) != set(FIELDS):
            raise Refused(f"uses[{i}]: fields {sorted(set(use) ^ set(FIELDS))} are unknown or missing")
        for name, types in FIELDS.items():
            value = use[name]
            if not isinstance(value, types) or isinstance(value, bool):
                raise Refused(f"uses[{i}].{name} has the wrong type")
        if not ID.fullmatch(use["id"]):
            raise Refused(f"uses[{i}].id must be 8 to 64 of A-Z a-z 0-9 _ -")
        if not math.isfinite(use["at"]):
            raise Refused(f"uses[{i}].at must be a finite number")
        if use["sha256"] is not None and not SHA256.fullmatch(use["sha256"]):
            raise Refused(f"uses[{i}].sha256 must be 64 hex digits")
        if use["path"] and not os.path.isabs(use["path"]):
            raise Refused(f"uses[{i}].path must be absolute")
        if not use["kind"]:
            raise Refused(f"uses[{i}].kind must not be empty")
    return uses
