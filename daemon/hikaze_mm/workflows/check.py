"""The workflow check as the API runs it: the body read into a workflow, its references found, the contents they
name looked up in one query, each judged against the folders asked about, and the answer counted."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hikaze_mm.store.interfaces import ContentStore, FileIndexStore
from hikaze_mm.store.records import HeldContent
from hikaze_mm.workflows import documents
from hikaze_mm.workflows.classify import Answer, Here, classify, matching
from hikaze_mm.workflows.folders import KindFolders
from hikaze_mm.workflows.references import Reference


class WorkflowCheck:
    def __init__(self, files: FileIndexStore, contents: ContentStore):
        self._files = files
        self._contents = contents

    async def check(self, body: bytes, content_type: str, folders: KindFolders) -> dict[str, Any]:
        """The answer of POST /api/workflows/check; raises WorkflowError for a body that holds no workflow."""
        docs, refs = await asyncio.to_thread(_read, body, content_type)
        shas = sorted({r.sha256 for r in refs if r.sha256})
        prefixes = sorted({r.autov2 for r in refs if r.autov2 and not r.sha256})
        held = {h.sha256: h for h in await self._contents.held(shas, prefixes)}
        here = Here(folders, await self._files.file_index())
        answers = await asyncio.to_thread(lambda: [classify(r, here, matching(r, held)) for r in refs])
        answers = await self._named(answers)
        counts = {"found": 0, "elsewhere": 0, "missing": 0}
        for answer in answers:
            counts[answer.status] += 1
        return {"source": docs.source, "references": [a.to_wire() for a in answers], "counts": counts}

    async def _named(self, answers: list[Answer]) -> list[Answer]:
        """The models' names for the files found by their path (one more query for all of them)."""
        unnamed = sorted({a.model_sha256 for a in answers if a.model_sha256 and a.model_name is None})
        if not unnamed:
            return answers
        names: dict[str, HeldContent] = {h.sha256: h for h in await self._contents.held(unnamed, [])}
        return [dataclasses.replace(a, model_name=names[a.model_sha256].model_name)
                if a.model_sha256 in names and a.model_name is None else a for a in answers]


def _read(body: bytes, content_type: str) -> tuple[documents.Documents, list[Reference]]:
    docs = documents.read(body, content_type)
    return docs, docs.references()
