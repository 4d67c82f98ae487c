"""The policy guard in a kernel: signatures (a tampered or unsigned policy refused, exit
3), the load journaled and announced, verdicts naming rule and version, hot reload at
cycle boundaries (a good file swapped in, a bad one kept out with an error event)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tradekernel.api import GuardContext, Intent, Quote, RefusedError, Settings, Store
from tradekernel.testing import in_cycle, invoke
from tradekernel_policy.signing import sign_file

from .conftest import HMAC_ENV, HMAC_KEY, POLICY_HEAD, write

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)
CAP = """
[[rule]]
id = "cap"
description = "orders up to {cap}"
effect = "deny"
code = "order_notional_exceeded"
when = {{ field = "intent.notional", op = ">", value = {cap} }}
"""


SECRET_ENV = "TK_TEST_POLICY_LLM_KEY"
SECRET = "sk-test-SUPERSECRET-1234567890"


def config(policy: Path, require: bool = True, extra: str = "") -> str:
    return f"""
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "hold"
guards = ["policy"]
notifiers = []
metrics_sinks = []

[guard.policy]
file = "{policy}"

[audit]
hmac_key_env = "{HMAC_ENV}"

[policy]
require_signature = {str(require).lower()}
{extra}"""


def policy_file(tmp_path: Path, cap: int = 1000, version: str = "1") -> Path:
    text = POLICY_HEAD.replace('version = "1"', f'version = "{version}"') + CAP.format(cap=cap)
    return write(tmp_path / "policy.toml", text)


def signed(tmp_path: Path, path: Path) -> Path:
    settings = Settings.load(
        write(tmp_path / "sign.toml", f'[audit]\nhmac_key_env = "{HMAC_ENV}"\n'),
        environ={HMAC_ENV: HMAC_KEY},
    )
    sign_file(settings, path, by="alice")
    return path


def order(quantity: int) -> tuple[Intent, GuardContext]:
    intent = Intent.create(symbol="AAA", side="buy", quantity=quantity, as_of=NOW)
    ctx = GuardContext(
        as_of=NOW, quote=Quote(symbol="AAA", ts=NOW, last="10"), positions={}, account=None
    )
    return intent, ctx


def build(kernel_factory, tmp_path, path, require=True):
    return kernel_factory.build(config(path, require), environ={HMAC_ENV: HMAC_KEY})


def test_unsigned_policy_is_refused_when_signatures_are_required(kernel_factory, tmp_path):
    kernel, _ = build(kernel_factory, tmp_path, policy_file(tmp_path))
    with pytest.raises(RefusedError, match="unsigned"):
        kernel.check()


def test_tampered_policy_is_refused_exit_3_one_line(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path))
    path.write_text(path.read_text().replace("1000", "100000"))  # raise the cap behind its back
    cfg = kernel_factory.write_config(config(path))
    result = invoke(["--config", str(cfg), "run", "--once"], env={HMAC_ENV: HMAC_KEY})
    assert result.exit_code == 3, result
    assert "tampered" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "state" / "state.db").exists()  # refused before anything was written


def test_signature_by_an_untrusted_key_is_refused(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path))
    kernel, _ = kernel_factory.build(
        config(path), environ={HMAC_ENV: "another-key-0123456789abcdef"}
    )
    with pytest.raises(RefusedError, match="does not trust"):
        kernel.check()


def test_unsigned_policy_loads_when_not_required(kernel_factory, tmp_path):
    kernel, recorder = build(kernel_factory, tmp_path, policy_file(tmp_path), require=False)
    kernel.check()
    guard = kernel.component("guard", "policy")
    (event,) = recorder.of("policy", "loaded")
    assert event.fields["signer"] == "unsigned"
    assert guard.loaded.signed is None


def test_load_is_journaled_and_verdicts_name_rule_and_version(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path))
    kernel, recorder = build(kernel_factory, tmp_path, path)
    kernel.check()
    guard = kernel.component("guard", "policy")
    label = guard.loaded.policy.label
    (event,) = recorder.of("policy", "loaded")
    assert event.fields["label"] == label and "alice" in event.fields["signer"]
    assert event.fields["reload"] is False
    with Store.open(kernel.settings.state_dir) as store:
        value = store.get_control("policy:policy")
        assert value["sha256"] == guard.loaded.policy.sha256
        assert value["signer"].startswith("alice (hmac:")
        assert [r.entity for r in store.journal_rows()][-1] == "control:policy:policy"
        assert store.verify_journal().ok
    with in_cycle("c1"):
        big = guard.check(*order(200))
        small = guard.check(*order(5))
    assert (big.allow, big.code, big.rule, big.version) == (
        False,
        "order_notional_exceeded",
        "cap",
        label,
    )
    assert (small.allow, small.rule, small.version) == (True, "default", label)


def test_hot_reload_good_and_bad(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path, cap=1000, version="1"))
    kernel, recorder = build(kernel_factory, tmp_path, path)
    guard = kernel.component("guard", "policy")
    with in_cycle("c1"):
        assert guard.check(*order(200)).allow is False
        # a new signed file mid-cycle is not picked up until the cycle boundary
        signed(tmp_path, policy_file(tmp_path, cap=5000, version="2"))
        assert guard.check(*order(200)).allow is False
    with in_cycle("c2"):
        verdict = guard.check(*order(200))
    assert verdict.allow is True and verdict.version.startswith("2@")
    reloads = [e for e in recorder.of("policy", "loaded") if e.fields["reload"]]
    assert len(reloads) == 1 and reloads[0].fields["version"] == "2"

    # an edited file that is not re-signed: the old policy stays and an alert goes out
    path.write_text(path.read_text().replace("5000", "1"))
    with in_cycle("c3"):
        kept = guard.check(*order(200))
    with in_cycle("c4"):
        guard.check(*order(200))
    assert kept.allow is True and kept.version.startswith("2@")
    (failed,) = recorder.of("policy", "load_failed")  # once, not every cycle
    assert str(failed.severity) == "error" and "tampered" in failed.fields["error"]

    # a signed file that does not compile: kept out too
    write(
        path,
        POLICY_HEAD + '\n[[rule]]\nid = "x"\neffect = "deny"\ncode = "c"\n'
        'when = { field = "intent.nope", op = ">", value = 1 }\n',
    )
    signed_ok = True
    try:
        signed(tmp_path, path)
    except Exception:
        signed_ok = False  # sign refuses a policy that does not compile
    assert signed_ok is False
    with in_cycle("c5"):
        assert guard.check(*order(200)).version.startswith("2@")
    with Store.open(kernel.settings.state_dir) as store:
        rows = [r for r in store.journal_rows() if r.entity == "control:policy:policy"]
        assert [r.reason for r in rows] == ["policy loaded", "policy reloaded"]


@pytest.mark.parametrize(
    ("kernel", "policy", "required"),
    [
        ('mode = "paper"', "", False),
        ('mode = "live"\nlive_acknowledged = true', "", True),
        ('mode = "paper"\nlive_acknowledged = true', "", True),  # --mode live is possible
        ('mode = "live"\nlive_acknowledged = true', "require_signature = false", False),
        ('mode = "paper"', "require_signature = true", True),
    ],
)
def test_signatures_are_required_by_default_whenever_live_trading_is_possible(
    tmp_path, kernel, policy, required
):
    from tradekernel_policy.guard import requires_signature

    text = f"[kernel]\n{kernel}\n\n[policy]\n{policy}\n"
    settings = Settings.load(write(tmp_path / "plugins.toml", text), environ={})
    assert requires_signature(settings) is required


def test_a_relative_policy_path_is_relative_to_the_configuration_file(kernel_factory, tmp_path):
    policy_file(tmp_path)
    kernel, _ = build(kernel_factory, tmp_path, Path("policy.toml"), require=False)
    guard = kernel.component("guard", "policy")
    assert guard.path == tmp_path / "policy.toml"


def test_a_policy_that_does_not_compile_is_a_config_error_naming_the_section(
    kernel_factory, tmp_path
):
    from tradekernel.api import ConfigError

    path = write(tmp_path / "policy.toml", POLICY_HEAD + '[[rule]]\nid = "r"\neffect = "no"\n')
    kernel, _ = build(kernel_factory, tmp_path, path, require=False)
    with pytest.raises(ConfigError) as raised:
        kernel.check()
    assert "[guard.policy] file:" in str(raised.value)
    assert "rule r: effect: expected one of deny, allow, require_approvals" in str(raised.value)


def test_cycles_without_intents_pick_up_a_changed_policy_and_alert_a_bad_one(
    kernel_factory, tmp_path
):
    """The hold strategist proposes nothing: the guard is never asked, yet the policy
    file is looked at after every cycle (the cycle-end watch)."""
    from tradekernel.api import Runtime

    path = signed(tmp_path, policy_file(tmp_path, cap=1000, version="1"))
    kernel, recorder = build(kernel_factory, tmp_path, path)
    with Runtime(kernel) as runtime:
        runtime.start()
        runtime.run_cycle()
        signed(tmp_path, policy_file(tmp_path, cap=5000, version="2"))
        runtime.run_cycle()
        guard = kernel.component("guard", "policy")
        assert guard.loaded.policy.version == "2"
        (reload,) = [e for e in recorder.of("policy", "loaded") if e.fields["reload"]]
        assert reload.cycle_id  # emitted within the cycle that ended
        path.write_text(path.read_text().replace("5000", "1"))  # edited, not re-signed
        runtime.run_cycle()
        runtime.run_cycle()
    assert guard.loaded.policy.version == "2"
    (failed,) = recorder.of("policy", "load_failed")
    assert str(failed.severity) == "error" and failed.fields["kept"].startswith("2@")


def test_secrets_never_reach_policy_db(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path))
    extra = f'[llm_provider.openai-compatible]\napi_key_env = "{SECRET_ENV}"\n'
    kernel, _ = kernel_factory.build(
        config(path, extra=extra), environ={HMAC_ENV: HMAC_KEY, SECRET_ENV: SECRET}
    )
    guard = kernel.component("guard", "policy")
    intent, ctx = order(5)
    intent = Intent.create(
        symbol="AAA",
        side="buy",
        quantity=5,
        as_of=NOW,
        rationale=f"the key is {SECRET}",
        strategist=f"s-{SECRET}",
        prompt_version=SECRET,
    )
    with in_cycle("c1"):
        assert guard.check(intent, ctx).allow
    raw = (Path(kernel.settings.state_dir) / "policy.db").read_bytes()
    wal = Path(kernel.settings.state_dir) / "policy.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert SECRET[:12].encode() not in raw
    assert b"the key is" not in raw  # the rationale is not recorded at all
    from tradekernel_policy.records import evaluation

    recorded = evaluation(kernel.settings.state_dir, intent.id)
    assert recorded.intent.quantity == 5 and recorded.intent.rationale == ""


def test_a_reload_that_cannot_be_journaled_keeps_the_old_policy_and_retries(
    kernel_factory, tmp_path
):
    path = signed(tmp_path, policy_file(tmp_path, cap=1000, version="1"))
    kernel, recorder = build(kernel_factory, tmp_path, path)
    guard = kernel.component("guard", "policy")
    with in_cycle("c1"):
        assert guard.check(*order(200)).allow is False
    signed(tmp_path, policy_file(tmp_path, cap=5000, version="2"))
    real = guard._journal
    failures = []

    def disk_full(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    guard._journal = disk_full
    with in_cycle("c2"):
        kept = guard.check(*order(200))
    assert kept.allow is False and kept.version.startswith("1@")
    (failed,) = recorder.of("policy", "load_failed")
    assert "journal" in failed.fields["error"] and failed.fields["kept"].startswith("1@")
    with in_cycle("c3"):  # the next boundary retries
        now = guard.check(*order(200))
    assert now.allow is True and now.version.startswith("2@")
    with Store.open(kernel.settings.state_dir) as store:
        assert store.get_control("policy:policy")["label"] == now.version


def test_a_locked_policy_db_denies_without_stalling_and_warns_once_per_cycle(
    kernel_factory, tmp_path
):
    import sqlite3

    from tradekernel_policy.guard import RECORD_FAILED
    from tradekernel_policy.records import BUSY_TIMEOUT_S

    assert BUSY_TIMEOUT_S <= 0.5
    path = signed(tmp_path, policy_file(tmp_path))
    kernel, recorder = build(kernel_factory, tmp_path, path)
    guard = kernel.component("guard", "policy")
    assert RECORD_FAILED in guard.codes
    holder = sqlite3.connect(Path(kernel.settings.state_dir) / "policy.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with in_cycle("c1"):
        verdicts = [guard.check(*order(n)) for n in (1, 2, 3)]
    assert [(v.allow, v.code) for v in verdicts] == [(False, RECORD_FAILED)] * 3
    assert verdicts[0].version == guard.loaded.policy.label
    (warned,) = recorder.of("policy", "record_failed")
    assert str(warned.severity) == "warning" and "locked" in warned.fields["error"]
    holder.execute("ROLLBACK")
    holder.close()
    with in_cycle("c2"):
        assert guard.check(*order(4)).allow is True
    assert len(recorder.of("policy", "record_failed")) == 1


def test_a_policy_db_that_is_not_a_database_stops_the_start_naming_it(kernel_factory, tmp_path):
    from tradekernel.api import ConfigError

    path = signed(tmp_path, policy_file(tmp_path))
    state = kernel_factory.directory / "state"
    state.mkdir(parents=True, exist_ok=True)
    (state / "policy.db").write_bytes(b"not a database" * 100)
    kernel, _ = build(kernel_factory, tmp_path, path)
    with pytest.raises(ConfigError) as raised:
        kernel.component("guard", "policy")
    assert f"{state / 'policy.db'}: not a policy record database" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_signed_policy_replaced_by_an_unsigned_one_is_announced(kernel_factory, tmp_path):
    path = signed(tmp_path, policy_file(tmp_path, cap=1000, version="1"))
    kernel, recorder = build(kernel_factory, tmp_path, path, require=False)
    guard = kernel.component("guard", "policy")
    policy_file(tmp_path, cap=10**9, version="2")
    (tmp_path / "policy.toml.sig").unlink()
    with in_cycle("c2"):
        assert guard.check(*order(200)).version.startswith("2@")
    (dropped,) = recorder.of("policy", "signature_dropped")
    assert str(dropped.severity) == "warning"
    assert dropped.fields["was"].startswith("alice (hmac:")
    assert dropped.fields["label"] == guard.loaded.policy.label
