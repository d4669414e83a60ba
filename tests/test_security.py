"""Who may talk to the daemon: loopback names, configured hosts and origins, the bearer token."""

from __future__ import annotations

from pathlib import Path

from conftest import Daemon, run_cli


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


async def test_the_page_trades_the_token_for_a_cookie(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    assert d.session is not None
    async with d.session.get(d.url + "/") as resp:  # the page itself holds no data
        assert resp.status == 200
    code, body = await d.request("POST", "/api/session", json={"token": "wrong"})
    assert code == 401 and "auth_token" in body["error"]
    for bad in ({}, {"token": 5}, {"token": "s3cret", "extra": 1}):
        code, _ = await d.request("POST", "/api/session", json=bad)
        assert code in (400, 401), bad
    async with d.session.post(d.url + "/api/session", json={"token": "s3cret"}) as resp:
        assert resp.status == 200 and await resp.json() == {"auth": True}
        cookie = resp.cookies["hikaze_mm_token"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    # The cookie stands in for the header (aiohttp's jar keeps no cookies of an IP address, so it is sent by hand).
    code, _ = await d.request("GET", "/api/status", headers={"Cookie": f"hikaze_mm_token={cookie.value}"})
    assert code == 200
    code, _ = await d.request("GET", "/api/status", headers={"Cookie": "hikaze_mm_token=wrong"})
    assert code == 401


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
