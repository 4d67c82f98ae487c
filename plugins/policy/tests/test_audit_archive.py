"""The signed audit bundle holds the active policy file and its signature."""

from __future__ import annotations

import json

from tradekernel.api import Settings, utcnow
from tradekernel_audit import archive_day, verifiers_from_settings, verify_bundle

from .conftest import HMAC_ENV, HMAC_KEY
from .test_guard import build, policy_file, signed


def test_archive_holds_the_active_policy_and_signature(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path))
    kernel, _ = build(kernel_factory, tmp_path, path)
    guard = kernel.component("guard", "policy")  # loading journals it
    settings = Settings.load(
        kernel.settings.config_path,
        environ={
            HMAC_ENV: HMAC_KEY,
            "TRADEKERNEL_KERNEL__STATE_DIR": str(kernel.settings.state_dir),
        },
    )
    day = utcnow().date().isoformat()
    result = archive_day(settings, day, out_dir=tmp_path / "archives")
    (entry,) = result.manifest["policies"]
    assert entry["guard"] == "policy" and entry["label"] == guard.loaded.policy.label
    assert entry["sha256"] == entry["journaled_sha256"] == guard.loaded.policy.sha256
    assert entry["signer"].startswith("alice (hmac:")
    assert (result.path / "policy.policy.toml").read_bytes() == path.read_bytes()
    sig = json.loads((result.path / "policy.policy.toml.sig").read_text())
    assert sig["sha256"] == guard.loaded.policy.sha256
    assert verify_bundle(result.path, verifiers_from_settings(settings)).ok
    # the archived policy is covered by the bundle's signature: editing it is caught
    (result.path / "policy.policy.toml").write_text("[policy]\n")
    check = verify_bundle(result.path, verifiers_from_settings(settings))
    assert not check.ok and "policy.policy.toml was changed" in check.problem
