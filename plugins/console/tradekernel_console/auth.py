"""Logins, sessions and CSRF tokens for the console (standard library and itsdangerous).

* Passwords are stored as ``scrypt$N$r$p$salt$hash`` (``tradekernel console
  hash-password``); ``pbkdf2_sha256$iterations$salt$hash`` is accepted too. Salts and
  hashes are unpadded URL-safe base64.
* A session is server-side: the cookie holds a signed random id (itsdangerous, with a
  maximum age), so logging out or restarting the server ends it for good.
* Each session has its CSRF token; the login form has its own, bound to a signed
  pre-login cookie.
* Logins are limited per client address (failures and attempts in flight, reserved
  before the slow hash) and per login name (one attempt in flight at a time), see
  :class:`LoginLimiter`.
* A login name is an approver name (:func:`tradekernel.api.approver_name`): a configured
  user's name needs that user's password; the start token logs in under any other valid,
  unreserved name, and such a session never counts toward a quorum of two or more.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from attrs import define, field

Clock = Callable[[], float]

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_MEMORY = 2**28
"""A hostile or mistyped configuration must not make one login cost gigabytes: scrypt
needs about ``128 * N * r * p`` bytes, at most 256 MiB here (the default uses 16 MiB)."""
PBKDF2_ITERATIONS = (100_000, 10_000_000)
MAX_PASSWORD = 1024
"""Longer passwords are refused before hashing (a login cannot be made to cost more)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The scrypt hash of ``password`` in the ``[console] users`` format."""
    if not password or len(password) > MAX_PASSWORD:
        raise ValueError(f"a password must be 1 to {MAX_PASSWORD} characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def hash_problem(encoded: Any) -> str | None:
    """Why ``encoded`` is not a usable password hash, or ``None``."""
    if not isinstance(encoded, str):
        return f"expected a password hash string, got {type(encoded).__name__}"
    parts = encoded.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            if n < 2 or n & (n - 1) or n > MAX_SCRYPT_N or not 1 <= r <= 32 or not 1 <= p <= 16:
                return "scrypt parameters out of range (N a power of two up to 2**20, r, p)"
            if 128 * n * r * p > MAX_SCRYPT_MEMORY:
                return "scrypt parameters need more than 256 MiB per login (128*N*r*p)"
            if len(_unb64(parts[4])) < 8 or len(_unb64(parts[5])) < 16:
                return "scrypt salt or hash too short"
            return None
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            rounds = int(parts[1])
            if not PBKDF2_ITERATIONS[0] <= rounds <= PBKDF2_ITERATIONS[1]:
                return "pbkdf2 iterations out of range (100000 to 10000000)"
            if len(_unb64(parts[2])) < 8 or len(_unb64(parts[3])) < 16:
                return "pbkdf2 salt or hash too short"
            return None
    except ValueError:
        return "malformed password hash"
    return (
        "not a password hash (expected scrypt$N$r$p$salt$hash from "
        "`tradekernel console hash-password`, or pbkdf2_sha256$iterations$salt$hash)"
    )


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded`` (constant-time comparison)."""
    if hash_problem(encoded) is not None or len(password) > MAX_PASSWORD:
        return False
    parts = encoded.split("$")
    secret = password.encode("utf-8")
    if parts[0] == "scrypt":
        n, r, p = (int(x) for x in parts[1:4])
        want = _unb64(parts[5])
        got = hashlib.scrypt(
            secret,
            salt=_unb64(parts[4]),
            n=n,
            r=r,
            p=p,
            dklen=len(want),
            maxmem=2 * MAX_SCRYPT_MEMORY,
        )
    else:
        want = _unb64(parts[3])
        got = hashlib.pbkdf2_hmac("sha256", secret, _unb64(parts[2]), int(parts[1]), len(want))
    return hmac.compare_digest(got, want)


@functools.cache
def _dummy() -> str:
    """A hash to check a password against when no user's hash applies (same cost)."""
    return hash_password("not a real password", salt=b"\0" * 16)


@define
class Session:
    """One logged-in operator."""

    sid: str
    user: str
    csrf: str
    method: str
    """How the session logged in: ``password`` (a configured user) or ``token``."""
    expires: float
    confirmations: dict[str, str] = field(factory=dict)
    """Confirmation token -> the action it confirms (kill switch, mode): one use each."""
    flash: str | None = None
    """What the last form did, shown once on the next page."""


class Sessions:
    """Server-side sessions behind a signed cookie value."""

    def __init__(self, secret: bytes, ttl: float, *, clock: Clock = time.time) -> None:
        from itsdangerous import TimestampSigner

        self._signer = TimestampSigner(secret, salt="tradekernel-console-session")
        self._login_signer = TimestampSigner(secret, salt="tradekernel-console-login")
        self.ttl = ttl
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str, method: str = "password") -> tuple[Session, str]:
        """A new session for ``user`` (logged in by ``method``) and its cookie value."""
        session = Session(
            sid=secrets.token_urlsafe(32),
            user=user,
            method=method,
            csrf=secrets.token_urlsafe(32),
            expires=self.clock() + self.ttl,
        )
        with self._lock:
            now = self.clock()
            for sid in [s for s, v in self._sessions.items() if v.expires <= now]:
                del self._sessions[sid]
            self._sessions[session.sid] = session
        return session, self._signer.sign(session.sid).decode("ascii")

    def get(self, cookie: str | None) -> Session | None:
        """The live session of a cookie value, or ``None`` (unsigned, expired, ended)."""
        if not cookie:
            return None
        from itsdangerous import BadSignature

        try:
            sid = self._signer.unsign(cookie, max_age=int(self.ttl) + 1).decode("ascii")
        except (BadSignature, UnicodeError):
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires <= self.clock():
                del self._sessions[sid]
                return None
        return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.sid, None)

    def login_nonce(self) -> tuple[str, str]:
        """A pre-login cookie value and the CSRF token of the login form bound to it."""
        nonce = secrets.token_urlsafe(24)
        return self._login_signer.sign(nonce).decode("ascii"), self._login_token(nonce)

    def login_token_ok(self, cookie: str | None, token: str | None) -> bool:
        """True when ``token`` is the login form's CSRF token for the pre-login ``cookie``."""
        from itsdangerous import BadSignature

        if not cookie or not token:
            return False
        try:
            nonce = self._login_signer.unsign(cookie, max_age=3600).decode("ascii")
        except (BadSignature, UnicodeError):
            return False
        return hmac.compare_digest(self._login_token(nonce), token)

    def _login_token(self, nonce: str) -> str:
        return self._login_signer.get_signature(f"csrf:{nonce}".encode()).decode("ascii")


def same_token(expected: str, given: Any) -> bool:
    """Constant-time check of a submitted token."""
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


class LoginLimiter:
    """The login limit.

    * Per client address: at most ``attempts`` failed logins per ``window`` seconds,
      counting the attempts still being checked. The attempt is reserved under a lock
      *before* the slow password hash, so a burst of simultaneous wrong passwords gets
      no more checks than a sequence of them.
    * Per login name: one attempt in flight at a time, and no lockout. A lockout by name
      would let anyone keep an operator out with a few wrong guesses; instead, guesses
      at one name from many addresses are checked one after another, and the operator's
      correct password from an address that has not failed still passes.
    """

    def __init__(self, attempts: int = 5, window: float = 300.0, *, clock: Clock = time.time):
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def acquire(self, address: str, name: str) -> float:
        """Reserve a login attempt from ``address`` for ``name``: 0 when it may be checked
        now (then call :meth:`release` exactly once), else the seconds to wait."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > 10_000:  # a flood of addresses: forget the idle ones
                for key in [k for k, v in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[key]
            failures = self._recent(address, now)
            flying = self._in_flight.get(address, 0)
            if len(failures) + flying >= self.attempts:
                return max(failures[0] + self.window - now, 1.0) if failures else 1.0
            if name in self._names:
                return 1.0
            self._in_flight[address] = flying + 1
            self._names.add(name)
        return 0.0

    def release(self, address: str, name: str, *, failed: bool) -> None:
        """End an attempt :meth:`acquire` reserved; a failed one counts for ``address``."""
        now = self.clock()
        with self._lock:
            self._names.discard(name)
            left = self._in_flight.get(address, 1) - 1
            if left > 0:
                self._in_flight[address] = left
            else:
                self._in_flight.pop(address, None)
            if failed:
                self._recent(address, now).append(now)


@define(frozen=True)
class Login:
    """Who a login acts as and how it logged in (``password`` or ``token``)."""

    actor: str
    method: str


def user_table(users: Mapping[str, str]) -> dict[str, str]:
    """``[console] users`` keyed by approver name (NFKC, casefolded): ``Alice`` and
    ``alice`` are one user. Raises ``ValueError`` naming a user whose name is not a valid
    approver name or collides with another's."""
    from tradekernel.api import RefusedError, approver_name

    table: dict[str, str] = {}
    for name, encoded in users.items():
        try:
            key = approver_name(name)
        except RefusedError as exc:
            raise ValueError(f"user {inert_name(name)}: {exc}") from None
        if key in table:
            raise ValueError(f"user {inert_name(name)}: the same approver name as another user")
        table[key] = encoded
    return table


def inert_name(name: str) -> str:
    from tradekernel.api import inert

    return repr(inert(name))


def check_login(
    users: Mapping[str, str], token: str | None, name: str, password: str
) -> Login | None:
    """Who a login acts as, or ``None``. ``users`` is :func:`user_table`'s (keyed by
    approver name). A configured user logs in with their password; anyone with the start
    token logs in under any other valid approver name that is not reserved."""
    from tradekernel.api import RESERVED_ACTORS, RefusedError, approver_name

    try:
        actor = approver_name(name)
    except RefusedError:
        actor = None
    encoded = users.get(actor) if actor is not None else None
    if encoded is not None:
        return Login(actor, "password") if verify_password(password, encoded) else None
    if (
        actor is not None
        and actor not in RESERVED_ACTORS
        and token is not None
        and same_token(token, password)
    ):
        return Login(actor, "token")
    verify_password(password, _dummy())  # the same cost whether or not the name exists
    return None
