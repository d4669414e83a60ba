"""Settings: one table of keys drives the TOML file, the command-line flags and the example file."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import platformdirs

from hikaze_mm.config.origins import LOOPBACK_HOSTS, BadOrigin, normalise_origin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

APP_NAME = "hikaze-mm"
CONFIG_ENV = "HIKAZE_MM_CONFIG"
WATCH_MODES = ("native", "polling", "off")
LOG_LEVELS = ("debug", "info", "warning", "error")
AUTO_IMPORT = ("never", "no_conflict")
METADATA_SOURCES = ("civitai", "civarchive")
METADATA_AUTO = ("never", "on_import")
NO_SOURCES = "none"  # the flag's way to say an empty list: `--metadata-source none`
SQLITE_SCHEME = "sqlite://"  # sqlite:///abs/path.sqlite3: the path keeps its leading slash
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class ConfigError(Exception):
    """A setting, file or resource the daemon cannot start with; the message names the key or file."""


@dataclass(frozen=True)
class Key:
    name: str
    flag: str
    # path | paths | typed_paths | shares | strings | str | url | int | float | choice | choices | int_or_auto
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False  # an error names the value's type, never the value


KEYS: tuple[Key, ...] = (
    Key("comfyui_dir", "--comfyui-dir", "path", None,
        "A ComfyUI install: its models/ folder and its extra_model_paths.yaml are watched."),
    Key("models_roots", "--models-root", "paths", [],
        "Extra ComfyUI-style models folders (subfolders checkpoints/, loras/, vae/, ...); repeatable."),
    Key("model_folders", "--model-folder", "typed_paths", {},
        "A folder of one model type, as TYPE=DIR (loras=/data/loras); repeatable. The path is taken as written "
        "(no $VARS). ComfyUI's node pack starts the daemon with one per folder ComfyUI loads models from."),
    Key("extra_model_paths", "--extra-model-paths", "paths", [],
        "More extra_model_paths.yaml files to read, like ComfyUI's --extra-model-paths-config; repeatable."),
    Key("data_dir", "--data-dir", "path", None,
        "Where the database and images live (default: the user data dir). Keep it on a local disk."),
    Key("database_url", "--database-url", "str", None,
        "The library's database: unset for the SQLite file in data_dir; postgresql://USER@HOST/DB for one library "
        "that the daemons of several machines share (its password from ~/.pgpass, PGPASSFILE or PGPASSWORD, "
        "never in this URL); sqlite:///FILE for a SQLite file elsewhere."),
    Key("images_dir", "--images-dir", "path", None,
        "Where the models' images are kept (default: data_dir/images). In a library shared by several machines, "
        "a folder every host mounts (on the NAS), so an image added on one is shown by all."),
    Key("shared_roots", "--shared-root", "shares", {},
        "Folders other hosts of a shared library mount too (a NAS), each as DIR=NAME with one NAME for the share "
        "on every host: a file there is hashed once for all hosts; repeatable."),
    Key("host_id", "--host-id", "str", None,
        "This machine's name in a shared library (default: its hostname): its files are (host_id, path)."),
    Key("host", "--host", "str", "127.0.0.1",
        "Address the API binds to. Keep the loopback default unless you know why."),
    Key("port", "--port", "int", 8789, "Port of the API and the manager page.", minimum=1, maximum=65535),
    Key("hash_workers", "--hash-workers", "int_or_auto", "auto",
        "Files hashed at once: auto is one per core (at most 8), or a number. Either way files on a spinning disk "
        "or a network share are read one at a time per disk or share, unless they are in the page cache.",
        minimum=1, maximum=64),
    Key("settle_seconds", "--settle-seconds", "float", 2.0,
        "A file must be quiet this long (no events, same size and mtime) before it is hashed.",
        minimum=0, maximum=3600),
    Key("rescan_interval", "--rescan-interval", "float", 600.0,
        "Seconds between safety-net reconcile walks of every folder; 0 turns them off.", minimum=0),
    Key("watch_mode", "--watch-mode", "choice", "native",
        "native (inotify and friends), polling (network shares), or off (walks only).", choices=WATCH_MODES),
    Key("poll_interval", "--poll-interval", "float", 10.0,
        "Seconds between polls of a folder watched by polling (more where a poll would take over 2% of a core).",
        minimum=0.1, maximum=86400),
    Key("log_level", "--log-level", "choice", "info", "How much the daemon logs.", choices=LOG_LEVELS),
    Key("auto_import", "--auto-import", "choice", "never",
        "never: you confirm every import; no_conflict: a hashed file with no duplicate is imported at once.",
        choices=AUTO_IMPORT),
    Key("allowed_origins", "--allowed-origin", "strings", [],
        "Web pages besides the manager's own that may change things, e.g. ComfyUI at http://127.0.0.1:8188."),
    Key("allowed_hosts", "--allowed-host", "strings", [],
        "Host names besides 127.0.0.1, localhost and [::1] that requests may be addressed to."),
    Key("auth_token", "--auth-token", "str", None,
        "A secret every request must carry as `Authorization: Bearer <token>`; required when host is not "
        "a loopback address."),
    Key("request_timeout", "--request-timeout", "float", 20.0,
        "Seconds a connection has to send a request's headers, and again its body; a slower one is closed.",
        minimum=1, maximum=3600),
    Key("max_connections", "--max-connections", "int", 256,
        "Open connections at most (never more than half the open files limit); the longest waiting goes first.",
        minimum=8, maximum=65536),
    Key("metadata_sources", "--metadata-source", "choices", list(METADATA_SOURCES),
        "Where a model's metadata is looked up by its sha256, in this order; `none` (or an empty list) turns the "
        "lookups off; repeatable.", choices=METADATA_SOURCES),
    Key("metadata_auto", "--metadata-auto", "choice", "on_import",
        "on_import: a new model (and a hashed pending file) is looked up by itself; never: only when you ask.",
        choices=METADATA_AUTO),
    Key("civitai_api_base", "--civitai-api-base", "url", "https://civitai.com",
        "Civitai's address (the lookups and the model pages)."),
    Key("civarchive_api_base", "--civarchive-api-base", "url", "https://civarchive.com",
        "CivArchive's address (models deleted from Civitai)."),
    Key("civitai_api_key", "--civitai-api-key", "str", None,
        "A Civitai API key, for models only a logged-in user may see: sent to civitai_api_base alone, never "
        "logged or shown.", secret=True),
    Key("metadata_rate", "--metadata-rate", "float", 1.0,
        "Requests per second to each metadata source, at most (two at a time; a source's 429 slows it down more).",
        minimum=0.05, maximum=1000),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


@dataclass
class Settings:
    comfyui_dir: Path | None = None
    models_roots: list[Path] = field(default_factory=list)
    model_folders: dict[str, list[Path]] = field(default_factory=dict)
    extra_model_paths: list[Path] = field(default_factory=list)
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    database_url: str | None = None
    images_dir: Path | None = None
    shared_roots: dict[Path, str] = field(default_factory=dict)
    host_id: str = field(default_factory=socket.gethostname)
    host: str = "127.0.0.1"
    port: int = 8789
    hash_workers: int | str = "auto"
    settle_seconds: float = 2.0
    rescan_interval: float = 600.0
    watch_mode: str = "native"
    poll_interval: float = 10.0
    log_level: str = "info"
    auto_import: str = "never"
    allowed_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    auth_token: str | None = None
    request_timeout: float = 20.0
    max_connections: int = 256
    metadata_sources: list[str] = field(default_factory=lambda: list(METADATA_SOURCES))
    metadata_auto: str = "on_import"
    civitai_api_base: str = "https://civitai.com"
    civarchive_api_base: str = "https://civarchive.com"
    civitai_api_key: str | None = None
    metadata_rate: float = 1.0
    config_file: Path | None = None

    @property
    def db_path(self) -> Path:
        """The SQLite file: data_dir's, or the one `database_url` names."""
        if self.database_url is not None and self.database_url.startswith(SQLITE_SCHEME):
            return Path(self.database_url[len(SQLITE_SCHEME):])
        return self.data_dir / "library.sqlite3"

    @property
    def image_folder(self) -> Path:
        return self.images_dir if self.images_dir is not None else self.data_dir / "images"

    @property
    def postgres_url(self) -> str | None:
        """The shared database's URL, or None for SQLite."""
        if self.database_url is not None and self.database_url.startswith(POSTGRES_SCHEMES):
            return self.database_url
        return None

    @property
    def default_models_dir(self) -> Path:
        """The embedded models folder used when neither comfyui_dir nor models_roots is set."""
        return self.data_dir / "models"


def _expand(value: str, base: Path | None) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return Path(os.path.normpath(p))


def _coerce(key: Key, value: Any, where: str, base: Path | None) -> Any:
    """Check one value against its key; `where` names the source for the error message."""
    def bad(expected: str) -> ConfigError:
        got = f"a value of type {type(value).__name__}" if key.secret else repr(value)
        return ConfigError(f"{where}: `{key.name}` must be {expected}, got {got}")

    if key.kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise bad("a path string")
        return _expand(value, base)
    if key.kind == "paths":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise bad("a list of path strings")
        return [_expand(v, base) for v in value]
    if key.kind == "typed_paths":
        return _typed_paths(value, where, key, base)
    if key.kind == "shares":
        return _shares(value, where, key, base)
    if key.kind == "strings":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise bad("a list of strings")
        return [v.strip() for v in value]
    if key.kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
        return value.strip()
    if key.kind == "url":
        return _base_url(value, bad)
    if key.kind == "choices":
        if isinstance(value, str):
            value = [value]
        if value == [NO_SOURCES]:
            return []
        if not isinstance(value, list) or not all(v in key.choices for v in value):
            raise bad(f"a list of {', '.join(key.choices)} (or {NO_SOURCES})")
        return list(dict.fromkeys(value))
    if key.kind == "choice":
        if value not in key.choices:
            raise bad("one of " + ", ".join(key.choices))
        return value
    if key.kind == "int_or_auto" and value == "auto":
        return value
    number: float
    if key.kind in ("int", "int_or_auto"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                raise bad("auto or a whole number" if key.kind == "int_or_auto" else "a whole number")
        number = value
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise bad("a number") from None
        number = float(value)
        if number != number:  # NaN
            raise bad("a number")
    if key.minimum is not None and number < key.minimum:
        raise bad(f"at least {key.minimum:g}")
    if key.maximum is not None and number > key.maximum:
        raise bad(f"at most {key.maximum:g}")
    return float(number) if key.kind == "float" else int(number)


def _base_url(value: Any, bad: Callable[[str], ConfigError]) -> str:
    """An http(s) address with no user, query or fragment, without its trailing slash."""
    expected = "an http:// or https:// address such as https://civitai.com"
    if not isinstance(value, str):
        raise bad(expected)
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise bad(expected) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise bad(expected)
    return value.strip().rstrip("/")


def _typed_paths(value: Any, where: str, key: Key, base: Path | None) -> dict[str, list[Path]]:
    """`{type: [dir, ...]}` (a TOML table) or `["type=dir", ...]` (the flag, repeated) -> {type: [absolute dirs]}."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for type_, dirs in value.items():
            pairs.extend((type_, d) for d in (dirs if isinstance(dirs, list) else [dirs]))
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        pairs = [tuple(v.split("=", 1)) if "=" in v else (v, None) for v in value]
    else:
        raise ConfigError(f"{where}: `{key.name}` must be a table of type = [folders] or a list of TYPE=DIR, "
                          f"got {value!r}")
    folders: dict[str, list[Path]] = {}
    for type_, folder in pairs:
        if not isinstance(type_, str) or not type_.strip() or "/" in type_ or "\\" in type_:
            raise ConfigError(f"{where}: `{key.name}` needs a model type such as loras before each folder, "
                              f"got {type_!r}")
        if not isinstance(folder, str) or not folder.strip() or "\0" in folder:
            raise ConfigError(f"{where}: `{key.name}` {type_.strip()!r} needs a folder, as TYPE=DIR")
        # Taken as written: these come from ComfyUI, which expands nothing in a folder it was given.
        path = Path(os.path.expanduser(folder))
        path = Path(os.path.normpath(path if path.is_absolute() else (base or Path.cwd()) / path))
        found = folders.setdefault(type_.strip(), [])
        if path not in found:
            found.append(path)
    return folders


def database_url(url: str | None) -> str | None:
    """The URL as the store takes it, or a ConfigError that says what is wrong without repeating a password."""
    if url is None:
        return None
    if url.startswith(SQLITE_SCHEME):
        path = url[len(SQLITE_SCHEME):]
        if not path.startswith("/") or path == "/":
            raise ConfigError(f"`database_url` {url!r}: a SQLite URL names an absolute file, "
                              "as sqlite:///home/me/library.sqlite3")
        return SQLITE_SCHEME + os.path.normpath(os.path.expanduser(path))
    if not url.startswith(POSTGRES_SCHEMES):
        raise ConfigError("`database_url` must start with postgresql:// (a shared PostgreSQL database) or "
                          "sqlite:/// (a SQLite file)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as e:
        raise ConfigError(f"`database_url` is not a valid URL: {e}") from None
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ConfigError("`database_url` holds a password: config files and service definitions are read by "
                          "others, so put it in ~/.pgpass (or the file PGPASSFILE names, or PGPASSWORD) and "
                          "leave it out of the URL")
    if not parts.path.strip("/"):
        raise ConfigError("`database_url` names no database: postgresql://USER@HOST/DATABASE")
    return url


def _shares(value: Any, where: str, key: Key, base: Path | None) -> dict[Path, str]:
    """`{dir = name}` (a TOML table) or `["dir=name", ...]` (the flag, repeated) -> {absolute dir: name}."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        pairs = [tuple(v.rsplit("=", 1)) if "=" in v else (v, None) for v in value]
    else:
        raise ConfigError(f"{where}: `{key.name}` must be a table of folder = share name or a list of DIR=NAME, "
                          f"got {value!r}")
    shares: dict[Path, str] = {}
    for folder, name in pairs:
        if not isinstance(folder, str) or not folder.strip() or "\0" in folder:
            raise ConfigError(f"{where}: `{key.name}` needs a folder before each share name, as DIR=NAME")
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise ConfigError(f"{where}: `{key.name}` {folder!r} needs a share name (no slash), as DIR=NAME")
        shares[_expand(folder, base)] = name.strip()
    return shares


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Every key as a flag; unset flags stay None so the file's value or the default stands."""
    parser.add_argument(
        "--config", metavar="FILE", help=f"TOML settings file (else ${CONFIG_ENV}, else the user config dir)"
    )
    for key in KEYS:
        # argparse formats help with %: a help text is prose, whose "2% of a core" must not be read as a format.
        help_ = key.help.replace("%", "%%")
        metavar = key.name.upper() if key.kind not in ("choice", "choices") else "{" + ",".join(key.choices) + "}"
        if key.kind in ("paths", "strings", "typed_paths", "shares", "choices"):
            metavar = {"paths": "DIR", "strings": "VALUE", "typed_paths": "TYPE=DIR", "shares": "DIR=NAME",
                       "choices": "{" + ",".join((*key.choices, NO_SOURCES)) + "}"}[key.kind]
            parser.add_argument(key.flag, dest=key.name, action="append", metavar=metavar, help=help_)
        else:
            parser.add_argument(key.flag, dest=key.name, metavar=metavar, help=help_)


def find_config_file(explicit: str | None) -> Path | None:
    if explicit:
        return _expand(explicit, None)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return _expand(env, None)
    default = Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"
    return default if default.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    return data


def load_settings(args: argparse.Namespace) -> Settings:
    """Defaults, then the TOML file, then the flags given on the command line."""
    settings = Settings()
    config_file = find_config_file(getattr(args, "config", None))
    if config_file is not None:
        data = read_toml(config_file)
        for name, value in data.items():
            key = KEYS_BY_NAME.get(name)
            if key is None:
                known = ", ".join(k.name for k in KEYS)
                raise ConfigError(f"config file {config_file}: unknown key `{name}` (known keys: {known})")
            setattr(settings, name, _coerce(key, value, f"config file {config_file}", config_file.parent))
        settings.config_file = config_file
    for key in KEYS:
        value = getattr(args, key.name, None)
        if value is not None:
            setattr(settings, key.name, _coerce(key, value, f"flag {key.flag}", None))
    if settings.host not in LOOPBACK_HOSTS and not settings.auth_token:
        raise ConfigError(
            f"`host` is {settings.host}, which other machines can reach: set `auth_token` (--auth-token) too"
        )
    settings.database_url = database_url(settings.database_url)
    if settings.shared_roots and settings.postgres_url is None:
        raise ConfigError("`shared_roots` name folders the hosts of a shared library mount together: it needs "
                          "`database_url` to name that library's PostgreSQL database")
    try:
        settings.allowed_origins = [normalise_origin(o, "`allowed_origins`:") for o in settings.allowed_origins]
    except BadOrigin as e:
        raise ConfigError(f"{e}; write an origin like http://127.0.0.1:8188") from None
    return settings
