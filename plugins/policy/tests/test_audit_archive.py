"""The signed audit bundle of a day holds every policy in force that day (each load of
the day and the one in force at its start) with its signature."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import timedelta

from tradekernel.api import Settings, utcnow
from tradekernel.testing import in_cycle
from tradekernel_audit import archive_day, verifiers_from_settings, verify_bundle

from .conftest import HMAC_ENV, HMAC_KEY
from .test_guard import build, order, policy_file, signed


def archive_settings(kernel):
    return Settings.load(
        kernel.settings.config_path,
        environ={
            HMAC_ENV: HMAC_KEY,
            "TRADEKERNEL_KERNEL__STATE_DIR": str(kernel.settings.state_dir),
        },
    )


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
    name = f"policy.policy.{guard.loaded.policy.sha256[:12]}.toml"
    assert entry["guard"] == "policy" and entry["label"] == guard.loaded.policy.label
    assert entry["sha256"] == entry["journaled_sha256"] == guard.loaded.policy.sha256
    assert entry["signer"].startswith("alice (hmac:")
    assert (result.path / name).read_bytes() == path.read_bytes()
    sig = json.loads((result.path / (name + ".sig")).read_text())
    assert sig["sha256"] == guard.loaded.policy.sha256
    assert verify_bundle(result.path, verifiers_from_settings(settings)).ok
    # the archived policy is covered by the bundle's signature: editing it is caught
    (result.path / name).write_text("[policy]\n")
    check = verify_bundle(result.path, verifiers_from_settings(settings))
    assert not check.ok and f"{name} was changed" in check.problem


def test_archive_of_a_day_holds_every_policy_in_force_that_day(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path, cap=1000, version="1"))
    kernel, _ = build(kernel_factory, tmp_path, path)
    guard = kernel.component("guard", "policy")
    v1 = guard.loaded.policy
    signed(tmp_path, policy_file(tmp_path, cap=5000, version="2"))
    with in_cycle("c2"):
        guard.check(*order(1))
    v2 = guard.loaded.policy
    assert v2.version == "2"
    # the live file changes again after the day (not loaded: unsigned edit)
    path.write_text(path.read_text().replace("5000", "7"))
    settings = archive_settings(kernel)
    today = utcnow().date()
    result = archive_day(settings, today.isoformat(), out_dir=tmp_path / "archives")
    entries = result.manifest["policies"]
    assert [(e["label"], e["in_force_at_start"]) for e in entries] == [
        (v1.label, False),
        (v2.label, False),
    ]
    for e, p in zip(entries, (v1, v2), strict=True):
        assert e["sha256"] == e["journaled_sha256"] == p.sha256
        assert e["file"] == f"policy.policy.{p.sha256[:12]}.toml"
        assert json.loads((result.path / e["signature"]).read_text())["sha256"] == p.sha256
        data = (result.path / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == p.sha256
    assert verify_bundle(result.path, verifiers_from_settings(settings)).ok

    # the next day: the policy in force at its start is v2, although the file changed
    tomorrow = (today + timedelta(days=1)).isoformat()
    nxt = archive_day(settings, tomorrow, out_dir=tmp_path / "archives2")
    (entry,) = nxt.manifest["policies"]
    assert (entry["label"], entry["in_force_at_start"]) == (v2.label, True)
    assert entry["file"] == f"policy.policy.{v2.sha256[:12]}.toml"

    # without the guard's copies, a changed live file is not passed off as the policy
    shutil.rmtree(kernel.settings.state_dir / "policies")
    gone = archive_day(settings, today.isoformat(), out_dir=tmp_path / "archives3")
    assert [(e["file"], e["reason"]) for e in gone.manifest["policies"]] == [
        (None, "changed since loaded"),
        (None, "changed since loaded"),
    ]
