"""`hikaze-mm scan` and `hikaze-mm status`, and unreadable files becoming error rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import Daemon, Databases, digests, run_cli, write_model


async def test_scan_without_daemon_hashes_everything_then_exits(tmp_path: Path, models: Path, databases: Databases):
    a = write_model(models / "loras" / "a.safetensors", 300_000)
    b = write_model(models / "checkpoints" / "b.ckpt", 200_000)
    data = tmp_path / "data"
    where = await databases.args(data)
    result = run_cli("scan", "--models-root", str(models), "--data-dir", str(data), "--settle-seconds", "0", *where)
    assert result.returncode == 0, result.stderr
    assert "ready 2, conflict 0, error 0" in result.stdout
    db = await databases.of(data)
    rows = dict(await db.rows("SELECT path, sha256 FROM pending_import WHERE status = 'ready'"))
    assert rows == {str(a): digests(a)[0], str(b): digests(b)[0]}

    again = run_cli("scan", "--models-root", str(models), "--data-dir", str(data), "--settle-seconds", "0", *where)
    assert again.returncode == 0 and "ready 2" in again.stdout


async def test_status_reads_the_database_when_no_daemon_runs(tmp_path: Path, models: Path, databases: Databases):
    write_model(models / "vae" / "v.safetensors")
    data = tmp_path / "data"
    where = await databases.args(data)
    assert run_cli("scan", "--models-root", str(models), "--data-dir", str(data), *where).returncode == 0
    result = run_cli("status", "--data-dir", str(data), "--port", "1", *where)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["daemon"] == "not running" and answer["counts"]["pending"] == {"ready": 1}


async def test_status_and_scan_ask_the_running_daemon(daemon: Daemon, models: Path):
    await daemon.wait_idle()
    status = run_cli("status", "--data-dir", str(daemon.data_dir), "--port", str(daemon.port))
    assert status.returncode == 0 and json.loads(status.stdout)["version"]
    scan = run_cli("scan", "--data-dir", str(daemon.data_dir), "--port", str(daemon.port))
    assert scan.returncode == 0 and "the running daemon" in scan.stdout and "started" in scan.stdout


async def test_unreadable_file_is_an_error_row_and_the_rest_goes_on(daemon: Daemon, models: Path):
    broken = models / "loras" / "broken.safetensors"
    os.symlink("/proc/self/mem", broken)  # a regular file whose first read fails with EIO, even for root
    good = write_model(models / "loras" / "good.safetensors")
    row = await daemon.wait_row(broken, status="error")
    assert "Input/output error" in row["error"] and row["sha256"] is None
    assert (await daemon.wait_row(good))["sha256"] == digests(good)[0]


async def test_no_request_makes_the_server_fail(daemon: Daemon):
    odd = [
        "/api/pending/%00", "/api/pending/" + "9" * 400, "/api/pending/-1", "/api/pending/1.5",
        "/api/pending?limit=1e3", "/api/pending?limit=&offset=", "/api/pending?status=%F0%9F%92%A5",
        "/api/pending?type=" + "x" * 5000, "/api/%2e%2e/%2e%2e/etc/passwd", "/api/pending/1/extra",
    ]
    for path in odd:
        code, body = await daemon.request("GET", path)
        assert 200 <= code < 500 and (code == 200 or body["error"]), (path, code, body)
    for body in ("", "{}", "null", '{"roots": []}', '{"roots": [1]}', "\xff\xfe", "[" * 10000):
        code, answer = await daemon.request("POST", "/api/scan", data=body.encode("utf-8", "surrogateescape"),
                                            headers={"Content-Type": "application/json"})
        assert code in (202, 400, 409), (body[:20], code, answer)


async def test_the_cli_carries_the_auth_token_to_a_daemon_that_wants_one(daemon_factory, models: Path):
    daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    common = ("--data-dir", str(daemon.data_dir), "--port", str(daemon.port), "--auth-token", "s3cret")
    status = run_cli("status", *common)
    assert status.returncode == 0 and json.loads(status.stdout)["version"], status.stdout + status.stderr
    scan = run_cli("scan", *common)
    assert scan.returncode == 0 and "started" in scan.stdout, scan.stdout + scan.stderr
    wrong = run_cli("status", "--data-dir", str(daemon.data_dir), "--port", str(daemon.port), "--auth-token", "no")
    assert wrong.returncode != 0 and "auth_token" in wrong.stdout + wrong.stderr


def test_the_scan_bar_counts_bytes_and_files_also_of_files_too_small_to_report_progress():
    import io

    from tqdm import tqdm

    from hikaze_mm.cli.main import _ScanBar
    from hikaze_mm.events.catalog import HashProgressed, PendingHashed, ScanProgressed

    out = io.StringIO()
    bar = _ScanBar(tqdm(unit="B", file=out, mininterval=0))
    bar.show(ScanProgressed(phase="walking", started_at=0.0, dirs=1, files=4, new_or_changed=4, gone=0,
                            unreadable=0, skipped=0, finished_at=None, error=None))
    for i in range(3):
        bar.show(PendingHashed(id=i, path=f"/m/small{i}", status="ready", sha256=None, blake3=None,
                               conflict_sha256=None, size_bytes=2048))
    bar.show(HashProgressed(id=9, path="/m/big", bytes_done=1000, bytes_total=5000))
    bar.show(HashProgressed(id=9, path="/m/big", bytes_done=4000, bytes_total=5000))
    bar.show(PendingHashed(id=9, path="/m/big", status="ready", sha256=None, blake3=None, conflict_sha256=None,
                           size_bytes=5000))
    assert (bar.bar.n, bar.bar.total) == (3 * 2048 + 5000, 3 * 2048 + 5000), "every byte once, none twice"
    assert bar.files == 4
    bar.bar.refresh()
    assert "4 files" in out.getvalue() and "files/s" in out.getvalue()
