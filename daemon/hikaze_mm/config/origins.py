"""Web origins as the daemon compares them and writes them into headers: `scheme://host[:port]`, lower-case, with a
host that is a real host name or IP address, so no origin can smuggle a wildcard or a `;` into the page's CSP."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# The names this machine's daemon is always reached by (a loopback bind needs no token); an IP address stands for
# itself through `is_loopback`.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::")  # a bind to every address, which no client can address a request to
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


class BadOrigin(ValueError):
    """Not a bare http(s) origin; the message says what was wrong."""


def normalise_origin(raw: object, what: str = "`origin`") -> str:
    """`HTTP://127.0.0.1:8188/` -> `http://127.0.0.1:8188`; anything but a bare http(s) origin is refused."""
    if not isinstance(raw, str) or len(raw) > 300:
        raise BadOrigin(f"{what} must be a string such as http://127.0.0.1:8188")
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        raise BadOrigin(f"{what} {raw[:80]!r} is not a valid origin") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise BadOrigin(f"{what} {raw[:80]!r} must be scheme://host[:port], nothing more")
    host = parts.hostname.lower()
    if _ip(host) is None and not _HOST_NAME.fullmatch(host):
        raise BadOrigin(f"{what} {raw[:80]!r} does not name a host (letters, digits, dots and dashes, or an IP)")
    return f"{parts.scheme}://{bracketed(host)}" + (f":{port}" if port is not None else "")


def host_of(origin: str) -> str:
    """The host of an origin `normalise_origin` made, without the brackets of an IPv6 address."""
    return urlsplit(origin).hostname or ""


def is_loopback(host: str) -> bool:
    address = _ip(host)
    return host in LOOPBACK_HOSTS if address is None else address.is_loopback


def bracketed(host: str) -> str:
    """A host as a URL or a Host header writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
