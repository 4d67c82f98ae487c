"""The policy language: compiling, strict one-line errors, precedence, Decimal money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tradekernel.api import GuardContext, Intent, Position, Quote
from tradekernel_policy import Evaluator, PolicyError, compile_bytes

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # a Monday, 11:00 in New York

HEAD = '[policy]\nname = "t"\nversion = "1"\ndefault = "{default}"\n'


def policy(rules: str, default: str = "allow"):
    return compile_bytes((HEAD.format(default=default) + rules).encode(), "p.toml")


def intent(**kw) -> Intent:
    kw.setdefault("symbol", "AAA")
    kw.setdefault("side", "buy")
    if "notional" not in kw:
        kw.setdefault("quantity", 10)
    return Intent.create(as_of=NOW, **kw)


def ctx(last="100", **kw) -> GuardContext:
    quote = Quote(symbol="AAA", ts=NOW, last=last) if last is not None else None
    kw.setdefault("as_of", NOW)
    return GuardContext(quote=quote, positions=kw.pop("positions", {}), account=None, **kw)


def rule(rid: str, effect: str, when: str = "", extra: str = "") -> str:
    code = 'code = "c_' + rid.replace("-", "_") + '"\n' if effect == "deny" else ""
    return f'\n[[rule]]\nid = "{rid}"\neffect = "{effect}"\n{code}{extra}' + (
        f"when = {when}\n" if when else ""
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            rule("a", "deny", '{ field = "intent.nope", op = ">", value = 1 }'),
            "p.toml: rule a: when.field: unknown field intent.nope",
        ),
        (
            rule("a", "deny", '{ field = "intent.notional", op = "=>", value = 1 }'),
            "p.toml: rule a: when.op: unknown operator =>",
        ),
        (
            rule("a", "deny", '{ field = "intent.notional", op = ">", value = "x" }'),
            "p.toml: rule a: when.value: cannot compare number with str",
        ),
        (
            rule("a", "deny", '{ field = "intent.symbol", op = ">", value = "x" }'),
            "p.toml: rule a: when.op: '>' needs numbers or times, not str",
        ),
        (
            rule("a", "deny", '{ field = "intent.notional", op = ">", value = nan }'),
            "p.toml: rule a: when.value: NaN and infinite numbers are not allowed",
        ),
        (
            rule("a", "deny", '{ field = "intent.notional", op = ">", value = inf }'),
            "p.toml: rule a: when.value: NaN and infinite numbers are not allowed",
        ),
        (rule("a", "deny") + rule("a", "allow"), "p.toml: rule a: id: duplicate rule id"),
        (
            rule("a", "deny", '{ field = "intent.symbol", op = "in", value = ["A", 1] }'),
            "p.toml: rule a: when.value: a list mixes number and str",
        ),
        (
            rule(
                "a",
                "deny",
                '{ left = { "*" = [{ field = "intent.symbol" }, 2] }, op = ">", value = 1 }',
            ),
            "p.toml: rule a: when.left.*[0]: arithmetic needs numbers, not str",
        ),
        (
            rule("a", "deny", '{ left = { pow = [1, 2] }, op = ">", value = 1 }'),
            "p.toml: rule a: when.left.pow: unknown operator",
        ),
        (rule("a", "require_approvals"), "p.toml: rule a: approvals: expected a whole number"),
        (
            rule("a", "allow", extra="approvals = 2\n"),
            'p.toml: rule a: approvals: only for effect = "require_approvals"',
        ),
        (rule("a", "maybe"), "p.toml: rule a: effect: expected one of deny, allow"),
        (rule("a", "deny", extra="colour = 1\n"), "p.toml: rule a: colour: unknown key"),
        (rule("a", "deny", "{ all = [] }"), "p.toml: rule a: when.all: expected a non-empty"),
        (rule("a", "deny", "{ not = 3 }"), "p.toml: rule a: when.not: expected a condition"),
        ('\n[[rule]]\nid = "bad id!"\neffect = "deny"\n', "p.toml: rule #1: id: expected"),
    ],
)
def test_errors_name_the_file_rule_and_key(text, message):
    with pytest.raises(PolicyError) as raised:
        policy(text)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ('[policy]\nname = "t"\nversion = "1"\n', "p.toml: [policy] default: missing"),
        ('[policy]\nname = "t"\nversion = "1"\ndefault = "maybe"\n', "p.toml: [policy] default:"),
        (
            '[policy]\nname = "t"\nversion = "1"\ndefault = "deny"\ntimezone = "Mars/Base"\n',
            "p.toml: [policy] timezone: unknown time zone Mars/Base",
        ),
        (
            '[policy]\nname = "t"\nversion = "1"\ndefault = "deny"\nextra = 1\n',
            "p.toml: [policy] extra: unknown key",
        ),
        ("[other]\n", "p.toml: other: unknown key"),
        ("x = [", "p.toml: invalid TOML"),
        ("", "p.toml: [policy]: missing"),
    ],
)
def test_header_errors(head, message):
    with pytest.raises(PolicyError) as raised:
        compile_bytes(head.encode(), "p.toml")
    assert str(raised.value).startswith(message), str(raised.value)


def test_forbid_overrides_allow_and_default_deny():
    p = policy(
        rule("ok-aaa", "allow", '{ field = "intent.symbol", op = "==", value = "AAA" }')
        + rule("big", "deny", '{ field = "intent.notional", op = ">", value = 5000 }'),
        default="deny",
    )
    e = Evaluator(p)
    small, big = e.decide(intent(), ctx()), e.decide(intent(quantity=60), ctx())
    assert (small.allow, small.rule) == (True, "ok-aaa")
    assert (big.allow, big.code, big.rule) == (False, "c_big", "big")
    other = e.decide(intent(symbol="BBB", order_type="limit", limit_price=10), ctx())
    assert (other.allow, other.code, other.rule) == (False, "not_allowed_by_policy", "default")


def test_require_approvals_takes_the_largest_and_names_its_rule():
    p = policy(
        rule(
            "two",
            "require_approvals",
            '{ field = "intent.notional", op = ">", value = 500 }',
            "approvals = 2\n",
        )
        + rule(
            "three",
            "require_approvals",
            '{ field = "intent.notional", op = ">", value = 900 }',
            "approvals = 3\n",
        )
    )
    e = Evaluator(p)
    assert e.decide(intent(quantity=1), ctx()).approvals == 0
    mid = e.verdict("policy", intent(quantity=6), ctx())
    assert (mid.allow, mid.approvals, mid.rule, mid.version) == (True, 2, "two", p.label)
    assert e.decide(intent(quantity=10), ctx()).approvals == 3


def test_decimal_arithmetic_is_exact():
    p = policy(rule("exact", "deny", '{ left = { "+" = [0.1, 0.2] }, op = "==", value = 0.3 }'))
    assert Evaluator(p).decide(intent(), ctx()).code == "c_exact"


def test_division_by_zero_is_a_policy_error_deny_not_a_crash():
    p = policy(
        rule(
            "ratio",
            "deny",
            '{ left = { "/" = [{ field = "intent.notional" }, { field = "position.quantity" }] }, '
            'op = ">", value = 2 }',
        )
    )
    out = Evaluator(p).decide(intent(), ctx())
    assert (out.allow, out.code, out.rule) == (False, "policy_error", "ratio")
    held = ctx(positions={"AAA": Position("AAA", 1000, 10)})
    assert Evaluator(p).decide(intent(), held).allow is True


def test_missing_values_deny_with_the_fields_code():
    p = policy(
        rule("cap", "deny", '{ field = "intent.notional", op = ">", value = 5000 }')
        + rule("hours", "deny", '{ field = "clock.time", op = "<", value = "09:30" }')
    )
    e = Evaluator(p)
    assert e.decide(intent(), ctx(last=None)).code == "no_price"
    assert e.decide(intent(), ctx(as_of=None)).code == "no_clock"


def test_short_circuit_reads_only_what_it_needs():
    p = policy(
        rule(
            "r",
            "deny",
            '{ any = [ { field = "intent.symbol", op = "==", value = "AAA" }, '
            '{ field = "intent.notional", op = ">", value = 1 } ] }',
        )
    )
    trace = Evaluator(p).trace(intent(), ctx(last=None))
    assert trace[0].matched is True and trace[0].values == {"intent.symbol": "AAA"}


def test_times_weekdays_and_lists():
    p = compile_bytes(
        (
            '[policy]\nname = "t"\nversion = "1"\ndefault = "deny"\ntimezone = "America/New_York"\n'
            + rule(
                "session",
                "allow",
                '{ all = [ { field = "clock.weekday", op = "in", value = ["mon", "tue"] }, '
                '{ field = "clock.time", op = ">=", value = 09:30:00 }, '
                '{ field = "clock.time", op = "<", value = "16:00" } ] }',
            )
        ).encode(),
        "p.toml",
    )
    e = Evaluator(p)
    assert e.decide(intent(), ctx()).allow is True  # Monday 11:00 New York
    late = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
    assert e.decide(intent(), ctx(as_of=late)).allow is False


def test_money_fields_are_decimals():
    p = policy(rule("r", "deny", '{ field = "position.value_after", op = ">", value = 1000.5 }'))
    e = Evaluator(p)
    trace = e.trace(intent(quantity=10), ctx(last="100.05"))
    assert trace[0].values["position.value_after"] == Decimal("1000.50")
    assert trace[0].matched is False


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            '{ field = "clock.weekday", op = "in", value = ["Sat", "Sun"] }',
            "p.toml: rule a: when.value: clock.weekday is never Sat (it is one of mon, tue,",
        ),
        (
            '{ field = "clock.weekday", op = "==", value = "saturday" }',
            "p.toml: rule a: when.value: clock.weekday is never saturday",
        ),
        (
            '{ field = "intent.side", op = "==", value = "BUY" }',
            "p.toml: rule a: when.value: intent.side is never BUY (it is one of buy, sell)",
        ),
        (
            '{ field = "intent.order_type", op = "!=", value = "MKT" }',
            "p.toml: rule a: when.value: intent.order_type is never MKT (it is one of market, l",
        ),
        (
            '{ field = "intent.time_in_force", op = "not in", value = ["fok"] }',
            "p.toml: rule a: when.value: intent.time_in_force is never fok",
        ),
        (
            '{ field = "control.trading_state", op = "==", value = "halt" }',
            "p.toml: rule a: when.value: control.trading_state is never halt (it is one of "
            "active, reducing, halted)",
        ),
        (
            '{ field = "intent.symbol", op = "==", value = "aaa" }',
            "p.toml: rule a: when.value: intent.symbol is upper case, so it is never aaa "
            "(write AAA)",
        ),
        (
            '{ left = { field = "intent.side" }, op = "in", value = ["Buy"] }',
            "p.toml: rule a: when.value: intent.side is never Buy",
        ),
        (
            '{ left = "SELL", op = "==", value = { field = "intent.side" } }',
            "p.toml: rule a: when.left: intent.side is never SELL",
        ),
        (
            '{ field = "orders.within_9999999d", op = ">", value = 1 }',
            "p.toml: rule a: when.field: orders.within_9999999d: the window is at most 366 days",
        ),
    ],
)
def test_a_text_literal_a_field_can_never_take_is_a_load_error(when, message):
    with pytest.raises(PolicyError) as raised:
        policy(rule("a", "deny", when))
    assert str(raised.value).startswith(message), str(raised.value)


def test_values_in_the_domain_compile_and_match():
    p = policy(
        rule("weekend", "deny", '{ field = "clock.weekday", op = "in", value = ["sat", "sun"] }')
        + rule("halted", "deny", '{ field = "control.trading_state", op = "==", value = "halted" }')
        + rule("year", "deny", '{ field = "orders.within_366d", op = ">", value = 1000 }')
    )
    saturday = datetime(2024, 6, 8, 15, 0, tzinfo=UTC)
    verdict = Evaluator(p).decide(
        Intent.create(symbol="AAA", side="buy", quantity=1, as_of=saturday), ctx(as_of=saturday)
    )
    assert (verdict.allow, verdict.rule) == (False, "weekend")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('\n[[rule]]\nid = "max-order\\n"\neffect = "allow"\n', "p.toml: rule #1: id: expected"),
        (rule("a", "deny").replace('code = "c_a"', 'code = "c_a\\n"'), "p.toml: rule a: code:"),
    ],
)
def test_ids_and_codes_with_a_trailing_newline_are_refused(text, message):
    with pytest.raises(PolicyError) as raised:
        policy(text)
    assert str(raised.value).startswith(message), str(raised.value)


def test_size_limits_are_load_errors_naming_the_limit(tmp_path):
    from tradekernel_policy.language import MAX_BRANCHES, MAX_FILE_BYTES, load_file

    leaf = '{ field = "intent.notional", op = ">", value = 1 }'
    wide = "{ any = [" + ", ".join([leaf] * (MAX_BRANCHES + 1)) + "] }"
    with pytest.raises(PolicyError, match=f"when.any: at most {MAX_BRANCHES} conditions"):
        policy(rule("a", "deny", wide))
    # many all/any, each within the width limit: the number of reads per rule is capped
    block = "{ all = [" + ", ".join([leaf] * 1000) + "] }"
    many = "{ any = [" + ", ".join([block] * 11) + "] }"
    with pytest.raises(PolicyError, match="a rule reads at most 10000 fields"):
        policy(rule("a", "deny", many))
    big = tmp_path / "big.toml"
    big.write_bytes((HEAD.format(default="allow") + "#" * MAX_FILE_BYTES).encode())
    with pytest.raises(PolicyError, match=f"larger than {MAX_FILE_BYTES} bytes") as raised:
        load_file(big)
    assert str(raised.value).startswith(str(big))
