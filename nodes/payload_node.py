"""What both loaders do with their payload before anything is loaded: check its shape for ComfyUI's validation,
and tell ComfyUI when to run again."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from .payload import PayloadError
from .resolve import Wanted, fingerprint


class PayloadNode(ABC):
    CATEGORY = "Hikaze"

    @staticmethod
    @abstractmethod
    def parse(payload: str) -> Any:
        """The loader's payload read, or PayloadError saying what is wrong with it."""

    @staticmethod
    @abstractmethod
    def files(parsed: Any) -> list[Wanted]:
        """The files a read payload asks for."""

    @classmethod
    def VALIDATE_INPUTS(cls, hikaze_payload: str | None = None) -> bool | str:
        # Naming only hikaze_payload (no **kwargs) keeps ComfyUI's own checks of every other input.
        # None: the payload comes through a link, whose value is known only when the node runs.
        if hikaze_payload is not None:
            try:
                cls.parse(hikaze_payload)
            except PayloadError as e:
                return str(e)
        return True

    @classmethod
    def IS_CHANGED(cls, hikaze_payload: str | None = None, **_other_inputs: Any) -> str:
        # ComfyUI passes every input here, a linked one (model, clip) as None since it has not run yet. Those
        # objects cannot say whether the node changed: a change upstream runs the node again anyway.
        if hikaze_payload is None:
            return ""  # linked: a change upstream runs the node again anyway
        try:
            parsed = cls.parse(hikaze_payload)
        except PayloadError:
            return hikaze_payload
        return fingerprint(hikaze_payload, cls.files(parsed))
