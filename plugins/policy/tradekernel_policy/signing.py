"""Signing and verifying policy files with the audit keys (``[audit]``: Ed25519 or
HMAC-SHA256, through ``tradekernel-audit``'s key loading).

A signature lives beside the policy in ``<file>.sig`` (JSON, schema
``policy-signature.v1``): the file's SHA-256, who signed it, the key id and the
signature over the canonical JSON of everything else. Any change to the policy file
changes its digest, so a tampered policy never verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

from attrs import frozen
from tradekernel.api import ConfigError, atomic_write, canonical_json, utcnow

SCHEMA = "policy-signature.v1"
MAX_SIG_BYTES = 64 * 1024
MAX_BY = 64
"""The longest signer name (``sign --by``)."""


def signer_problem(by: str) -> str | None:
    """Why ``by`` cannot be a signer name (control, format or separator characters, or
    longer than :data:`MAX_BY`), or ``None`` when it can."""
    if len(by) > MAX_BY:
        return f"at most {MAX_BY} characters"
    if by != by.strip():
        return "leading or trailing blanks"
    for ch in by:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"control or format character U+{ord(ch):04X}"
    return None


class SignatureProblem(Exception):
    """A policy that is unsigned, tampered with, or signed by an unknown key."""


@frozen
class Signed:
    """A verified policy signature."""

    sha256: str
    key_id: str
    algorithm: str
    by: str
    signed_at: str

    @property
    def signer(self) -> str:
        """Who signed: ``by (key id)``, or the key id alone."""
        return f"{self.by} ({self.key_id})" if self.by else self.key_id


def signature_path(policy: str | Path) -> Path:
    """Where the signature of ``policy`` lives: ``<policy>.sig``."""
    policy = Path(policy)
    return policy.with_name(policy.name + ".sig")


def _payload(body: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in body.items() if k != "signature"}).encode("utf-8")


def sign_file(settings: Any, policy: str | Path, *, by: str = "") -> tuple[Path, Signed]:
    """Sign ``policy`` with the configured audit key; write ``<policy>.sig``
    (:class:`ConfigError` for a ``by`` with control characters)."""
    from tradekernel_audit import signer_from_settings

    from .language import compile_bytes, read_policy

    problem = signer_problem(by)
    if problem:
        raise ConfigError(f"--by: not a signer name ({problem})")
    data = read_policy(Path(policy))
    compile_bytes(data, str(policy))  # never sign a policy that does not compile
    signer = signer_from_settings(settings)
    body = {
        "schema": SCHEMA,
        "sha256": hashlib.sha256(data).hexdigest(),
        "algorithm": signer.algorithm,
        "key_id": signer.key_id,
        "by": by,
        "signed_at": utcnow().isoformat(),
    }
    body["signature"] = base64.b64encode(signer.sign(_payload(body))).decode("ascii")
    path = signature_path(policy)
    atomic_write(path, json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path, _signed(body)


def _signed(body: dict[str, Any]) -> Signed:
    return Signed(
        sha256=body["sha256"],
        key_id=body["key_id"],
        algorithm=body["algorithm"],
        by=body.get("by", ""),
        signed_at=body.get("signed_at", ""),
    )


def read_signature(policy: str | Path) -> dict[str, Any]:
    """The signature file of ``policy``, checked for shape (:class:`SignatureProblem`)."""
    path = signature_path(policy)
    try:
        raw = path.read_bytes()[: MAX_SIG_BYTES + 1]
    except FileNotFoundError:
        raise SignatureProblem(
            f"{policy}: unsigned (no {path.name}; run `tradekernel policy sign`)"
        ) from None
    except OSError as exc:
        raise SignatureProblem(f"{path}: cannot read: {exc.strerror}") from None
    try:
        body = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_SIG_BYTES else None
    except (UnicodeDecodeError, ValueError):
        body = None
    keys = ("schema", "sha256", "algorithm", "key_id", "signature")
    if (
        not isinstance(body, dict)
        or body.get("schema") != SCHEMA
        or not all(isinstance(body.get(k), str) for k in keys)
        or not isinstance(body.get("by", ""), str)
        or not isinstance(body.get("signed_at", ""), str)
    ):
        raise SignatureProblem(f"{path}: not a policy signature ({SCHEMA})")
    problem = signer_problem(body.get("by", ""))
    if problem:
        raise SignatureProblem(f"{path}: the signer name is not acceptable ({problem})")
    return body


def verify_bytes(settings: Any, policy: str | Path, data: bytes) -> Signed:
    """Check that ``data`` (the policy file's bytes) carries a valid signature by a key
    the ``[audit]`` settings trust; :class:`SignatureProblem` names what is wrong."""
    from tradekernel_audit import verifiers_from_settings

    body = read_signature(policy)
    digest = hashlib.sha256(data).hexdigest()
    if body["sha256"] != digest:
        raise SignatureProblem(
            f"{policy}: tampered: its sha256 {digest[:12]} is not the signed {body['sha256'][:12]}"
        )
    try:
        signature = base64.b64decode(body["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureProblem(f"{signature_path(policy)}: the signature is not base64") from None
    try:
        verifiers = verifiers_from_settings(settings)
    except ConfigError as exc:
        raise SignatureProblem(f"{policy}: cannot load the verifying keys: {exc}") from None
    known = [
        v for v in verifiers if v.algorithm == body["algorithm"] and v.key_id == body["key_id"]
    ]
    if not known:
        raise SignatureProblem(
            f"{policy}: signed by {body['key_id']}, a key [audit] does not trust"
        )
    if not any(v.verify(_payload(body), signature) for v in known):
        raise SignatureProblem(f"{policy}: the signature does not verify (tampered signature)")
    return _signed(body)


def verify_file(settings: Any, policy: str | Path) -> Signed:
    """:func:`verify_bytes` on the file as it is on disk (a policy file that cannot be
    read is :class:`~tradekernel_policy.PolicyError`, a usage problem, not a signature
    one)."""
    from .language import read_policy

    return verify_bytes(settings, policy, read_policy(Path(policy)))
