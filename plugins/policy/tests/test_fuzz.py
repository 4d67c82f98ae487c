"""Hostile policies: random bytes and random TOML trees give a policy or a clean
PolicyError, and a policy that compiles never raises when it evaluates."""

from __future__ import annotations

from datetime import UTC, datetime, time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import Account, GuardContext, Intent, Position, Quote
from tradekernel_policy import Evaluator, PolicyError, compile_bytes, compile_policy
from tradekernel_policy.fields import FIELDS
from tradekernel_policy.language import EXPRESSION_KEYS, OPERATORS

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)
KEYS = [
    "all",
    "any",
    "not",
    "field",
    "left",
    "op",
    "value",
    *EXPRESSION_KEYS,
    "id",
    "effect",
    "code",
    "when",
    "approvals",
    "\x1b[31m",
    "<b>",
]
NAMES = [*sorted(FIELDS), "orders.within_90s", "orders.within_0s", "nope", "intent."]

scalars = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(NAMES),
    st.sampled_from([*OPERATORS, "=>", "~", ""]),
    st.text(max_size=12),
    st.sampled_from([time(9, 30), time(16, 0), "09:30", "25:99"]),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=25,
)
rules = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "c", "bad id"]),
        "effect": st.sampled_from(["deny", "allow", "require_approvals", "maybe"]),
        "code": st.sampled_from(["x_code", "Bad"]),
    },
    optional={"when": trees, "approvals": st.one_of(st.integers(-2, 200), st.booleans())},
)

CONTEXTS = [
    GuardContext(
        as_of=NOW,
        quote=Quote(symbol="AAA", ts=NOW, last="100"),
        positions={},
        account=Account(cash=1000, equity=2000),
    ),
    GuardContext(as_of=None, quote=None, positions={"AAA": Position("AAA", 0, 1)}, account=None),
    GuardContext(
        as_of=NOW,
        quote=Quote(symbol="AAA", ts=NOW, last="1E+20", bid=1, ask=2),
        positions={"AAA": Position("AAA", -5, 3)},
        account=None,
        recent_order_times=[NOW],
        last_trade_time={"AAA": NOW},
    ),
]
INTENTS = [
    Intent.create(symbol="AAA", side="buy", quantity=10, as_of=NOW),
    Intent.create(symbol="AAA", side="sell", notional="1E+6", as_of=NOW),
]


def _outcome(test, env):
    try:
        return bool(test(env))
    except Exception as exc:  # the evaluator turns these into denies
        return type(exc).__name__


def _exercise(policy) -> None:
    from tradekernel_policy.fields import Env

    evaluator = Evaluator(policy)
    for intent in INTENTS:
        for ctx in CONTEXTS:
            out = evaluator.decide(intent, ctx)
            assert out.allow in (True, False) and out.code
            evaluator.trace(intent, ctx)
            for rule in policy.rules:  # the fast closures and the traced ones agree
                fast = _outcome(rule.test, Env(intent, ctx, evaluator.clock))
                traced = _outcome(rule.trace_test, Env(intent, ctx, evaluator.clock))
                assert fast == traced, rule.id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rules, max_size=4), st.sampled_from(["allow", "deny", "maybe"]))
def test_random_trees_compile_or_fail_cleanly(rule_list, default):
    raw = {"policy": {"name": "f", "version": "1", "default": default}, "rule": rule_list}
    try:
        policy = compile_policy(raw, "fuzz.toml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.toml") and "\n" not in str(exc)
        return
    _exercise(policy)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_random_documents_compile_or_fail_cleanly(tree):
    try:
        policy = compile_policy(tree, "fuzz.toml")
    except PolicyError:
        return
    _exercise(policy)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_fail_cleanly(data):
    try:
        compile_bytes(data, "fuzz.toml")
    except PolicyError as exc:
        assert "\n" not in str(exc).replace("\\n", "")


def test_deep_nesting_is_refused_not_a_crash():
    deep = "{ not = " * 200 + '{ field = "intent.symbol", op = "==", value = "A" }' + " }" * 200
    text = (
        f'[policy]\nname = "t"\nversion = "1"\ndefault = "allow"\n[[rule]]\nid = "d"\n'
        f'effect = "deny"\ncode = "x"\nwhen = {deep}\n'
    )
    try:
        compile_bytes(text.encode(), "deep.toml")
    except PolicyError as exc:
        assert "deep.toml" in str(exc)


prices = st.one_of(
    st.none(),
    st.decimals(min_value="0", max_value="1E+12", allow_nan=False, allow_infinity=False, places=4),
)
quantities = st.decimals(
    min_value="-1E+9", max_value="1E+9", allow_nan=False, allow_infinity=False, places=3
)


@st.composite
def situations(draw):
    from datetime import timedelta

    as_of = draw(st.one_of(st.none(), st.just(NOW), st.just(NOW + timedelta(hours=9))))
    price = draw(prices)
    quote = None
    if price is not None and price > 0:
        quote = Quote(symbol=draw(st.sampled_from(["AAA", "BBB"])), ts=NOW, last=price)
    positions = {
        s: Position(s, q, draw(prices.filter(lambda p: p is not None)))
        for s, q in draw(
            st.dictionaries(st.sampled_from(["AAA", "BBB"]), quantities, max_size=2)
        ).items()
    }
    account = draw(st.one_of(st.none(), st.builds(Account, cash=quantities, equity=quantities)))
    ctx = GuardContext(
        as_of=as_of,
        quote=quote,
        positions=positions,
        account=account,
        orders_today=draw(st.integers(0, 10**6)),
        recent_order_times=[NOW] * draw(st.integers(0, 5)),
        realized_pnl_today=draw(quantities),
        kill_switch=draw(st.booleans()),
        trading_state=draw(st.sampled_from(["active", "reducing", "halted", "?"])),
    )
    amount = draw(st.decimals(min_value="0.001", max_value="1E+9", places=3))
    kind = draw(st.sampled_from(["quantity", "notional"]))
    limit = {}
    if draw(st.booleans()):
        limit = {"order_type": "limit", "limit_price": draw(st.decimals("0.01", "1E+9", places=2))}
    intent = Intent.create(
        symbol="AAA",
        side=draw(st.sampled_from(["buy", "sell"])),
        as_of=as_of,
        **{kind: amount},
        **limit,
    )
    return intent, ctx


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_evaluation_never_raises_on_hostile_situations(situation):
    from pathlib import Path

    from tradekernel_policy import load_file

    intent, ctx = situation
    root = Path(__file__).resolve().parents[3]
    for policy in (load_file(root / "examples" / "policy" / "default.toml"), _bench_policy(root)):
        out = Evaluator(policy).decide(intent, ctx)
        assert isinstance(out.allow, bool) and out.code


def _bench_policy(root):
    import sys

    sys.path.insert(0, str(root))
    try:
        from bench.policy import policy_text
    finally:
        sys.path.remove(str(root))
    return compile_bytes(policy_text().encode(), "bench.toml")


# -- well-typed random policies: they must compile, and evaluate without raising -------

NUMBER_FIELDS = [*sorted(n for n, f in FIELDS.items() if f.type == "number"), "orders.within_1m"]
STR_FIELDS = sorted(n for n, f in FIELDS.items() if f.type == "str")
BOOL_FIELDS = sorted(n for n, f in FIELDS.items() if f.type == "bool")


def text_values(name: str) -> st.SearchStrategy[str]:
    """Literals the text field ``name`` can take (its domain is checked at load)."""
    f = FIELDS[name]
    if f.choices:
        return st.sampled_from(f.choices)
    if f.upper:
        return st.text(max_size=5).map(str.upper).filter(lambda t: t == t.upper())
    return st.text(max_size=5)


numbers = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
)
number_exprs = st.recursive(
    st.one_of(numbers, st.builds(lambda f: {"field": f}, st.sampled_from(NUMBER_FIELDS))),
    lambda inner: st.one_of(
        st.builds(
            lambda k, a: {k: a},
            st.sampled_from(["+", "-", "*", "/", "min", "max"]),
            st.lists(inner, min_size=2, max_size=3),
        ),
        st.builds(lambda a: {"abs": a}, inner),
    ),
    max_leaves=6,
)
leaves = st.one_of(
    st.builds(
        lambda left, op, value: {"left": left, "op": op, "value": value},
        number_exprs,
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        number_exprs,
    ),
    st.sampled_from(STR_FIELDS).flatmap(
        lambda f: st.builds(
            lambda op, v: {"field": f, "op": op, "value": v},
            st.sampled_from(["==", "!="]),
            text_values(f),
        )
    ),
    st.sampled_from(STR_FIELDS).flatmap(
        lambda f: st.builds(
            lambda op, v: {"field": f, "op": op, "value": v},
            st.sampled_from(["in", "not in"]),
            st.lists(text_values(f)),
        )
    ),
    st.builds(
        lambda f, v: {"field": f, "op": "==", "value": v},
        st.sampled_from(BOOL_FIELDS),
        st.booleans(),
    ),
    st.builds(
        lambda op, v: {"field": "clock.time", "op": op, "value": v},
        st.sampled_from(["<", ">=", "=="]),
        st.sampled_from([time(9, 30), "16:00", "00:00"]),
    ),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(inner, min_size=1, max_size=4)),
        st.builds(lambda c: {"any": c}, st.lists(inner, min_size=1, max_size=4)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["deny", "allow", "require_approvals"]), conditions),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["allow", "deny"]),
)
def test_well_typed_random_policies_compile_and_never_raise(rule_list, default):
    rules = []
    for i, (effect, when) in enumerate(rule_list):
        rule = {"id": f"r{i}", "effect": effect, "code": "x_code", "when": when}
        if effect == "require_approvals":
            rule["approvals"] = 1 + i
        rules.append(rule)
    policy = compile_policy(
        {"policy": {"name": "f", "version": "1", "default": default}, "rule": rules}, "fuzz"
    )
    _exercise(policy)
