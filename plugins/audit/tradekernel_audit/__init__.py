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
from tradekernel.api import lazy_exports

# bound here, not lazily: importing the module later would leave the module itself
# under the name of its function
from .prune import PruneDay, PruneResult, prune, retention_cutoff

_LAZY = {
    "SCHEMA": ".bundle",
    "ArchiveResult": ".bundle",
    "archive_day": ".bundle",
    "archive_dir": ".bundle",
    "canonical_bytes": ".bundle",
    "ED25519": ".keys",
    "HMAC_SHA256": ".keys",
    "Ed25519Signer": ".keys",
    "Ed25519Verifier": ".keys",
    "HmacKey": ".keys",
    "Signer": ".keys",
    "Verifier": ".keys",
    "generate_ed25519": ".keys",
    "load_private_key": ".keys",
    "load_public_key": ".keys",
    "signer_from_settings": ".keys",
    "verifiers_from_settings": ".keys",
    "RestoreResult": ".restore",
    "restore_backup": ".restore",
    "BundleCheck": ".verify",
    "verify_bundle": ".verify",
}
"""Imported on first use: registering the plugin imports none of its modules."""

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


__getattr__ = lazy_exports(__name__, _LAZY)
"""The names of :data:`__all__`, each imported on first use: registering this plugin
imports only what its registration needs."""
