"""The page's sessions: the token typed once into the page is traded for a random session id, which the browser
keeps in an HttpOnly cookie. The database holds only the sha256 of each id, with its expiry and a fingerprint of
the auth_token it was issued under: a session ends when it expires or when the token in the configuration
changes. Failed trades are counted per client network and for the whole daemon, so the token cannot be guessed
at speed, not even by rotating source addresses."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections import OrderedDict, deque

from hikaze_mm.store.errors import StoreUnreachable
from hikaze_mm.store.interfaces import SessionStore

SESSION_DAYS = 30
SESSION_S = SESSION_DAYS * 24 * 3600
MAX_FAILURES = 5  # wrong tokens a client network may send per window
MAX_FAILURES_ALL = 30  # and all of them together: past this everyone waits, the right token too
FAILURE_WINDOW_S = 60.0
MAX_TRACKED = 4096  # client networks remembered; the one unheard from longest goes first
EVERYONE = "*"
MAX_SEEN = 1024  # valid sessions remembered for an outage of a shared database; the longest unused goes first


def client_network(client: str) -> str:
    """The unit the limit counts: every loopback address is one client (127.0.0.2 is as near as 127.0.0.1), an IPv4
    address its /24 and an IPv6 address its /64, the block one machine can take addresses from at will."""
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def token_fingerprint(token: str) -> str:
    return _sha256("hikaze-mm auth_token\0" + token)


class Sessions:
    def __init__(self, store: SessionStore, token: str | None):
        self._store = store
        self._token = token
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._seen: OrderedDict[str, tuple[str, float]] = OrderedDict()  # sessions the database last said are valid

    def token_matches(self, given: str) -> bool:
        return self._token is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                               self._token.encode("utf-8", "surrogatepass"))

    async def forget_stale(self) -> None:
        """Ends for good the sessions that expired or were issued under another auth_token (or any, when the daemon
        runs without one): going back to an old token does not bring them back."""
        await self._store.drop_sessions(token_fingerprint(self._token) if self._token else "", time.time())

    async def issue(self) -> str:
        """A new session id for the current token."""
        assert self._token is not None, "sessions exist only when the daemon has an auth_token"
        await self.forget_stale()
        now = time.time()
        session_id = secrets.token_urlsafe(32)
        await self._store.add_session(_sha256(session_id), token_fingerprint(self._token), now, now + SESSION_S)
        return session_id

    async def valid(self, session_id: str) -> bool:
        """Whether the session is one of the current token's and has not expired, as the database says; while a
        shared database is out of reach, as it said when this daemon last asked (so a page that is logged in can
        still read the status, which says the database is away). A session it never saw cannot be checked then."""
        if self._token is None or not session_id or len(session_id) > 200:
            return False
        key = _sha256(session_id)
        try:
            found = await self._store.session(key)
        except StoreUnreachable:
            found = self._seen.get(key)
            if found is None:
                raise
        fingerprint, expires_at = found if found is not None else ("", 0.0)
        valid = hmac.compare_digest(fingerprint, token_fingerprint(self._token)) and time.time() < expires_at
        self._seen.pop(key, None)
        if valid:
            self._seen[key] = (fingerprint, expires_at)
            while len(self._seen) > MAX_SEEN:
                self._seen.popitem(last=False)
        return valid

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it may now."""
        waits = [self._wait(key, most) for key, most in self._buckets(client)]
        return max((w for w in waits if w is not None), default=None)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        for key, most in self._buckets(client):
            failures = self._failures.pop(key, None) or deque(maxlen=most)
            failures.append(now)
            self._failures[key] = failures
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    @staticmethod
    def _buckets(client: str) -> tuple[tuple[str, int], ...]:
        return (client_network(client), MAX_FAILURES), (EVERYONE, MAX_FAILURES_ALL)

    def _wait(self, key: str, most: int) -> int | None:
        failures = self._failures.get(key)
        now = time.monotonic()
        while failures and failures[0] <= now - FAILURE_WINDOW_S:
            failures.popleft()
        if not failures or len(failures) < most:
            return None
        return max(1, math.ceil(failures[0] + FAILURE_WINDOW_S - now))
