"""The ComfyUIs whose Hikaze node pack has made itself known: where each one listens and which folders it loads
models from. The pack runs inside ComfyUI, so it knows both for certain, whatever port or extra paths ComfyUI runs
with; the daemon trusts such an origin to frame the page and receive the picker's answer."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from hikaze_mm.config.origins import BadOrigin, host_of, is_loopback, normalise_origin
from hikaze_mm.config.roots import NOT_MODEL_FOLDERS, Root, RootSet, model_type
from hikaze_mm.pipeline.mounts import pseudo_devices

MAX_PEERS = 16  # a pack announces itself once a start; more than this is someone filling the table
MAX_TYPES = 200
MAX_FOLDERS = 200


class PeerError(ValueError):
    """An announcement that names no usable origin or folders; the message says which field to fix."""


@dataclass(frozen=True)
class Peer:
    origin: str  # scheme://host[:port], lower-case, no path
    folders: dict[str, tuple[str, ...]]  # ComfyUI's folder name (checkpoints, loras, ...) -> absolute folders
    # The folders ComfyUI loads models from that the daemon does not watch as that type, by folder name.
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seen_at: float = field(default_factory=time.time)

    def to_wire(self) -> dict[str, object]:
        return {"origin": self.origin, "folders": {k: list(v) for k, v in self.folders.items()},
                "missing": {k: list(v) for k, v in self.missing.items()}, "seen_at": self.seen_at}


def _folders(raw: object) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_TYPES:
        raise PeerError(f"`folders` must be an object of at most {MAX_TYPES} folder names, each a list of paths")
    folders: dict[str, tuple[str, ...]] = {}
    for name, paths in raw.items():
        if not isinstance(paths, list) or len(paths) > MAX_FOLDERS or not all(
                isinstance(p, str) and os.path.isabs(p) and "\0" not in p for p in paths):
            raise PeerError(f"`folders.{str(name)[:40]}` must be a list of at most {MAX_FOLDERS} absolute paths")
        folders[str(name)] = tuple(dict.fromkeys(paths))
    return folders


def refused_folder(path: str) -> str | None:
    """Why a folder cannot be a ComfyUI's model folder, or None: the filesystem's root, or a folder of a pseudo
    filesystem (/proc, /sys...). A workflow check looks for model files by name below the announced folders; such a
    folder would make it a probe of the whole machine. Reads the filesystem: run it in a thread."""
    folder = os.path.normpath(path)
    if os.path.dirname(folder) == folder:
        return "the filesystem's root"
    try:
        device = os.stat(folder).st_dev
    except OSError:
        return None  # a folder that does not exist yet holds nothing to find
    kind = pseudo_devices().get(device)
    return None if kind is None else f"a {kind} filesystem, which holds no model files"


def _refuse(folders: dict[str, tuple[str, ...]]) -> None:
    for name, paths in folders.items():
        for path in paths:
            why = refused_folder(path)
            if why is not None:
                raise PeerError(f"`folders.{name[:40]}` names {path[:200]!r}, {why}; name the model folders "
                                "themselves")


_PROBE = "probe.safetensors"  # a model file's name: a folder is watched as a type if a file in it gets that type


def _watched_as(roots: RootSet, folder: str, folder_type: str) -> bool:
    return roots.type_of(os.path.join(folder, _PROBE)) == model_type(folder_type)


def missing_folders(roots: RootSet, folders: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Per folder name, the existing folders whose model files the daemon would not file as that type: outside
    every root, under another type's folder, or below a skipped folder. A folder reached through a symbolic link
    counts as watched when its real path is. Reads the filesystem: run it in a thread."""
    resolved: RootSet | None = None
    missing: dict[str, tuple[str, ...]] = {}
    for name, paths in folders.items():
        if model_type(name) in NOT_MODEL_FOLDERS:
            continue
        unwatched = []
        for path in paths:
            folder = os.path.normpath(path)
            if _watched_as(roots, folder, name) or not os.path.isdir(folder):
                continue  # a folder that does not exist holds nothing ComfyUI could load
            if resolved is None:
                resolved = RootSet([Root(os.path.realpath(r.path), r.type, r.source) for r in roots])
            if not _watched_as(resolved, os.path.realpath(folder), name):
                unwatched.append(path)
        if unwatched:
            missing[name] = tuple(unwatched)
    return missing


class ComfyPeers:
    def __init__(self, roots: RootSet | None = None, hosts: frozenset[str] = frozenset()) -> None:
        """`hosts`: the names besides the loopback ones that this machine answers to (`allowed_hosts`)."""
        self._peers: dict[str, Peer] = {}
        self._roots = roots if roots is not None else RootSet([])
        self._hosts = frozenset(h.lower() for h in hosts)

    async def announce(self, origin: object, folders: object) -> Peer:
        try:
            checked_origin = normalise_origin(origin)
        except BadOrigin as e:
            raise PeerError(str(e)) from None
        host = host_of(checked_origin)
        # A node pack announces the ComfyUI it runs in, on this machine; trusting any other site named here would
        # let a local program hand a website the picker's answers.
        if not is_loopback(host) and host not in self._hosts:
            raise PeerError(f"`origin` {checked_origin} is not on this machine: a ComfyUI reached by another name "
                            "than a loopback one needs that name in the daemon's `allowed_hosts`")
        checked_folders = _folders(folders)
        await asyncio.to_thread(_refuse, checked_folders)
        missing = await asyncio.to_thread(missing_folders, self._roots, checked_folders)
        peer = Peer(checked_origin, checked_folders, missing)
        self._peers.pop(peer.origin, None)
        while len(self._peers) >= MAX_PEERS:
            del self._peers[next(iter(self._peers))]  # the longest unheard-from goes
        self._peers[peer.origin] = peer
        return peer

    def origins(self) -> frozenset[str]:
        return frozenset(self._peers)

    def peers(self) -> list[Peer]:
        return list(self._peers.values())
