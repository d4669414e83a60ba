"""What counting a batch of uses means on every backend: which uses are new (each id once, the first of a batch),
what each model gains, and the report. The backends hold the SQL; this, once, so they cannot count differently."""

from __future__ import annotations

from hikaze_mm.store.records import Use, UsesCounted


def first_of_each(uses: list[Use]) -> dict[str, Use]:
    """The uses by id, the first of each: an id sent twice in one batch is one use."""
    first: dict[str, Use] = {}
    for use in uses:
        first.setdefault(use.id, use)
    return first


def by_model(first: dict[str, Use], new: set[str]) -> dict[str, tuple[int, float]]:
    """What each model gains of the uses whose ids are new: (uses, the latest of them)."""
    gained: dict[str, tuple[int, float]] = {}
    for use_id in new:
        use = first[use_id]
        if use.sha256 is not None:
            n, at = gained.get(use.sha256, (0, 0.0))
            gained[use.sha256] = (n + 1, max(at, use.at))
    return gained


def report(uses: list[Use], new: set[str], gained: dict[str, tuple[int, float]],
           models: list[tuple[str, int, float]]) -> UsesCounted:
    """The outcome, from the models that were there to count (`models`: sha256, count, last use afterwards)."""
    counted = sum(gained[sha][0] for sha, _, _ in models)
    return UsesCounted(counted, len(uses) - len(new), len(new) - counted, sorted(models))
