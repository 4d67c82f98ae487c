from __future__ import annotations

from tradekernel_guards import (
    AllowlistConfig,
    AllowlistGuard,
    DenylistConfig,
    DenylistGuard,
    KillSwitchConfig,
    KillSwitchGuard,
)


def test_kill_switch(h):
    guard = KillSwitchGuard(KillSwitchConfig())
    assert guard.check(h.intent(), h.ctx()).allow
    verdict = guard.check(h.intent(), h.ctx(kill_switch=True))
    assert (verdict.allow, verdict.code, verdict.guard) == (False, "kill_switch_on", "kill_switch")


def test_allowlist(h):
    guard = AllowlistGuard(AllowlistConfig(symbols=[" aaa", "BBB"]))
    assert guard.check(h.intent("AAA"), h.ctx()).allow
    assert guard.check(h.intent("BBB"), h.ctx()).allow
    verdict = guard.check(h.intent("CCC"), h.ctx())
    assert (verdict.allow, verdict.code) == (False, "symbol_not_allowed")
    assert "CCC" in verdict.detail


def test_denylist(h):
    guard = DenylistGuard(DenylistConfig(symbols=["ccc"]))
    assert guard.check(h.intent("AAA"), h.ctx()).allow
    verdict = guard.check(h.intent("CCC"), h.ctx())
    assert (verdict.allow, verdict.code) == (False, "symbol_denied")
    assert DenylistGuard(DenylistConfig()).check(h.intent("CCC"), h.ctx()).allow
