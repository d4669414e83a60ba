"""Configuration: TOML, flags, extra_model_paths.yaml, and bad configuration stopping with exit code 2."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from conftest import Daemon, digests, run_cli, write_model
from hikaze_mm.config.settings import KEYS, add_flags, load_settings


def _fails_with(result, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("bogus_key = 1\n", ["unknown key", "bogus_key"]),
        ("port = 'eighty'\n", ["port", "whole number"]),
        ("port = 70000\n", ["port", "at most 65535"]),
        ("settle_seconds = -1\n", ["settle_seconds", "at least 0"]),
        ("watch_mode = 'magic'\n", ["watch_mode", "native, polling, off"]),
        ("hash_workers = 0\n", ["hash_workers"]),
        ("models_roots = 5\n", ["models_roots", "list of path strings"]),
        ("model_folders = 5\n", ["model_folders", "TYPE=DIR"]),
        ("model_folders = ['/no/type']\n", ["model_folders", "model type such as loras"]),
        ("model_folders = {loras = [3]}\n", ["model_folders", "'loras' needs a folder"]),
        ("port = [\n", ["not valid TOML"]),
        ("allowed_origins = ['https://*']\n", ["allowed_origins", "does not name a host"]),
        ("allowed_origins = [\"http://x;script-src *\"]\n", ["allowed_origins", "does not name a host"]),
        ("allowed_origins = ['http://comfy.lan/path']\n", ["allowed_origins", "scheme://host[:port]"]),
        ("database_url = 'mysql://me@db/lib'\n", ["database_url", "postgresql://"]),
        ("database_url = 'postgresql://me@db.lan'\n", ["database_url", "names no database"]),
        ("database_url = 'postgresql://me@db.lan:port/lib'\n", ["database_url", "not a valid URL"]),
        ("database_url = 'sqlite://relative.sqlite3'\n", ["database_url", "absolute file"]),
        ("shared_roots = 5\n", ["shared_roots", "DIR=NAME"]),
        ("shared_roots = {'/mnt/nas' = 'a/b'}\n", ["shared_roots", "share name (no slash)"]),
        ("shared_roots = {'/mnt/nas' = 'nas'}\n", ["shared_roots", "database_url"]),
        ("metadata_sources = ['civitai', 'huggingface']\n", ["metadata_sources", "civitai, civarchive"]),
        ("metadata_sources = 'civitai'\nmetadata_auto = 'always'\n", ["metadata_auto", "never, on_import"]),
        ("civitai_api_base = 'ftp://civitai.com'\n", ["civitai_api_base", "http:// or https://"]),
        ("civitai_api_base = 'https://me:pw@civitai.com'\n", ["civitai_api_base", "http:// or https://"]),
        ("civarchive_api_base = 'https://civarchive.com/?x=1'\n", ["civarchive_api_base", "http:// or https://"]),
        ("metadata_rate = 0\n", ["metadata_rate", "at least 0.05"]),
    ],
)
def test_bad_toml_stops_with_exit_2(tmp_path: Path, toml: str, words: list[str]):
    config = tmp_path / "bad.toml"
    config.write_text(f"data_dir = '{tmp_path / 'data'}'\n" + toml)
    _fails_with(run_cli("serve", "--config", str(config)), str(config) if "TOML" in words[0] else "", *words)
    assert not (tmp_path / "data" / "library.sqlite3").exists()


def test_a_civitai_key_of_the_wrong_type_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f"data_dir = '{tmp_path / 'data'}'\ncivitai_api_key = 918273645546372819\n")
    result = run_cli("serve", "--config", str(config))
    _fails_with(result, "civitai_api_key", "got a value of type int")
    assert "918273645546372819" not in result.stderr + result.stdout


def test_metadata_sources_none_turns_the_lookups_off_and_bases_lose_their_slash() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    settings = load_settings(parser.parse_args(["--metadata-source", "none", "--civitai-api-base", "http://127.0.0.1:9/"]))
    assert settings.metadata_sources == [] and settings.civitai_api_base == "http://127.0.0.1:9"
    settings = load_settings(parser.parse_args(["--metadata-source", "civarchive", "--metadata-source", "civitai"]))
    assert settings.metadata_sources == ["civarchive", "civitai"]


def test_bad_flag_value_names_the_flag(tmp_path: Path):
    _fails_with(run_cli("serve", "--data-dir", str(tmp_path), "--settle-seconds", "soon"), "--settle-seconds")


def test_missing_config_file_from_env(tmp_path: Path):
    _fails_with(run_cli("serve", env={"HIKAZE_MM_CONFIG": str(tmp_path / "nope.toml")}), "does not exist")


def test_invalid_extra_model_paths_yaml(tmp_path: Path):
    comfy = tmp_path / "ComfyUI"
    (comfy / "models").mkdir(parents=True)
    (comfy / "extra_model_paths.yaml").write_text("a1111:\n  loras: [unclosed\n")
    _fails_with(run_cli("serve", "--comfyui-dir", str(comfy), "--data-dir", str(tmp_path / "d")),
                "extra_model_paths.yaml", "not valid YAML")


def test_yaml_list_instead_of_string_is_explained(tmp_path: Path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("mine:\n  loras:\n    - /a\n    - /b\n")
    _fails_with(run_cli("serve", "--extra-model-paths", str(extra), "--data-dir", str(tmp_path / "d")),
                "`loras`", "one path per line")


def test_port_in_use_stops_with_exit_2(tmp_path: Path, models: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_cli("serve", "--models-root", str(models), "--data-dir", str(tmp_path / "d"),
                         "--port", str(port))
    _fails_with(result, f"port {port}", "in use")


async def test_second_daemon_on_the_same_data_dir_is_refused(daemon: Daemon, models: Path):
    result = run_cli("serve", "--models-root", str(models), "--data-dir", str(daemon.data_dir),
                     "--port", "1")
    _fails_with(result, "in use by another hikaze-mm")


async def test_toml_file_and_flags(daemon_factory, tmp_path: Path, models: Path):
    config = tmp_path / "hikaze.toml"
    config.write_text(f"models_roots = ['{models}']\nsettle_seconds = 0.2\nwatch_mode = 'polling'\n"
                      "poll_interval = 0.2\n")
    d: Daemon = await daemon_factory("--config", str(config))
    path = write_model(models / "vae" / "polled.safetensors")
    assert (await d.wait_row(path))["sha256"] == digests(path)[0]
    status = await d.get("/api/status")
    assert [r["mode"] for r in status["roots"]] == ["polling"]


async def test_extra_model_paths_yaml_with_two_groups(daemon_factory, tmp_path: Path):
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    a1111 = tmp_path / "webui"
    shared = tmp_path / "shared"
    (comfy / "extra_model_paths.yaml").write_text(
        "a1111:\n"
        "  base_path: ../webui\n"  # relative to the YAML's folder, as ComfyUI reads it
        "  checkpoints: models/Stable-diffusion\n"
        "  loras: |\n"
        "    models/Lora\n"
        "    models/LyCORIS\n"
        "  configs: models/Stable-diffusion\n"
        "other:\n"
        "  is_default: true\n"
        f"  clip: {shared}/te\n"
        f"  unet: {shared}/unet\n"
        "empty:\n"
    )
    files = {
        write_model(comfy / "models" / "checkpoints" / "base.safetensors"): "checkpoints",
        write_model(a1111 / "models" / "Stable-diffusion" / "sd15.ckpt"): "checkpoints",
        write_model(a1111 / "models" / "Lora" / "l1.safetensors"): "loras",
        write_model(a1111 / "models" / "LyCORIS" / "sub" / "l2.safetensors"): "loras",
        write_model(shared / "te" / "t5.safetensors"): "text_encoders",
        write_model(shared / "unet" / "flux.gguf"): "diffusion_models",
    }
    d: Daemon = await daemon_factory("--comfyui-dir", str(comfy))
    for path, type_ in files.items():
        row = await d.wait_row(path)
        assert row["type"] == type_, path
    status = await d.get("/api/status")
    sources = {r["path"]: r["source"] for r in status["roots"]}
    assert sources[str(a1111 / "models" / "Lora")] == "extra_model_paths.yaml:a1111"
    assert sources[str(shared / "unet")] == "extra_model_paths.yaml:other"
    assert sources[str(comfy / "models")] == "comfyui_dir"


async def test_folders_of_one_type_each_are_watched_exactly_as_given(daemon_factory, tmp_path: Path):
    # What the node pack passes for a ComfyUI started with --extra-model-paths-config: folders outside any models
    # folder, each of one type, one of them in two types' lists, a name with `=` and `$` in it, and ComfyUI's
    # folders that hold no models (custom_nodes), which are not watched.
    shared, odd = tmp_path / "shared", tmp_path / "odd=$HOME"
    files = {
        write_model(shared / "sd" / "base.safetensors"): "checkpoints",
        write_model(shared / "lora" / "sub" / "l.safetensors"): "loras",
        write_model(odd / "l2.safetensors"): "loras",
        write_model(shared / "clip" / "t5.safetensors"): "text_encoders",
    }
    d: Daemon = await daemon_factory(
        "--model-folder", f"checkpoints={shared / 'sd'}", "--model-folder", f"loras={shared / 'lora'}",
        "--model-folder", f"loras={odd}",
        "--model-folder", f"clip={shared / 'clip'}", "--model-folder", f"custom_nodes={tmp_path / 'nodes'}",
    )
    for path, type_ in files.items():
        assert (await d.wait_row(path))["type"] == type_, path
    roots = {(r["path"], r["type"], r["source"]) for r in (await d.get("/api/status"))["roots"]}
    assert roots == {(str(shared / "sd"), "checkpoints", "model_folders"),
                     (str(shared / "lora"), "loras", "model_folders"), (str(odd), "loras", "model_folders"),
                     (str(shared / "clip"), "text_encoders", "model_folders")}


def test_folders_of_one_type_in_the_toml_file(tmp_path: Path):
    config = tmp_path / "hikaze.toml"
    config.write_text("model_folders = {loras = ['rel', '/abs/l', '/abs/l'], checkpoints = '~/sd'}\n")
    settings = load_settings(argparse.Namespace(config=str(config)))
    assert settings.model_folders == {"loras": [tmp_path / "rel", Path("/abs/l")],
                                      "checkpoints": [Path.home() / "sd"]}


def test_a_folder_flag_without_a_type_names_the_flag(tmp_path: Path):
    _fails_with(run_cli("serve", "--data-dir", str(tmp_path), "--model-folder", str(tmp_path)),
                "--model-folder", "model type such as loras")
    _fails_with(run_cli("serve", "--data-dir", str(tmp_path), "--model-folder", "loras="), "--model-folder",
                "'loras' needs a folder")
    assert not (tmp_path / "library.sqlite3").exists()


def test_example_config_documents_every_key():
    example = (Path(__file__).parents[2] / "config" / "hikaze-mm.example.toml").read_text()
    for key in KEYS:
        assert f"\n# {key.name} =" in example or f"\n{key.name} =" in example, key.name


def test_example_config_values_load(tmp_path: Path):
    """Uncommented, the example's defaults are a valid configuration."""
    example = (Path(__file__).parents[2] / "config" / "hikaze-mm.example.toml").read_text()
    lines = [line[2:] for line in example.splitlines() if line.startswith("# ") and " = " in line]
    config = tmp_path / "all.toml"
    config.write_text("\n".join(lines) + "\n")
    settings = load_settings(argparse.Namespace(config=str(config)))
    assert settings.port == 8789 and settings.settle_seconds == 2.0 and settings.watch_mode == "native"


@pytest.mark.parametrize("url", ["postgresql://me:hunter2@db.lan/lib", "postgresql://me@db.lan/lib?password=hunter2"])
def test_a_password_in_the_database_url_is_refused_without_being_repeated(tmp_path: Path, url: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"database_url = '{url}'\n")
    result = run_cli("status", "--config", str(config))
    _fails_with(result, "database_url", ".pgpass")
    assert "hunter2" not in result.stderr


def _settings(*flags: str):
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return load_settings(parser.parse_args(["--config", "/dev/null", *flags]))


def test_the_database_is_sqlite_in_data_dir_unless_a_url_says_otherwise(tmp_path: Path) -> None:
    plain = _settings("--data-dir", str(tmp_path))
    assert plain.db_path == tmp_path / "library.sqlite3" and plain.postgres_url is None
    assert plain.host_id == socket.gethostname()
    elsewhere = _settings("--data-dir", str(tmp_path), "--database-url", "sqlite:///srv/lib/../lib.sqlite3")
    assert elsewhere.db_path == Path("/srv/lib.sqlite3") and elsewhere.postgres_url is None
    shared = _settings("--database-url", "postgresql://hikaze@nas.lan/hikaze", "--host-id", "gpu-box")
    assert shared.postgres_url == "postgresql://hikaze@nas.lan/hikaze" and shared.host_id == "gpu-box"


def test_serve_help_prints_every_setting() -> None:
    """`serve --help` once crashed on a help text's "2%" (argparse read it as a format)."""
    done = run_cli("serve", "--help")
    assert done.returncode == 0, done.stderr
    assert "2% of a core" in done.stdout and "--poll-interval" in done.stdout
