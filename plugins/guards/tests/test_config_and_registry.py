from __future__ import annotations

from decimal import Decimal

import pytest
from tradekernel.api import ConfigError, Kernel, evaluate
from tradekernel_guards import GUARDS, MaxOrderNotionalGuard, SessionHoursGuard


@pytest.mark.parametrize(
    ("name", "body", "key", "fragment"),
    [
        ("max_order_notional", "limit = -5", "limit", "expected a positive number"),
        ("max_order_notional", "", "limit", "required key is missing"),
        ("max_order_notional", 'limit = "lots"', "limit", "expected a number"),
        ("max_position", "max_quantity = 5\nmax_notionl = 3", "max_notionl", "did you mean"),
        ("max_position", "max_quantity = 0", "max_quantity", "positive"),
        ("allowlist", "symbols = []", "symbols", "at least one symbol"),
        ("allowlist", 'symbols = "AAA"', "symbols", ""),
        ("order_rate", 'window = "soon"', "window", "expected a duration"),
        ("order_rate", "max_orders = 0", "max_orders", "positive"),
        ("max_orders_per_day", "limit = 1.5", "limit", "expected int"),
        ("daily_loss_limit", 'limit = 100\nallow_reducing = "yes"', "allow_reducing", "bool"),
        ("symbol_cooldown", "cooldown = 0", "cooldown", "positive"),
        ("session_hours", 'timezone = "Nowhere/Land"', "timezone", "unknown time zone"),
        ("session_hours", 'open = "17:00"', "close", "must be later than open"),
        ("kill_switch", "armed = true", "armed", "unknown key"),
    ],
)
def test_config_errors_name_file_section_and_key(h, tmp_path, name, body, key, fragment):
    settings = h.load_settings(tmp_path, f"[guard.{name}]\n{body}\n")
    _, config_class = GUARDS[name]
    with pytest.raises(ConfigError) as info:
        settings.component_config("guard", name, config_class)
    message = str(info.value)
    assert message.startswith(f"plugins.toml: [guard.{name}] {key}: ")
    assert fragment in message


def test_kernel_builds_guards_by_name_through_entry_points(h, tmp_path):
    settings = h.load_settings(
        tmp_path,
        """
[components]
guards = ["kill_switch", "max_order_notional", "session_hours", "denylist"]

[guard.max_order_notional]
limit = "1000"

[guard.session_hours]
timezone = "Europe/London"
open = "08:00"
close = "16:30"

[guard.denylist]
symbols = ["ZZZ"]
""",
    )
    with Kernel(settings) as kernel:
        guards = kernel.components("guard")
        assert [name for name, _ in guards] == [
            "kill_switch",
            "max_order_notional",
            "session_hours",
            "denylist",
        ]
        assert isinstance(guards[1][1], MaxOrderNotionalGuard)
        assert guards[1][1].limit == Decimal(1000)
        assert isinstance(guards[2][1], SessionHoursGuard)
        assert kernel.spec("guard", "order_rate").distribution == "tradekernel-guards"

        # 15:00 UTC on a June Monday is 16:00 in London: inside the session
        result = evaluate(guards, h.intent("ZZZ", quantity=20), h.ctx(last=60, symbol="ZZZ"))
        assert not result.allowed
        assert [(v.guard, v.code) for v in result.verdicts] == [
            ("trading_state", "ok"),
            ("kill_switch", "ok"),
            ("max_order_notional", "order_notional_exceeded"),
            ("session_hours", "ok"),
            ("denylist", "symbol_denied"),
        ]
        assert result.first_deny.guard == "max_order_notional"


def test_kernel_check_validates_guard_config(h, tmp_path):
    settings = h.load_settings(tmp_path, '[components]\nguards = ["max_gross_exposure"]\n')
    match = r"\[guard.max_gross_exposure\] limit: required"
    with Kernel(settings) as kernel, pytest.raises(ConfigError, match=match):
        kernel.components("guard")


def test_every_guard_is_registered_with_codes(h, tmp_path):
    settings = h.load_settings(tmp_path, "")
    with Kernel(settings) as kernel:
        names = set(kernel.registry.names("guard"))
    assert set(GUARDS) <= names
    for guard_class, _ in GUARDS.values():
        assert guard_class.codes


def test_docs_table_lists_every_guard_and_code():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[3] / "docs" / "guards-and-strategists.md"
    if not doc.exists():
        pytest.skip("not running from the source tree")
    text = doc.read_text(encoding="utf-8")
    for name, (guard_class, _) in GUARDS.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), "")
        assert row, f"{name} has no row in the guard table"
        for code in guard_class.codes:
            assert f"`{code}`" in row, f"{name}: {code} missing from its row"


def test_session_hours_reaches_the_selected_feed_through_the_kernel(h, tmp_path):
    settings = h.load_settings(
        tmp_path,
        '[components]\nguards = ["session_hours"]\n[guard.session_hours]\nsource = "market_data"\n',
    )
    with Kernel(settings) as kernel:
        guards = kernel.components("guard")
        result = evaluate(guards, h.intent("AAA", quantity=1), h.ctx(last=60))
        verdict = result.first_deny
        assert verdict.code == "no_session"  # the synthetic feed has no venue session
        assert "does not report the venue's session" in verdict.detail
