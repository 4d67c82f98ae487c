"""Signed audit archives of the journal and event log, event-log retention, and restoring
a state backup. See docs/audit.md.

``archive_day`` writes one UTC day's bundle (journal rows with their hashes, events,
daily report, ``manifest.json`` and ``manifest.sig``); ``verify_bundle`` checks it;
``prune`` drops archived days from the live event log; ``restore_backup`` brings a
``tradekernel journal backup`` file back into a fresh state directory.

This distribution (``tradekernel-audit``) adds the ``tradekernel audit`` command; Ed25519
keys need its ``ed25519`` extra (``pip install 'tradekernel-audit[ed25519]'``).
"""

from __future__ import annotations

from tradekernel import hookimpl

from .bundle import SCHEMA, ArchiveResult, archive_day, archive_dir, canonical_bytes
from .keys import (
    ED25519,
    HMAC_SHA256,
    Ed25519Signer,
    Ed25519Verifier,
    HmacKey,
    Signer,
    Verifier,
    generate_ed25519,
    load_private_key,
    load_public_key,
    signer_from_settings,
    verifiers_from_settings,
)
from .prune import PruneDay, PruneResult, prune, retention_cutoff
from .restore import RestoreResult, restore_backup
from .verify import BundleCheck, verify_bundle

TRADEKERNEL_API = ">=1.0,<2"
"""The range of :data:`tradekernel.api.API_VERSION` this plugin was built for."""


@hookimpl
def register_commands(cli):
    """Add ``tradekernel audit`` (imported only when the CLI asks for plugin commands)."""
    from .commands import audit

    cli.add_command(audit)


__all__ = [
    "ED25519",
    "HMAC_SHA256",
    "SCHEMA",
    "ArchiveResult",
    "BundleCheck",
    "Ed25519Signer",
    "Ed25519Verifier",
    "HmacKey",
    "PruneDay",
    "PruneResult",
    "RestoreResult",
    "Signer",
    "Verifier",
    "archive_day",
    "archive_dir",
    "canonical_bytes",
    "generate_ed25519",
    "load_private_key",
    "load_public_key",
    "prune",
    "restore_backup",
    "retention_cutoff",
    "signer_from_settings",
    "verifiers_from_settings",
    "verify_bundle",
]
