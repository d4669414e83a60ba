"""Who may talk to the daemon: loopback names, configured hosts and origins, the bearer token."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from PIL import Image
from playwright.async_api import Page, expect

from browser import answer_picker, open_picker, received, shot
from conftest import Daemon, poll, run_cli, write_model
from hikaze_mm.api.handlers.images import upload_image
from hikaze_mm.api.routes import create_app
from hikaze_mm.api.sessions import MAX_FAILURES_ALL, Sessions, client_network
from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings


def test_reachable_address_without_a_token_refuses_to_start(tmp_path: Path, models: Path):
    result = run_cli("serve", "--host", "0.0.0.0", "--models-root", str(models), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2 and "auth_token" in result.stderr
    assert not (tmp_path / "d" / "library.sqlite3").exists()


def test_bad_allowed_origin_is_a_config_error(tmp_path: Path, models: Path):
    result = run_cli("serve", "--allowed-origin", "127.0.0.1:8188", "--models-root", str(models),
                     "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2 and "allowed_origins" in result.stderr


async def test_token_is_required_when_set(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    assert (await d.request("GET", "/api/health"))[0] == 200  # health stays open for supervisors
    code, body = await d.request("GET", "/api/status")
    assert code == 401 and "Bearer" in body["error"]
    code, _ = await d.request("GET", "/api/status", headers={"Authorization": "Bearer wrong"})
    assert code == 401
    code, _ = await d.request("GET", "/api/status", headers={"Authorization": "Bearer s3cret"})
    assert code == 200


async def test_the_page_trades_the_token_for_a_session_cookie(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    assert d.session is not None
    async with d.session.get(d.url + "/") as resp:  # the page itself holds no data
        assert resp.status == 200
    code, body = await d.request("POST", "/api/session", json={"token": "wrong"})
    assert code == 401 and "auth_token" in body["error"]
    for bad in ({"token": "s3cret", "extra": 1}, {"token": 5}):
        code, _ = await d.request("POST", "/api/session", json=bad)
        assert code in (400, 401), bad
    cookie, started = await session_cookie(d)
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    # The cookie is a random id, not the token, and the database keeps only its hash.
    assert "s3cret" not in cookie.value and len(cookie.value) >= 40
    again, _ = await session_cookie(d)
    assert again.value != cookie.value
    rows = await sessions(d)
    assert len(rows) == 2 and hashlib.sha256(cookie.value.encode()).hexdigest() in {r[0] for r in rows}
    assert not any(cookie.value in str(r) or "s3cret" in str(r) for r in rows)
    for _, created, expires in rows:
        assert started - 1 <= created <= time.time() and expires - created == 30 * 24 * 3600
    # The cookie stands in for the header (aiohttp's jar keeps no cookies of an IP address, so it is sent by hand).
    assert await with_cookie(d, cookie.value) == 200
    assert await with_cookie(d, "s3cret") == 401  # the token itself is no session id
    assert await with_cookie(d, "wrong") == 401


async def session_cookie(d: Daemon, token: str = "s3cret") -> tuple[Any, float]:
    assert d.session is not None
    started = time.time()
    async with d.session.post(d.url + "/api/session", json={"token": token}) as resp:
        assert resp.status == 200 and await resp.json() == {"auth": True}
        return resp.cookies["hikaze_mm_session"], started


async def with_cookie(d: Daemon, value: str) -> int:
    return (await d.request("GET", "/api/status", headers={"Cookie": f"hikaze_mm_session={value}"}))[0]


async def sessions(d: Daemon) -> list[tuple[Any, ...]]:
    return await d.db.rows("SELECT id_sha256, created_at, expires_at FROM sessions")


async def test_a_session_expires(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    old, _ = await session_cookie(d)
    fresh, _ = await session_cookie(d)
    # Thirty days pass for the first session: its expiry is moved into the past, in the daemon's own database.
    await d.db.rows("UPDATE sessions SET expires_at = ? WHERE id_sha256 = ?",
                    time.time() - 1, hashlib.sha256(old.value.encode()).hexdigest())
    assert await with_cookie(d, old.value) == 401
    assert await with_cookie(d, fresh.value) == 200


async def test_a_new_token_ends_every_session(daemon_factory, models: Path, tmp_path: Path):
    data = tmp_path / "data"
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret", data_dir=data)
    cookie, _ = await session_cookie(d)
    assert await with_cookie(d, cookie.value) == 200
    await d.close()
    # The same token after a restart: the session lives on (it is in the database, not in memory).
    d = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret", data_dir=data)
    assert await with_cookie(d, cookie.value) == 200
    await d.close()
    d = await daemon_factory("--models-root", str(models), "--auth-token", "n3w-token", data_dir=data)
    assert await with_cookie(d, cookie.value) == 401
    assert await sessions(d) == []
    await d.close()
    # Going back to the old token does not bring the session back.
    d = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret", data_dir=data)
    assert await with_cookie(d, cookie.value) == 401


async def test_wrong_tokens_are_rate_limited(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    for i in range(5):
        code, body = await d.request("POST", "/api/session", json={"token": f"guess-{i}"})
        assert code == 401, (i, body)
    assert d.session is not None
    for token in ("guess-5", "s3cret"):  # once limited, even the right token waits: guessing gains nothing
        async with d.session.post(d.url + "/api/session", json={"token": token}) as resp:
            body = await resp.json()
            assert resp.status == 429 and "try again" in body["error"], body
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
            assert "Set-Cookie" not in resp.headers
    assert await sessions(d) == []
    # The limit is on trading tokens, not on using one.
    assert (await d.request("GET", "/api/status", headers={"Authorization": "Bearer s3cret"}))[0] == 200


async def test_other_loopback_addresses_share_the_limit(daemon_factory, models: Path):
    """Every address in 127.0.0.0/8 reaches the daemon: each must not get five guesses of its own."""
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    for i in range(5):
        assert (await d.request("POST", "/api/session", json={"token": f"guess-{i}"}))[0] == 401
    for source in ("127.0.0.2", "127.0.0.3"):
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        async with aiohttp.ClientSession(connector=connector) as other, \
                other.post(d.url + "/api/session", json={"token": "guess"}) as resp:
            assert resp.status == 429, (source, await resp.text())


def test_guesses_from_many_networks_together_are_limited_too():
    limiter = Sessions(None, "s3cret")  # type: ignore[arg-type]  # the limiter never touches the store
    for i in range(MAX_FAILURES_ALL):
        client = f"198.51.{i}.7"  # a network of its own each time: 4 guesses apiece would never trip its own limit
        assert limiter.retry_after(client) is None, i
        limiter.failed(client)
    assert limiter.retry_after("203.0.113.9") is not None
    assert client_network("2001:db8::1") == client_network("2001:db8::ffff") != client_network("2001:db8:0:1::1")
    assert client_network("::ffff:127.0.0.5") == client_network("::1") == client_network("127.9.9.9") == "loopback"


async def test_without_a_token_the_session_route_says_so(daemon: Daemon):
    assert await daemon.call("POST", "/api/session", {"token": "anything"}) == {"auth": False}


async def test_configured_origin_and_host_are_let_in(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--allowed-origin", "http://127.0.0.1:8188",
                                     "--allowed-host", "workstation.lan")
    await d.wait_idle()
    code, _ = await d.request("POST", "/api/scan", headers={"Origin": "http://127.0.0.1:8188"})
    assert code == 202
    await d.wait_idle()
    code, body = await d.request("POST", "/api/scan", headers={"Origin": "http://127.0.0.1:9999"})
    assert code == 403 and "allowed_origins" in body["error"]
    code, _ = await d.request("GET", "/api/health", headers={"Host": f"workstation.lan:{d.port}"})
    assert code == 200
    code, body = await d.request("GET", "/api/health", headers={"Host": f"evil.example:{d.port}"})
    assert code == 403 and "allowed_hosts" in body["error"]


# -- cross-site writes ------------------------------------------------------------------------------------------
TOKEN = "s3cret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SAFE = ("GET", "HEAD", "OPTIONS")


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def writing_routes() -> list[tuple[str, str, Any]]:
    """Every route of the app that changes something, read from its router, with the handler behind it."""
    settings = Settings(models_roots=[], data_dir=Path("/nonexistent"), watch_mode="off", port=1)
    app = create_app(App(settings, watch=False).api_parts())
    return sorted({(r.method, r.resource.canonical, r.handler) for r in app.router.routes()
                   if r.method not in SAFE and r.resource is not None},
                  key=lambda t: (t[1], t[0]))


def form_body(boundary: str = "hikaze") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png_bytes() + f"\r\n--{boundary}--\r\n".encode()


def good_json(method: str, route: str, tmp_path: Path, sha: str) -> dict[str, Any]:
    """A body each route would take, so that a refusal is the only thing between it and a change."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/session"): {"token": TOKEN},
        ("POST", "/api/scan"): {},
        ("POST", "/api/pending/import"): {"ids": list(range(1, 20)), "conflict_strategy": "delete",
                                          "delete_files": True},
        ("POST", "/api/pending/restore"): {"ids": list(range(1, 20))},
        ("POST", "/api/pending/retry"): {"ids": list(range(1, 20))},
        ("PATCH", "/api/models/{sha256}"): {"name": "hacked", "tags": ["hacked"]},
        ("DELETE", "/api/models/{sha256}"): {"ignore_file": True},
        ("PUT", "/api/models/{sha256}/cover"): {"seq": 1},
        ("POST", "/api/tags"): {"name": "hacked"},
        ("PATCH", "/api/tags/{id}"): {"name": "hacked"},
        ("POST", "/api/migrate/legacy"): {"db_path": str(tmp_path / "v1.sqlite3")},
        ("POST", "/api/comfyui/announce"): {"origin": "http://evil.example", "folders": {}},
        ("POST", "/api/usage"): {"uses": [{"id": "cross-site-use", "at": 1.7e9, "kind": "loras", "path": "",
                                           "sha256": sha, "node": "LoraLoader"}]},
    }
    return bodies.get((method, route), {})


async def library_snapshot(d: Daemon, models: Path) -> dict[str, Any]:
    models_now = (await d.request("GET", "/api/models?status=all&limit=1000", headers=BEARER))[1]
    details = [(await d.request("GET", f"/api/models/{m['sha256']}", headers=BEARER))[1] for m in models_now["models"]]
    images = [(await d.request("GET", f"/api/models/{m['sha256']}/images", headers=BEARER))[1]
              for m in models_now["models"]]
    status = (await d.request("GET", "/api/status", headers=BEARER))[1]
    [(sessions,)] = await d.db.rows("SELECT count(*) FROM sessions")
    return {
        "models": details,
        "images": images,
        "tags": (await d.request("GET", "/api/tags", headers=BEARER))[1],
        "pending": (await d.request("GET", "/api/pending?limit=1000", headers=BEARER))[1],
        "scans": status["last_scan"],
        "comfyui": status["comfyui"],
        "sessions": sessions,
        "files": sorted((str(p.relative_to(models)), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in models.rglob("*")),
    }


async def test_no_cross_site_variant_changes_anything_on_any_route(daemon_factory, models: Path, tmp_path: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", TOKEN)
    kept, twin = write_model(models / "loras" / "kept.safetensors"), write_model(models / "loras" / "ready.safetensors")
    rows = [await poll(lambda p=p: _row(d, p), f"{p.name} ready") for p in (kept, twin)]
    code, report = await d.request("POST", "/api/pending/import", json={"ids": [rows[0]["id"]]}, headers=BEARER)
    assert code == 200, report
    sha = report["imported"][0]["sha256"]
    code, tag = await d.request("POST", "/api/tags", json={"name": "kept"}, headers=BEARER)
    assert code == 201
    await d.request("PATCH", f"/api/models/{sha}", json={"tags": ["kept"], "meta_json": {"notes": "mine"}},
                    headers=BEARER)
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(), filename="a.png", content_type="image/png")
    assert (await d.request("POST", f"/api/models/{sha}/images", data=form, headers=BEARER))[0] == 201
    (models / "checkpoints" / "unrelated.safetensors").write_bytes(b"x" * 100)
    await poll(lambda: _row(d, models / "checkpoints" / "unrelated.safetensors"), "the third file hashed")
    await poll(lambda: _idle(d), "the daemon to be idle")
    before = await library_snapshot(d, models)

    port = d.port
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": "multipart/form-data; boundary=hikaze"}
    variants = [  # what, headers, whether the body is JSON or a form, the expected refusal
        ("Origin: null", {"Origin": "null"}, "right", 403),
        ("no Origin, text/plain", {"Content-Type": "text/plain"}, "json", 415),
        ("a form content type", {"Content-Type": "application/x-www-form-urlencoded"}, "json", 415),
        ("multipart to a JSON route", form_type, "form", 415),
        ("Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site"}, "right", 403),
        ("the wrong scheme", {"Origin": f"https://127.0.0.1:{port}"}, "right", 403),
        ("another loopback port", {"Origin": f"http://127.0.0.1:{port + 1}", "Sec-Fetch-Site": "same-site"},
         "right", 403),
    ]
    routes = writing_routes()
    assert len(routes) >= 15, routes  # the 14 of the review, and the ComfyUI announcement
    refused = 0
    assert d.session is not None
    for method, route, handler in routes:
        path = route.replace("{sha256}", sha).replace("{id}", str(tag["id"])).replace("{seq}", "0")
        takes_form = handler is upload_image
        for what, headers, body_kind, expected in variants:
            headers = dict(headers)
            if takes_form:
                if body_kind == "form":  # the JSON route's wrong body is, for the upload, JSON
                    data, headers["Content-Type"] = json.dumps({"image": "x"}).encode(), "application/json"
                else:
                    data = form_body()
                    headers.setdefault("Content-Type", form_type["Content-Type"])
            else:
                good = good_json(method, route, tmp_path, sha)
                data = form_body() if body_kind == "form" else json.dumps(good).encode()
                if body_kind == "right":
                    headers.update(json_type)
            async with d.session.request(method, d.url + path, data=data, headers={**BEARER, **headers}) as resp:
                answer = await resp.json(content_type=None)
                assert resp.status == expected, (method, route, what, resp.status, answer)
                assert answer["error"], (method, route, what)
                assert "Set-Cookie" not in resp.headers, (method, route, what)
            refused += 1
        if method == "POST" and not takes_form:  # a bare POST, the one body-less request a page sends unasked
            async with d.session.post(d.url + path, headers=BEARER) as resp:
                assert resp.status == 415, (route, await resp.text())
                assert "application/json" in (await resp.json())["error"]
    assert refused == len(routes) * len(variants)
    assert await library_snapshot(d, models) == before

    # The same requests from a plain client (no Origin, the JSON content type) are taken: the refusals above were
    # about how they were sent. The scan changes `last_scan`, the tag the tags.
    code, _ = await d.request("POST", "/api/tags", json={"name": "plain"}, headers=BEARER)
    assert code == 201
    code, _ = await d.request("POST", "/api/scan", headers={**BEARER, **json_type})
    assert code == 202
    # The daemon's own page (same scheme, host and port) and a page in allowed_origins may change things.
    code, _ = await d.request("PATCH", f"/api/tags/{tag['id']}", json={"name": "kept2"},
                              headers={**BEARER, "Origin": d.url, "Sec-Fetch-Site": "same-origin"})
    assert code == 200
    after = await library_snapshot(d, models)
    assert {t["name"] for t in after["tags"]["tags"]} >= {"plain", "kept2"}


async def _row(d: Daemon, path: Path) -> dict[str, Any] | None:
    _, listing = await d.request("GET", "/api/pending?limit=1000", headers=BEARER)
    rows = [r for r in listing["pending"] if r["path"] == str(path) and r["status"] in ("ready", "conflict")]
    return rows[0] if rows else None


async def _idle(d: Daemon) -> bool:
    _, st = await d.request("GET", "/api/status", headers=BEARER)
    q = st["queues"]
    return st["scan"] is None and st["last_scan"] is not None and not (q["settling"] or q["hashing"] or q["queued"])


async def test_an_allowed_origin_may_write_cross_site(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--allowed-origin", "http://127.0.0.1:8188")
    for headers, expected in (({"Origin": "http://127.0.0.1:8188", "Sec-Fetch-Site": "cross-site"}, 201),
                              ({"Origin": "https://127.0.0.1:8188", "Sec-Fetch-Site": "cross-site"}, 403),
                              ({"Origin": "http://127.0.0.1:8188", "Content-Type": "text/plain"}, 415)):
        code, body = await d.request("POST", "/api/tags", data=json.dumps({"name": "from comfy"}), headers=headers)
        assert code == expected, (headers, body)
    assert [t["name"] for t in (await d.get("/api/tags"))["tags"]] == ["from comfy"]


async def test_the_cli_still_asks_a_running_daemon_to_scan(daemon: Daemon):
    await daemon.wait_idle()
    before = (await daemon.get("/api/status"))["last_scan"]
    result = run_cli("scan", "--data-dir", str(daemon.data_dir), "--port", str(daemon.port))
    assert result.returncode == 0 and "started" in result.stdout, result

    async def rescanned() -> bool:
        return (await daemon.get("/api/status"))["last_scan"] != before

    await poll(rescanned, "the scan the CLI asked for")


# -- the picker's answer ----------------------------------------------------------------------------------------
async def test_the_picker_answers_only_trusted_origins(daemon_factory, models: Path, page: Page, openers) -> None:
    evil, comfy, allowed = await openers(), await openers(), await openers()
    d: Daemon = await daemon_factory("--models-root", str(models), "--allowed-origin", allowed)
    (ckpt,) = await d.import_files(write_model(models / "checkpoints" / "base.safetensors"))
    await d.call("POST", "/api/comfyui/announce", {"origin": comfy})
    card = f'[data-testid="model-card"][data-sha="{ckpt}"]'

    # A foreign page naming itself, or relying on the referrer: the page says so and sends nothing, not even a
    # cancel. A message the popup posts afterwards arrives after anything it posted before, so it closes the wait.
    for url in (f"{d.url}/?pick=checkpoint&origin={quote(evil)}", f"{d.url}/?pick=checkpoint"):
        popup = await open_picker(page, evil, url)
        await expect(popup.get_by_test_id("picker-origin-refused")).to_contain_text(f"opened by {evil}")
        await popup.locator(card).click()
        await expect(popup.get_by_test_id("picker-item")).to_have_count(1)
        await expect(popup.get_by_test_id("picker-confirm")).to_be_disabled()
        await popup.keyboard.press("Escape")
        await shot(popup, "picker-refuses-a-foreign-origin")
        await popup.evaluate("() => window.opener.postMessage('sentinel', '*')")
        assert [m["data"] for m in await received(page)] == ["sentinel"], url
        await popup.close()

    # A foreign page cannot frame the picker either: Chromium blocks the frame by the page's CSP.
    await page.goto(evil + "/opener.html")
    await page.evaluate("url => framePicker(url)", f"{d.url}/?pick=checkpoint&origin={quote(evil)}")
    (blocked,) = page.main_frame.child_frames
    assert not blocked.url.startswith(d.url), blocked.url
    assert await page.evaluate("() => window.received") == []

    # The announced ComfyUI and an origin in allowed_origins get the answer, framed or in a popup.
    for origin in (comfy, allowed):
        popup = await open_picker(page, origin, f"{d.url}/?pick=checkpoint&origin={quote(origin)}")
        await expect(popup.get_by_test_id("picker-origin-refused")).to_have_count(0)
        await popup.locator(card).click()
        await answer_picker(popup)
        (message,) = await received(page)
        assert message["origin"] == d.url
        assert message["data"] == {"type": "hikaze-pick", "result": {
            "ckpt_path": str(models / "checkpoints" / "base.safetensors"), "sha256": ckpt, "name": "base"}}
    await page.goto(comfy + "/opener.html")
    await page.evaluate("url => framePicker(url)", f"{d.url}/?pick=checkpoint&origin={quote(comfy)}")
    (framed,) = page.main_frame.child_frames
    assert framed.url.startswith(d.url)
    await expect(page.frame_locator("iframe").get_by_test_id("picker-bar")).to_be_visible()


async def test_the_origin_check_route(daemon_factory, models: Path) -> None:
    d: Daemon = await daemon_factory("--models-root", str(models), "--allowed-origin", "http://127.0.0.1:8188")

    async def check(origin: str) -> Any:
        return await d.get(f"/api/picker/origin-check?origin={quote(origin)}")

    assert await check(d.url + "/") == {"origin": d.url, "allowed": True}
    assert await check("HTTP://127.0.0.1:8188") == {"origin": "http://127.0.0.1:8188", "allowed": True}
    for foreign in ("https://evil.example", f"https://127.0.0.1:{d.port}", "http://127.0.0.1:8189",
                    "http://localhost:8188"):
        assert (await check(foreign))["allowed"] is False, foreign
    assert (await check("http://127.0.0.1:7777"))["allowed"] is False
    await d.call("POST", "/api/comfyui/announce", {"origin": "http://127.0.0.1:7777"})
    assert (await check("http://127.0.0.1:7777"))["allowed"] is True
    for bad in ("", "null", "javascript:alert(1)", "http://127.0.0.1:8188/path", "127.0.0.1:8188"):
        code, body = await d.request("GET", f"/api/picker/origin-check?origin={quote(bad)}")
        assert code == 400 and "`origin`" in body["error"], bad
