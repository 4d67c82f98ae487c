"""Signed JSON records (readiness reports, restore-drill records): the audit key signs
the canonical body; a record read back counts only when its signature verifies."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tradekernel.api import Settings

from .releases import canonical
from .safefile import SMALL_LIMIT, UnsafeFile, read_small


def sign(settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with a ``signature`` of the audit key (no key: ConfigError, exit 2)."""
    from tradekernel_audit import signer_from_settings

    signer = signer_from_settings(settings)
    return {
        **body,
        "signature": {
            "algorithm": signer.algorithm,
            "key_id": signer.key_id,
            "signature": base64.b64encode(signer.sign(canonical(body))).decode(),
        },
    }


def read_signed(
    settings: Settings, path: Path, what: str, missing: str
) -> tuple[dict[str, Any] | None, str]:
    """The record in ``path`` without its signature, when the signature verifies:
    ``(record, "")``; else ``(None, why)`` (``missing`` when there is no file)."""
    from tradekernel_audit import verifiers_from_settings

    try:
        data = json.loads(read_small(path, SMALL_LIMIT))
    except FileNotFoundError:
        return None, missing
    except UnsafeFile as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"{path}: unreadable ({type(exc).__name__})"
    if not isinstance(data, dict) or not isinstance(data.get("signature"), dict):
        return None, f"{path}: not a signed {what}"
    signature = data.pop("signature")
    try:
        raw = base64.b64decode(str(signature.get("signature", "")), validate=True)
    except ValueError:
        return None, f"{path}: its signature is not base64"
    for verifier in verifiers_from_settings(settings):
        if (verifier.algorithm, verifier.key_id) == (
            signature.get("algorithm"),
            signature.get("key_id"),
        ):
            if verifier.verify(canonical(data), raw):
                return data, ""
            break
    return None, f"{path}: its signature does not verify (altered, or another key)"
