"""Signing and verifying keys for audit bundles: Ed25519 (optional ``cryptography``) or
HMAC-SHA256 (standard library).

Keys come from ``[audit]`` settings. Secrets are read only through
:meth:`tradekernel.settings.Settings.secret` (environment) or from a key file; they are
never written anywhere. A key is named in a manifest by its *key id*: ``ed25519:`` and
16 hex digits of the SHA-256 of the raw public key, or ``hmac:`` and 16 hex digits of an
HMAC of a fixed label (so the id reveals nothing a signature does not).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any, Protocol

from tradekernel.api import ConfigError, NotFoundError

ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
MIN_HMAC_KEY_BYTES = 16
_HMAC_ID_LABEL = b"tradekernel audit key id"
_INSTALL_HINT = "install the optional dependency: pip install 'tradekernel-audit[ed25519]'"


class Signer(Protocol):
    """Signs manifest bytes."""

    algorithm: str
    key_id: str

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    """Checks a signature over manifest bytes."""

    algorithm: str
    key_id: str

    def verify(self, data: bytes, signature: bytes) -> bool: ...


# -- HMAC ----------------------------------------------------------------------------


class HmacKey:
    """An HMAC-SHA256 key: signs and verifies. ``repr`` never shows the key."""

    algorithm = HMAC_SHA256

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_HMAC_KEY_BYTES:
            raise ValueError(f"an HMAC key needs at least {MIN_HMAC_KEY_BYTES} bytes")
        self._key = key
        self.key_id = "hmac:" + hmac.new(key, _HMAC_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"HmacKey({self.key_id})"

    def sign(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def verify(self, data: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(data), signature)


# -- Ed25519 -------------------------------------------------------------------------


def _crypto() -> Any:
    """The ``cryptography`` Ed25519 module, imported only when Ed25519 is used."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigError(
            f"Ed25519 signing needs the 'cryptography' package; {_INSTALL_HINT}"
        ) from None
    return ed25519


def _raw_public(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _ed25519_key_id(public_key: Any) -> str:
    return "ed25519:" + hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


class Ed25519Verifier:
    """Verifies Ed25519 signatures with a public key."""

    algorithm = ED25519

    def __init__(self, public_key: Any) -> None:
        self._public = public_key
        self.key_id = _ed25519_key_id(public_key)

    def __repr__(self) -> str:
        return f"Ed25519Verifier({self.key_id})"

    def verify(self, data: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._public.verify(signature, data)
        except InvalidSignature:
            return False
        return True


class Ed25519Signer:
    """Signs with an Ed25519 private key."""

    algorithm = ED25519

    def __init__(self, private_key: Any) -> None:
        self._private = private_key
        self.key_id = _ed25519_key_id(private_key.public_key())

    def __repr__(self) -> str:
        return f"Ed25519Signer({self.key_id})"

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._private.public_key())


def _raw32(text: str) -> bytes | None:
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return raw if len(raw) == 32 else None


def load_private_key(data: bytes, where: str) -> Ed25519Signer:
    """An Ed25519 signer from PKCS#8 PEM, or a 32-byte seed in hex or base64.

    ``where`` names the source in errors; the key material never appears in them."""
    ed25519 = _crypto()
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            raw = _raw32(data.decode("ascii", errors="replace"))
            if raw is None:
                raise ValueError
            key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"{where}: not an unencrypted Ed25519 private key (expected PKCS#8 PEM or a "
            "32-byte seed in hex or base64)"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{where}: the private key is not an Ed25519 key")
    return Ed25519Signer(key)


def load_public_key(path: str | Path) -> Ed25519Verifier:
    """An Ed25519 verifier from a public key file (PEM, or 32 raw bytes in hex/base64)."""
    ed25519 = _crypto()
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{path}: cannot read the public key: {exc.strerror}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            raw = _raw32(data.decode("ascii", errors="replace"))
            if raw is None:
                raise ValueError
            key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"{path}: not an Ed25519 public key (PEM or 32 bytes hex/base64)"
        ) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(f"{path}: the public key is not an Ed25519 key")
    return Ed25519Verifier(key)


def generate_ed25519(path: str | Path) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key pair: ``path`` (private, PKCS#8 PEM, mode 0600) and
    ``path.pub`` (public PEM). Refuses existing files. Returns both paths and the key id."""
    from tradekernel.api import RefusedError

    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    private_path = Path(path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for existing in (private_path, public_path):
        if existing.exists():
            raise RefusedError(f"{existing}: already exists; nothing was written")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path, _ed25519_key_id(key.public_key())


# -- from settings ---------------------------------------------------------------------


def _env_secret(settings: Any, key: str, env_name: str) -> str:
    value = settings.secret(env_name)
    if not value:
        raise ConfigError(
            f"[audit] {key}: the environment variable {env_name} is not set (or is empty)"
        )
    return value


def _hmac_from_env(settings: Any, key: str, env_name: str) -> HmacKey:
    try:
        return HmacKey(_env_secret(settings, key, env_name).encode("utf-8"))
    except ValueError as exc:
        raise ConfigError(f"[audit] {key}: the key in {env_name} is too short: {exc}") from None


def _ed25519_from_settings(settings: Any) -> Ed25519Signer | None:
    audit = settings.audit
    if audit.ed25519_key_env:
        text = _env_secret(settings, "ed25519_key_env", audit.ed25519_key_env)
        return load_private_key(
            text.encode("utf-8"), f"[audit] ed25519_key_env ({audit.ed25519_key_env})"
        )
    if audit.ed25519_key_file:
        path = Path(audit.ed25519_key_file).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"[audit] ed25519_key_file: {path}: cannot read: {exc.strerror}"
            ) from None
        return load_private_key(data, f"[audit] ed25519_key_file ({path})")
    return None


def signer_from_settings(settings: Any) -> Signer:
    """The configured signing key. Refuses (:class:`ConfigError`, exit 2) when none is
    configured: an unsigned archive is never written."""
    audit = settings.audit
    has_ed = bool(audit.ed25519_key_env or audit.ed25519_key_file)
    if audit.signing == "ed25519" or (audit.signing == "auto" and has_ed):
        if not has_ed:
            raise ConfigError(
                '[audit] signing = "ed25519" needs ed25519_key_file or ed25519_key_env'
            )
        signer = _ed25519_from_settings(settings)
        assert signer is not None
        return signer
    if audit.hmac_key_env:
        return _hmac_from_env(settings, "hmac_key_env", audit.hmac_key_env)
    if audit.signing == "hmac":
        raise ConfigError('[audit] signing = "hmac" needs hmac_key_env (the variable to read)')
    raise ConfigError(
        "[audit]: no signing key is configured (set ed25519_key_file, ed25519_key_env or "
        "hmac_key_env); refusing to write an unsigned archive"
    )


def verifiers_from_settings(
    settings: Any,
    *,
    public_keys: tuple[str | Path, ...] = (),
    hmac_key_envs: tuple[str, ...] = (),
) -> list[Verifier]:
    """Every verifying key available: the configured signing key (its public half for
    Ed25519), ``[audit] ed25519_public_keys`` and ``hmac_verify_key_envs``, plus the
    given public key files and HMAC variables. Configured keys whose variable is unset
    are skipped; keys named explicitly must load."""
    audit = settings.audit
    found: list[Verifier] = []
    if audit.ed25519_key_env or audit.ed25519_key_file:
        try:
            signer = _ed25519_from_settings(settings)
        except ConfigError:
            signer = None
        if signer is not None:
            found.append(signer.verifier())
    for path in (*audit.ed25519_public_keys, *public_keys):
        found.append(load_public_key(Path(path).expanduser()))
    if audit.hmac_key_env and settings.secret(audit.hmac_key_env):
        found.append(_hmac_from_env(settings, "hmac_key_env", audit.hmac_key_env))
    for env_name in (*audit.hmac_verify_key_envs, *hmac_key_envs):
        found.append(_hmac_from_env(settings, "hmac_verify_key_envs", env_name))
    unique: dict[tuple[str, str], Verifier] = {}
    for verifier in found:
        unique.setdefault((verifier.algorithm, verifier.key_id), verifier)
    return list(unique.values())
