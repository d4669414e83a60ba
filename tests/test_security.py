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
