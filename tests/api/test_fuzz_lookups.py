"""The lookup routes fuzzed against a daemon whose metadata sources are the fixture sites on loopback: the fuzz of
every route (test_fuzz.py, test_openapi.py) runs its daemon with the lookups off, where these routes only answer 409,
so what they do with a body past their checks (ask the sources, take a record, queue a bulk lookup) is fuzzed here.

The same hostile path parts, query strings and bodies as test_fuzz.py, with its judgement (no 5xx, no stack trace, a
JSON error, no canary); then schemathesis' requests from docs/openapi.yaml with test_openapi.py's checks (a
documented status and shape), while the sources answer, and again while they refuse every request. Afterwards the
daemon is up, its log holds no crash, and the sources were asked about the seeded contents only: nothing a client
sent reached a URL the daemon built.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from test_fuzz import (
    CRASH_SIGNS,
    MANY_TEXTS,
    NUMBER_TEXTS,
    SPECIAL,
    WRONG_TEXTS,
    Context,
    Fuzzer,
    Operation,
    Request,
    Spec,
    Strategies,
    dump,
    encoded,
    run_examples,
    sweep,
    traversals,
)
from test_openapi import CHECKS, SPEC, has_inputs, strategy_for

from conftest import Daemon, digests, poll, write_model
from web_sources import WebSources, sample_version

LOOKUP_ROUTES = ("/api/models/{sha256}/metadata/fetch", "/api/pending/{id}/metadata/fetch", "/api/metadata/fetch")
HOSTILE_EXAMPLES = 25  # per route and input kind, as test_fuzz.py
CONTRACT_EXAMPLES = 40  # per route, generation mode and state of the sources
# Besides the daemon's crash signs: the queue of lookups logs a content it could not handle (a bug, not an outage).
LOOKUP_CRASH_SIGNS = (*CRASH_SIGNS, "event=lookup.failed")

Start = Callable[..., Awaitable[Daemon]]
OUTAGE = (403, 10**6)  # a refusal the client does not retry (the fuzz's requests stay quick), to every request


# test_openapi.py's checks in an outage: a 502 (the sources gave no answer to go by) is these routes' documented
# answer then, so the check refusing every 5xx is left out (a status the spec does not list, 500 among them, still
# fails, and the 502s' shape is held to the spec).
OUTAGE_CHECKS = [check for check in CHECKS if check.__name__ != "not_a_server_error"]


async def seeded(start: Start, models: Path, sources: WebSources) -> tuple[Daemon, dict[str, Any]]:
    """A daemon on the fixture sources with models the sources know (one on CivArchive alone), one they do not,
    and a hashed file of the queue they know; what the fuzz may aim at (test_openapi's `known`), and the contents
    the sources may be asked about."""
    names = ("known", "archived", "unknown", "queued")
    paths = {name: write_model(models / "loras" / f"{name}.safetensors") for name in names}
    shas = {name: digests(path)[0] for name, path in paths.items()}
    sources.add(sample_version(60, shas["known"]))
    sources.add(sample_version(61, shas["archived"], deleted=True))
    sources.add(sample_version(62, shas["queued"]))
    daemon = await start("--models-root", str(models), "--metadata-source", "civitai", "--metadata-source",
                         "civarchive", "--civitai-api-base", sources.civitai, "--civarchive-api-base",
                         sources.civarchive, "--metadata-rate", "1000", "--metadata-auto", "never")
    await daemon.import_files(paths["known"], paths["archived"], paths["unknown"])
    (queued,) = await daemon.ready_rows(paths["queued"])
    seeded_models = [shas[name] for name in ("known", "archived", "unknown")]
    return daemon, {"sha256": shas["known"], "models": seeded_models, "pending": [queued["id"]], "tag": 1,
                    "shas": set(shas.values())}


def stray_requests(sources: WebSources, shas: set[str]) -> list[str]:
    """The requests the sources got that are not about a seeded content: a client's input in a URL the daemon
    built, or a request the fixture has no route for."""
    model_ids = {str(v.model_id) for v in sources.versions}
    images = {i.name for v in sources.versions for i in v.images}
    stray = []
    for r in sources.requests:
        last = r.path.rsplit("/", 1)[-1]
        expected = {"by-hash": shas, "archive": shas, "model": model_ids, "image": images}.get(r.route or "", set())
        if last not in expected or r.query:
            stray.append(f"{r.site} {r.method} {r.path}?{r.query}")
    return stray


def after_the_fuzz(daemon: Daemon, sources: WebSources, shas: set[str]) -> list[str]:
    failures = []
    if daemon.proc is None or daemon.proc.poll() is not None:
        failures.append(f"the daemon died:\n{daemon.log()[-5000:]}")
    stray = stray_requests(sources, shas)
    if stray:
        failures.append(f"{len(stray)} requests to the sources not about a seeded content:\n" + "\n".join(stray[:20]))
    log = daemon.log()
    for sign in LOOKUP_CRASH_SIGNS:
        lines = [line[:3000] for line in log.splitlines() if sign in line]
        if lines:
            failures.append(f"the daemon log holds {sign!r} {len(lines)} times:\n" + "\n".join(lines[:5]))
    return failures


def filter_sweep(spec: Spec, ctx: Context, fuzzer: Fuzzer) -> None:
    """Every hostile text as the value of every filter of a bulk lookup, and as a filter's name: `filter` is an
    object of `GET /api/models`'s query parameters, which the generic fuzz leaves alone (its schema names no field),
    and a filter the daemon takes selects models for the lookups through the library's search. Half of them forced,
    so that what a filter selected is looked up again."""
    (bulk,) = [op for op in spec.operations() if op.route == "/api/metadata/fetch"]
    (listing,) = [op for op in spec.operations() if op.label == "GET /api/models"]
    values = [*ctx.traversals, *SPECIAL, *MANY_TEXTS, *NUMBER_TEXTS, *WRONG_TEXTS]
    bodies: list[dict[str, Any]] = [{"filter": {name: value}} for name in listing.query_params for value in values]
    bodies += [{"filter": {name: [value, value]}} for name in listing.query_params for value in SPECIAL]
    bodies += [{"filter": {value: "x"}} for value in [*SPECIAL, *ctx.traversals[:10]]]
    for n, body in enumerate(bodies):
        send(fuzzer, bulk, {**body, "force": n % 2 == 0})


def send(fuzzer: Fuzzer, op: Operation, body: dict[str, Any]) -> None:
    fuzzer.send(op, "filter", Request(op.method, op.template, encoded(dump(body)), "application/json"))


@pytest.mark.timeout(300)
async def test_the_lookup_routes_survive_hostile_input(daemon_factory: Start, models: Path, web_sources: WebSources,
                                                       tmp_path: Path) -> None:
    tmp = tmp_path.resolve()
    token = f"canary-{uuid.uuid4().hex}"
    (tmp / "outside").mkdir()
    secret = tmp / "outside" / "secret.txt"
    secret.write_text(f"{token} outside\n")
    near = tmp / "secret.txt"
    near.write_text(f"{token} near\n")
    daemon, known = await seeded(daemon_factory, models, web_sources)

    spec = Spec()
    ops = [op for op in spec.operations() if op.route in LOOKUP_ROUTES]
    assert sorted(op.route for op in ops) == sorted(LOOKUP_ROUTES)
    ctx = Context(known["sha256"], 0, known["tag"], known["pending"], traversals(tmp, secret, near), [])
    strategies = Strategies(spec, ctx)
    fuzzer = Fuzzer(daemon.port, [token])
    started = time.monotonic()

    def fuzz() -> None:
        for op in ops:
            sweep(op, ctx, spec, fuzzer, first_on_route=True)
            for kind in op.kinds():
                run_examples(strategies.request(op, kind), lambda req, op=op, kind=kind: fuzzer.send(op, kind, req),
                             HOSTILE_EXAMPLES)
        filter_sweep(spec, ctx, fuzzer)

    await asyncio.to_thread(fuzz)  # the fuzz's blocking client, off the loop the fixture sources answer on
    print(f"{fuzzer.requests} hostile requests over {len(ops)} lookup routes in {time.monotonic() - started:.1f}s; "
          f"{len(fuzzer.successes)} accepted; the sources were asked {len(web_sources.requests)} times")

    failures = []
    if fuzzer.problems:
        failures.append(f"{len(fuzzer.problems)} bad answers:\n" + "\n".join(fuzzer.problems[:60]))
    missed = [f"{op.label} / {kind}" for op in ops for kind in op.kinds() if not fuzzer.hits[(op.label, kind)]]
    if missed:
        failures.append(f"never fuzzed: {missed}")
    if not fuzzer.hits[("POST /api/metadata/fetch", "filter")] or not any(
            path == "/api/metadata/fetch" for _, path, _ in fuzzer.successes):
        failures.append("no bulk lookup by a filter was accepted")
    await poll(lookups_idle(daemon), "the lookups the filters queued to finish")
    if not web_sources.hits("by-hash"):
        failures.append("the models the filters selected were not looked up")
    failures += after_the_fuzz(daemon, web_sources, known["shas"])
    assert not failures, "\n\n".join(failures)
    answer = await daemon.call("POST", f"/api/models/{known['sha256']}/metadata/fetch")
    assert answer["state"] == "found" and answer["source"] == "civitai", answer


def lookups_idle(daemon: Daemon) -> Callable[[], Awaitable[bool]]:
    async def idle() -> bool:
        lookups = (await daemon.get("/api/status"))["lookups"]
        return not lookups["running"] and lookups["queued"] == 0

    return idle


def contract_failures(base_url: str, known: dict[str, Any], checks: list[Any]) -> list[str]:
    """Each lookup route in both generation modes, its answers held to the spec by `checks`."""
    schema = schemathesis.openapi.from_path(SPEC)
    operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path in LOOKUP_ROUTES]
    assert sorted(op.path for op in operations) == sorted(LOOKUP_ROUTES)
    failures = []
    for operation in operations:
        for mode in [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_inputs(operation) else []):
            failure = contract_failure(operation, mode, base_url, known, checks)
            if failure is not None:
                failures.append(failure)
    return failures


def contract_failure(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str,
                     known: dict[str, Any], checks: list[Any]) -> str | None:
    @hypothesis.settings(
        max_examples=CONTRACT_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    # Aimed at each seeded model in turn, so that every answer of the sources' is held to the spec: found on
    # Civitai, found on CivArchive, not found, and not found from memory.
    @hypothesis.given(case=st.one_of([strategy_for(operation, mode, {**known, "sha256": sha})
                                      for sha in known["models"]]))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(response, checks=checks)

    try:
        run()
    except (Exception, schemathesis.errors.FailureGroup) as e:
        return f"{operation.label} ({mode.value}):\n{e}"
    return None


@pytest.mark.timeout(300)
async def test_the_lookup_routes_keep_their_documented_contract(daemon_factory: Start, models: Path,
                                                                web_sources: WebSources) -> None:
    daemon, known = await seeded(daemon_factory, models, web_sources)
    failures = await asyncio.to_thread(contract_failures, daemon.url, known, CHECKS)
    if not web_sources.hits("by-hash"):
        failures.append("no fuzzed request got as far as asking a source")
    failures += after_the_fuzz(daemon, web_sources, known["shas"])
    assert not failures, f"{len(failures)} problem(s) on the lookup routes:\n\n" + "\n\n".join(failures)


@pytest.mark.timeout(300)
async def test_the_lookup_routes_keep_their_documented_contract_in_an_outage(
        daemon_factory: Start, models: Path, web_sources: WebSources) -> None:
    daemon, known = await seeded(daemon_factory, models, web_sources)
    web_sources.fail("by-hash", *OUTAGE)
    web_sources.fail("archive", *OUTAGE)
    status, answer = await daemon.request("POST", f"/api/models/{known['sha256']}/metadata/fetch")
    assert status == 502, (status, answer)  # the outage the fuzz meets
    failures = await asyncio.to_thread(contract_failures, daemon.url, known, OUTAGE_CHECKS)
    failures += after_the_fuzz(daemon, web_sources, known["shas"])
    assert not failures, f"{len(failures)} problem(s) on the lookup routes:\n\n" + "\n\n".join(failures)


async def test_an_outage_answer_has_the_documented_shape(daemon_factory: Start, models: Path,
                                                         web_sources: WebSources) -> None:
    daemon, known = await seeded(daemon_factory, models, web_sources)
    web_sources.fail("by-hash", *OUTAGE)
    web_sources.fail("archive", *OUTAGE)
    schema = schemathesis.openapi.from_path(SPEC)

    def answered(path: str, parameters: dict[str, Any]) -> tuple[int, list[str]]:
        case = schema[path]["POST"].Case(path_parameters=parameters, body={})
        response = case.call(base_url=daemon.url, timeout=30)
        problems = []
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except (Exception, schemathesis.errors.FailureGroup) as e:
            problems.append(f"{path}: {e}")
        return response.status_code, problems

    model = await asyncio.to_thread(answered, LOOKUP_ROUTES[0], {"sha256": known["sha256"]})
    pending = await asyncio.to_thread(answered, LOOKUP_ROUTES[1], {"id": known["pending"][0]})
    assert (model[0], pending[0]) == (502, 502)
    assert not model[1] + pending[1], "\n\n".join(model[1] + pending[1])
