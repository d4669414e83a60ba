"""`hikaze-mm db migrate`, and a daemon pointed at a shared database that is not ready or not there: one clear
line and exit code 2 (systemd's `Restart=on-failure` tries again), nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import free_port, run_cli
from hikaze_mm.store.postgres.migrations import SCHEMA_VERSION
from pg_server import PgDatabase, PgServer


def _one_error_line(result, *words: str) -> None:
    """Exit 2 and the error as one line, the last (a daemon may have logged its set-up before)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("hikaze-mm:")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def test_db_migrate_creates_the_schema_then_finds_it_up_to_date(pg_database: PgDatabase, tmp_path: Path) -> None:
    first = run_cli("db", "migrate", "--database-url", pg_database.dsn, "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert f"created the schema (version {SCHEMA_VERSION})" in first.stdout
    again = run_cli("db", "migrate", "--database-url", pg_database.dsn, "--data-dir", str(tmp_path))
    assert again.returncode == 0 and "up to date" in again.stdout


def test_db_migrate_needs_a_postgresql_url(tmp_path: Path) -> None:
    _one_error_line(run_cli("db", "migrate", "--data-dir", str(tmp_path)), "database_url", "postgresql://")


def test_a_daemon_on_a_database_without_the_schema_says_what_to_run(pg_database: PgDatabase, tmp_path: Path) -> None:
    port = str(free_port())
    result = run_cli("serve", "--database-url", pg_database.dsn, "--data-dir", str(tmp_path), "--port", port)
    _one_error_line(result, "hikaze-mm db migrate")


def test_a_daemon_whose_server_is_down_stops_with_one_line(pg_server: PgServer, tmp_path: Path) -> None:
    url = f"postgresql://postgres@/hikaze?host={pg_server.socket_dir}&port=1"
    result = run_cli("serve", "--database-url", url, "--data-dir", str(tmp_path), "--port", str(free_port()))
    _one_error_line(result, "cannot be used", "pg_hba.conf")


def test_status_without_a_daemon_reads_the_shared_database(pg_database: PgDatabase, tmp_path: Path) -> None:
    assert run_cli("db", "migrate", "--database-url", pg_database.dsn, "--data-dir", str(tmp_path)).returncode == 0
    result = run_cli("status", "--database-url", pg_database.dsn, "--port", str(free_port()))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["daemon"] == "not running" and answer["database"] == pg_database.dsn
    assert answer["counts"] == {"models": 0, "missing": 0, "pending": {}}


def test_backup_of_a_shared_database_points_to_pg_dump(pg_database: PgDatabase, tmp_path: Path) -> None:
    result = run_cli("backup", "--database-url", pg_database.dsn, "--data-dir", str(tmp_path))
    assert result.returncode == 1 and "pg_dump" in result.stderr
