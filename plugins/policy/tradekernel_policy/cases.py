"""Policy test cases (``policy test FILE --cases CASES``): an intent, its guard context,
and the verdict the policy must give (docs/policy.md, "Testing a policy").

A cases file is TOML with one ``[[case]]`` table per case::

    [[case]]
    name = "a large order is denied"
    expect = "deny"
    code = "order_notional_exceeded"
    intent = { symbol = "AAA", side = "buy", quantity = 100 }
    context = { as_of = 2024-01-02T15:00:00Z, quote = { last = 60 } }
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from attrs import frozen
from tradekernel.api import ConfigError, GuardContext, Intent, structure

from .evaluate import Evaluator

EPOCH = "1970-01-01T00:00:00+00:00"
CASE_KEYS = ("name", "expect", "code", "rule", "approvals", "intent", "context")
INTENT_KEYS = (
    "symbol",
    "side",
    "quantity",
    "notional",
    "order_type",
    "limit_price",
    "time_in_force",
    "strategist",
    "confidence",
    "prompt_version",
    "as_of",
)
CONTEXT_KEYS = (
    "as_of",
    "quote",
    "positions",
    "account",
    "orders_today",
    "recent_order_times",
    "last_trade_time",
    "realized_pnl_today",
    "unrealized_pnl_today",
    "kill_switch",
    "trading_state",
    "broker",
    "other_positions",
)


@frozen
class Case:
    """One parsed case."""

    name: str
    expect: str
    code: str | None
    rule: str | None
    approvals: int | None
    intent: Intent
    context: GuardContext


@frozen
class Mismatch:
    """A case whose verdict is not the expected one."""

    case: str
    expected: str
    got: str


def _plain(value: Any) -> Any:
    """TOML values as the text the models' converters read (floats by their digits)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _only(table: Any, keys: tuple[str, ...], at: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{at}: expected a table")
    for key in table:
        if key not in keys:
            raise ConfigError(f"{at}: {key}: unknown key (expected one of {', '.join(keys)})")
    return table


def build_intent(raw: Any, at: str) -> Intent:
    """An :class:`Intent` from a case's ``intent`` table."""
    table = _plain(_only(raw, INTENT_KEYS, at))
    if "confidence" in table:
        table["confidence"] = float(table["confidence"])
    try:
        return Intent.create(**table)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{at}: {exc}") from None


def build_context(raw: Any, intent: Intent, at: str) -> GuardContext:
    """A :class:`GuardContext` from a case's ``context`` table: a quote without a
    symbol quotes the intent's, without a time it is stamped at ``as_of`` (the epoch
    without one); a position's symbol defaults to its key."""
    table = _plain(_only(raw, CONTEXT_KEYS, at))
    table.setdefault("as_of", None)
    table.setdefault("positions", {})
    table.setdefault("account", None)
    quote = table.get("quote")
    if isinstance(quote, dict):
        quote.setdefault("symbol", intent.symbol)
        # without a market clock the quote's time cannot matter: every clock field is no_clock
        quote.setdefault("ts", table["as_of"] or EPOCH)
    else:
        table.setdefault("quote", None)
    positions = table["positions"]
    if isinstance(positions, dict):
        for symbol, position in positions.items():
            if isinstance(position, dict):
                position.setdefault("symbol", symbol)
    for key in ("orders_today",):
        if key in table and isinstance(table[key], str):
            table[key] = int(table[key])
    try:
        return structure(table, GuardContext)
    except Exception as exc:  # cattrs names the field; one line for the operator
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{at}: {detail}") from None


def load_cases(path: str | Path) -> list[Case]:
    """Parse a cases file (:class:`ConfigError` naming the file, case and key)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_cases(raw, str(path))


def parse_cases(raw: dict, where: str) -> list[Case]:
    """The cases of a parsed cases document."""
    _only(raw, ("case",), where)
    items = raw.get("case", [])
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: case: expected at least one [[case]] table")
    cases = []
    for index, body in enumerate(items):
        at = f"{where}: case #{index + 1}"
        _only(body, CASE_KEYS, at)
        name = body.get("name", f"#{index + 1}")
        if not isinstance(name, str):
            raise ConfigError(f"{at}: name: expected text")
        at = f"{where}: case {name!r}"
        expect = body.get("expect")
        if expect not in ("allow", "deny"):
            raise ConfigError(f'{at}: expect: expected "allow" or "deny"')
        for key in ("code", "rule"):
            if key in body and not isinstance(body[key], str):
                raise ConfigError(f"{at}: {key}: expected text")
        approvals = body.get("approvals")
        if approvals is not None and (
            not isinstance(approvals, int) or isinstance(approvals, bool)
        ):
            raise ConfigError(f"{at}: approvals: expected a whole number")
        intent = build_intent(body.get("intent"), f"{at}: intent")
        context = build_context(body.get("context", {}), intent, f"{at}: context")
        cases.append(
            Case(name, expect, body.get("code"), body.get("rule"), approvals, intent, context)
        )
    return cases


def _describe(allow: bool, code: str, rule: str, approvals: int) -> str:
    extra = f", approvals {approvals}" if approvals else ""
    return f"{'allow' if allow else 'deny'} {code} (rule {rule or '-'}{extra})"


def run_cases(evaluator: Evaluator, cases: list[Case]) -> list[Mismatch]:
    """Every case whose verdict differs from what it expects."""
    out = []
    for case in cases:
        got = evaluator.decide(case.intent, case.context)
        ok = (
            got.allow == (case.expect == "allow")
            and (case.code is None or got.code == case.code)
            and (case.rule is None or got.rule == case.rule)
            and (case.approvals is None or got.approvals == case.approvals)
        )
        if not ok:
            expected = case.expect + (f" {case.code}" if case.code else "")
            if case.rule:
                expected += f" (rule {case.rule})"
            if case.approvals is not None:
                expected += f", approvals {case.approvals}"
            out.append(
                Mismatch(
                    case.name, expected, _describe(got.allow, got.code, got.rule, got.approvals)
                )
            )
    return out
