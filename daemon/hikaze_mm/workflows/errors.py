"""What the workflow check refuses, as the API answers it."""

from __future__ import annotations


class WorkflowError(ValueError):
    """The request holds no workflow the check can read; the message says what is wrong and what to send."""
