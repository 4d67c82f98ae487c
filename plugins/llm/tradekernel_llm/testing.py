"""A seeded generator of adversarial model answers, for tests.

Each :class:`Case` is one answer as a provider would return it (text, refusal,
``finish_reason``) with the label a correct strategist must give it:

* ``trade``: a valid answer; at least one intent;
* ``hold``: a deliberate hold; no intent and no ``error_type``;
* ``invalid``: unusable; no intent and an ``error_type`` (``Case.error_type`` when the
  code is certain);
* ``ambiguous``: says two different things; no intent, ``ambiguous_answer``.

``corpus(n, seed=...)`` is deterministic for a given seed. Symbols are those of
``symbols`` (the candidates the strategist is given); the secret, when given, is
echoed by the ``secret`` and ``secret_escaped`` classes. Amounts stay well above any
lot size: quantities too small to trade are the kernel's order constraints' business,
not the parser's.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

LABELS = ("trade", "hold", "invalid", "ambiguous")


@frozen
class Case:
    kind: str
    label: str
    content: str | None
    finish_reason: str | None = "stop"
    """``None``: the completion has no ``finish_reason`` key."""
    refusal: str | None = None
    error_type: str | None = None
    """The expected ``error_type`` of an ``invalid``/``ambiguous`` case, when certain."""


PROSE = [
    "Here is my decision.",
    "After reviewing the bars and quotes (see the summary), this is the answer:",
    "Momentum looks strong; volume confirms it.",
    "Final answer below",
    "I considered the risk limits carefully.",
    "Note: guards and approval still apply.",
]
NO_JSON = [
    "I would buy AAA, maybe 5 shares.",
    "Hold for now; the market is choppy.",
    "BUY AAA 10 @ market",
    "decision: trade, symbol: AAA, side: buy, quantity: 5",
    "As an AI model I cannot predict markets.",
    "",
    "   \n\t",
    "{decision: trade, symbol: AAA}",
    "{'decision': 'trade', 'intents': [{'symbol': 'AAA'}]}",
    "```\nsell everything\n```",
]
REFUSALS = [
    "I cannot give financial advice.",
    "I'm sorry, but I can't help with trading decisions.",
    "This request violates the usage policy.",
]


class _Gen:
    def __init__(self, rng: random.Random, symbols: Sequence[str], secret: str | None) -> None:
        self.r = rng
        self.symbols = list(symbols)
        self.secret = secret

    # -- building blocks ----------------------------------------------------------------

    def symbol(self) -> str:
        s = self.r.choice(self.symbols)
        return self.r.choice([s, s.lower(), f" {s} ", s.capitalize(), f"{s.lower()}\n"])

    def side(self) -> str:
        return self.r.choice(["buy", "BUY", "long", "Long", "sell", "short", " Sell "])

    def quantity(self) -> Any:
        q = self.r.randint(1, 5)
        return self.r.choice([q, str(q), f"{q}.0", f" {q} "])

    def intent(self, **over: Any) -> dict[str, Any]:
        it: dict[str, Any] = {"symbol": self.symbol(), "side": self.side()}
        if self.r.random() < 0.85:
            it["quantity"] = self.quantity()
            it["notional"] = None
        else:
            it["quantity"] = None
            it["notional"] = self.r.choice([250, "300.50", "1,000", "$400"])
        if self.r.random() < 0.7:
            it.update(order_type="market", limit_price=None, time_in_force="day")
        if self.r.random() < 0.2:
            it.update(order_type="limit", limit_price=self.r.choice([101.5, "99.25", 50]))
        if self.r.random() < 0.8:
            it["rationale"] = self.r.choice(["momentum", "mean reversion", "", "breakout"])
            it["confidence"] = self.r.choice([0.1, 0.5, 0.9, "0.7", 1, 0])
        it.update(over)
        return it

    def answer(self, intents: list[Any] | Any, decision: Any = "trade") -> dict[str, Any]:
        return {"decision": decision, "reason": self.r.choice(PROSE), "intents": intents}

    def dumps(self, value: Any) -> str:
        return json.dumps(value, indent=self.r.choice([None, None, 1, 2]), default=str)

    def wrap(self, text: str) -> str:
        """``text`` as the whole answer, fenced, or inside prose."""
        style = self.r.randrange(5)
        if style == 0:
            return text
        if style == 1:
            return f"```json\n{text}\n```"
        if style == 2:
            return f"{self.r.choice(PROSE)}\n```\n{text}\n```\n{self.r.choice(PROSE)}"
        if style == 3:
            return f"{self.r.choice(PROSE)} {text} {self.r.choice(PROSE)}"
        return f"{self.r.choice(PROSE)} {{I think}} {text}"

    def good(self) -> dict[str, Any]:
        return self.answer([self.intent() for _ in range(self.r.randint(1, 3))])

    # -- classes (one Case each) ----------------------------------------------------------

    def valid_trade(self) -> Case:
        return Case("valid_trade", "trade", self.wrap(self.dumps(self.good())))

    def valid_hold(self) -> Case:
        intents = self.r.choice([[], [self.intent()], [self.intent(), self.intent()]])
        value = self.r.choice(
            [
                self.answer(intents, decision=self.r.choice(["hold", "HOLD", " Hold "])),
                {"reason": "flat", "intents": []},
            ]
        )
        return Case("valid_hold", "hold", self.wrap(self.dumps(value)))

    def bare(self) -> Case:
        if self.r.random() < 0.5:
            value: Any = self.intent()
        else:
            value = [self.intent() for _ in range(self.r.randint(1, 3))]
        return Case("bare", "trade", self.wrap(self.dumps(value)))

    def copies(self) -> Case:
        value = self.good()
        again = {**value, "reason": "same again", "decision": "Trade"}
        text = f"Draft: {self.dumps(value)}\nFinal answer: {self.dumps(again)}"
        return Case("copies", "trade", text)

    def partial(self) -> Case:
        bad = self.r.choice(
            [
                self.intent(symbol="ZZZ"),
                self.intent(quantity="lots", notional=None),
                "not an intent",
                self.intent(side="sideways"),
            ]
        )
        intents = [bad, self.intent()]
        self.r.shuffle(intents)
        return Case("partial", "trade", self.wrap(self.dumps(self.answer(intents))))

    def truncated(self) -> Case:
        text = self.wrap(self.dumps(self.good()))
        finish = self.r.choice(["length", "LENGTH", "error", None, "", "max_tokens", "abort"])
        if self.r.random() < 0.5:  # cut where the token limit hit, or keep it whole
            text = text[: self.r.randint(1, len(text))]
        return Case("truncated", "invalid", text, finish_reason=finish, error_type="truncated")

    def truncated_wrapper(self) -> Case:
        inner = self.dumps(self.good())
        text = '{"analysis": "' + self.r.choice(PROSE) + '", "answer": ' + inner
        return Case(
            "truncated_wrapper", "invalid", text, finish_reason="length", error_type="truncated"
        )

    def filtered(self) -> Case:
        return Case(
            "filtered",
            "invalid",
            self.wrap(self.dumps(self.good())),
            finish_reason="content_filter",
            error_type="content_filtered",
        )

    def non_string_decision(self) -> Case:
        decision = self.r.choice(
            [["hold"], ["trade"], False, True, 0, 1, {"action": "hold"}, None, 1.5, []]
        )
        value = self.answer([self.intent()], decision=decision)
        return Case(
            "non_string_decision",
            "invalid",
            self.wrap(self.dumps(value)),
            error_type="schema_violation",
        )

    def duplicate_keys(self) -> Case:
        it = json.dumps(self.intent())[1:-1]
        q1, q2 = self.r.sample([1, 2, 3, 4, 5, 50], 2)
        a, b = self.r.sample(self.symbols, 2) if len(self.symbols) > 1 else ("AAA", "ZZZ")
        text = self.r.choice(
            [
                '{"decision": "hold", "reason": "x", "decision": "trade", "intents": [{'
                + it
                + "}]}",
                '{"decision": "trade", "intents": [{' + it + '}], "decision": "hold"}',
                '{"decision": "trade", "intents": [{' + it + f', "quantity": {q1}, '
                f'"quantity": {q2}' + "}]}",
                '{"decision": "trade", "intents": [{' + it + f', "symbol": "{a}", '
                f'"symbol": "{b}"' + "}]}",
                '{"decision": "trade", "intents": [{' + it + '}], "intents": []}',
            ]
        )
        return Case("duplicate_keys", "ambiguous", self.wrap(text), error_type="ambiguous_answer")

    def conflicting(self) -> Case:
        first = self.good()
        second = self.r.choice(
            [
                self.answer([], decision="hold"),
                self.answer([self.intent(quantity=77, notional=None)]),
                self.answer([self.intent(symbol="ZZZ")]),
                self.answer([self.intent()], decision=["hold"]),
            ]
        )
        pair = [first, second]
        self.r.shuffle(pair)
        one, two = (self.dumps(v) for v in pair)
        text = self.r.choice(
            [
                f"Draft: {one}\nFinal answer: {two}",
                f"```json\n{one}\n```\nOn second thought:\n```json\n{two}\n```",
                f"{one}\n{two}",
                f"Option A: {json.dumps(first['intents'][0])} or B: {self.dumps(second)}",
            ]
        )
        return Case("conflicting", "ambiguous", text, error_type="ambiguous_answer")

    def wrong_types(self) -> Case:
        field, value = self.r.choice(
            [
                ("quantity", [5]),
                ("quantity", {"value": 5}),
                ("quantity", True),
                ("quantity", "five"),
                ("symbol", 123),
                ("symbol", ["AAA"]),
                ("symbol", None),
                ("side", 1),
                ("side", None),
                ("side", ["buy"]),
                ("order_type", 5),
                ("order_type", "stop"),
                ("time_in_force", "forever"),
                ("confidence", "high"),
                ("confidence", [0.5]),
            ]
        )
        it = self.intent(**{field: value})
        if field == "quantity":
            it["notional"] = None
        shape = self.r.randrange(3)
        if shape == 0:
            value_ = self.answer([it])
        elif shape == 1:
            value_ = self.answer(self.r.choice([it, "AAA", 5, None, {"AAA": 5}]))
        else:
            value_ = self.r.choice([[1, 2], "trade", 42, None, [[it]]])
        return Case("wrong_types", "invalid", self.wrap(self.dumps(value_)))

    def bad_numbers(self) -> Case:
        raw = self.r.choice(
            [
                "1e400",
                "-1e400",
                "NaN",
                "Infinity",
                "-Infinity",
                "-5",
                "0",
                "0.0",
                "1e13",
                "123456789012345678901234567890",
                '"1e999"',
                '"NaN"',
                '"-3"',
                '"0,5"',
                '"1,5"',
                '"1.2.3"',
                '"5 shares"',
            ]
        )
        field = self.r.choice(["quantity", "notional", "limit_price"])
        it = self.intent(quantity=None, notional=None)
        if field == "limit_price":
            it.update(quantity=1, order_type="limit")
        body = json.dumps({k: v for k, v in it.items() if k != field})
        text = '{"decision": "trade", "intents": [' + body[:-1] + f', "{field}": {raw}' + "}]}"
        return Case("bad_numbers", "invalid", self.wrap(text), error_type="schema_violation")

    def unknown_symbol(self) -> Case:
        symbol = self.r.choice(["ZZZ", "AAPL", "AAA.", "A A A", "AAAA", "BB", "$AAA", "🚀"])
        value = self.answer([self.intent(symbol=symbol)])
        return Case(
            "unknown_symbol", "invalid", self.wrap(self.dumps(value)), error_type="unknown_symbol"
        )

    def nested_json_string(self) -> Case:
        good = self.good()
        value = self.r.choice(
            [
                {**good, "intents": json.dumps(good["intents"])},
                json.dumps(good),
                {**good, "decision": json.dumps({"decision": "trade"})},
                {"answer": json.dumps(good)},
                {"decision": "trade", "intents": [json.dumps(self.intent())]},
            ]
        )
        return Case("nested_json_string", "invalid", self.wrap(self.dumps(value)))

    def prose(self) -> Case:
        text = self.r.choice(NO_JSON)
        if self.r.random() < 0.3:
            text = f"{self.r.choice(PROSE)} {{ {text}"  # an unclosed brace
        return Case("prose", "invalid", text)

    def refusal(self) -> Case:
        if self.r.random() < 0.5:
            return Case(
                "refusal", "invalid", None, refusal=self.r.choice(REFUSALS), error_type="refusal"
            )
        text = self.r.choice(REFUSALS)
        return Case("refusal", "invalid", text, error_type="invalid_json")

    def missing_amount(self) -> Case:
        value = self.answer([self.intent(quantity=None, notional=None)])
        return Case("missing_amount", "invalid", self.dumps(value), error_type="missing_amount")

    def secret(self) -> Case:
        assert self.secret is not None
        s = self.secret
        place = self.r.randrange(5)
        if place == 0:
            value = self.answer([self.intent(rationale=f"key={s}")])
            return Case("secret", "invalid", self.dumps(value), error_type="secret_in_answer")
        if place == 1:
            value = self.good() | {"reason": f"using {s}"}
            return Case(
                "secret", "invalid", self.wrap(self.dumps(value)), error_type="secret_in_answer"
            )
        if place == 2:
            value = self.answer([self.intent(symbol=s)])
            return Case("secret", "invalid", self.dumps(value), error_type="secret_in_answer")
        if place == 3:
            text = f"Authorization: Bearer {s}\n{self.dumps(self.good())}"
            return Case("secret", "invalid", text, error_type="secret_in_answer")
        return Case(
            "secret", "invalid", None, refusal=f"not with {s}", error_type="secret_in_answer"
        )

    def secret_escaped(self) -> Case:
        """The secret spelt with JSON escapes (every n-th character ``\\u00XX``), which
        decodes to the secret."""
        assert self.secret is not None
        step = self.r.choice([2, 5, 7])
        escaped = "".join(
            f"\\u{ord(c):04x}" if i % step == 0 else c for i, c in enumerate(self.secret)
        )
        value = self.answer([self.intent(rationale="@@")])
        text = self.dumps(value).replace("@@", f"key {escaped}")
        if self.r.random() < 0.3:  # a JSON string holding the answer: escaped twice
            text = json.dumps(text)
        return Case("secret_escaped", "invalid", text, error_type="secret_in_answer")

    def careless_hold(self) -> Case:
        """A hold in almost-valid JSON (Python quotes, a trailing comma, a comment, an
        unquoted key) or in a JSON value that is not an answer, next to a valid trade."""
        hold = self.r.choice(
            [
                "{'decision': 'hold', 'reason': 'too risky'}",
                '{"decision": "hold",}',
                '{"decision": "hold" /* risk */}',
                '{decision: "hold"}',
                '{"decision": hold}',
                '{"decision": "hold", "confidence": NaN,}',
                '["hold"]',
                '[{"decision": "hold"}, "final"]',
            ]
        )
        trade = self.dumps(self.good())
        text = self.r.choice(
            [f"Draft: {hold}\nFinal JSON: {trade}", f"{trade}\nCorrection: {hold}"]
        )
        return Case("careless_hold", "ambiguous", text, error_type="ambiguous_answer")

    def deep_nesting(self) -> Case:
        """A hold padded with more nesting than a JSON decoder follows, then a trade."""
        depth = self.r.choice([1200, 3000, 20000])
        pad = "[" * depth + "]" * depth
        text = f'{{"decision": "hold", "pad": {pad}}} {self.dumps(self.good())}'
        return Case("deep_nesting", "invalid", text, error_type="invalid_json")

    def mixed_bare_list(self) -> Case:
        """A bare list of intents with something else in it: a hold or an answer is
        ambiguous, a note makes it not a list of intents."""
        other, label, error = self.r.choice(
            [
                ({"decision": "hold", "reason": "too risky"}, "ambiguous", "ambiguous_answer"),
                ({"Decision": "HOLD"}, "ambiguous", "ambiguous_answer"),
                ({"decision": "hold", "intents": []}, "ambiguous", "ambiguous_answer"),
                ({"note": "do not execute"}, "invalid", "schema_violation"),
            ]
        )
        items: list[Any] = [self.intent() for _ in range(self.r.randint(1, 2))] + [other]
        self.r.shuffle(items)
        return Case("mixed_bare_list", label, self.wrap(self.dumps(items)), error_type=error)

    def lookalike_key(self) -> Case:
        """A hold under a key that is not ``decision`` but looks like it or means it."""
        key = self.r.choice(
            ["decis\u0456on", "decisions", "desicion", "dec1sion", "action", "verdict", "final"]
        )
        value = {key: self.r.choice(["hold", "HOLD", " Hold"]), **self.good()}
        if key in ("action", "verdict", "final") and self.r.random() < 0.5:
            del value["decision"]
        return Case(
            "lookalike_key",
            "ambiguous",
            self.wrap(self.dumps(value)),
            error_type="ambiguous_answer",
        )

    def flagged_hold(self) -> Case:
        """A bare intent, an intent item or a trade answer that says "do not trade" in a
        field the schema does not read: a boolean flag, a hold-like status, a nested
        ``decision``."""
        flag = self.r.choice(
            [
                {"hold": True},
                {"trade": False},
                {"execute": False},
                {"approved": False},
                {"action": "no_trade"},
                {"status": "HOLD - do not execute"},
                {"recommendation": "hold off"},
                {"meta": {"decision": "hold"}},
                {"final": [{"Decision": "HOLD"}]},
            ]
        )
        where = self.r.randrange(3)
        if where == 0:
            value: Any = self.intent(**flag)
        elif where == 1:
            value = self.answer([self.intent(**flag)])
        else:
            flag = {k: v for k, v in flag.items() if k not in ("hold",)} or {"execute": False}
            value = {**self.good(), **flag}
        return Case(
            "flagged_hold", "ambiguous", self.wrap(self.dumps(value)), error_type="ambiguous_answer"
        )

    def hold_in_prose(self) -> Case:
        """A valid trade whose prose mentions holding: prose says nothing about the
        decision, so it trades."""
        words = self.r.choice(["hold for two weeks", "do not hold overnight", "HOLD then add"])
        if self.r.random() < 0.5:
            value: Any = self.intent(rationale=words)
        else:
            value = {**self.answer([self.intent(rationale=words)]), "reason": words}
        return Case("hold_in_prose", "trade", self.wrap(self.dumps(value)))

    def too_long(self) -> Case:
        text = self.dumps(self.good()) + " " * 200_001
        return Case("too_long", "invalid", text, error_type="content_too_long")


CLASSES: dict[str, tuple[int, Callable[[_Gen], Case]]] = {
    "valid_trade": (12, _Gen.valid_trade),
    "valid_hold": (4, _Gen.valid_hold),
    "bare": (6, _Gen.bare),
    "copies": (3, _Gen.copies),
    "partial": (3, _Gen.partial),
    "truncated": (8, _Gen.truncated),
    "truncated_wrapper": (3, _Gen.truncated_wrapper),
    "filtered": (3, _Gen.filtered),
    "non_string_decision": (6, _Gen.non_string_decision),
    "duplicate_keys": (6, _Gen.duplicate_keys),
    "conflicting": (8, _Gen.conflicting),
    "wrong_types": (6, _Gen.wrong_types),
    "bad_numbers": (6, _Gen.bad_numbers),
    "unknown_symbol": (4, _Gen.unknown_symbol),
    "nested_json_string": (4, _Gen.nested_json_string),
    "prose": (4, _Gen.prose),
    "refusal": (3, _Gen.refusal),
    "missing_amount": (2, _Gen.missing_amount),
    "secret": (4, _Gen.secret),
    "too_long": (1, _Gen.too_long),
    "secret_escaped": (2, _Gen.secret_escaped),
    "careless_hold": (4, _Gen.careless_hold),
    "deep_nesting": (1, _Gen.deep_nesting),
    "mixed_bare_list": (3, _Gen.mixed_bare_list),
    "lookalike_key": (3, _Gen.lookalike_key),
    "flagged_hold": (4, _Gen.flagged_hold),
    "hold_in_prose": (2, _Gen.hold_in_prose),
}
"""Class name → (weight, generator)."""


def corpus(
    n: int,
    *,
    seed: int,
    symbols: Sequence[str] = ("AAA", "BBB"),
    secret: str | None = None,
) -> list[Case]:
    """``n`` labelled adversarial answers, the same for the same arguments. Without a
    ``secret`` the ``secret`` classes are left out."""
    rng = random.Random(seed)
    gen = _Gen(rng, symbols, secret)
    names = [name for name in CLASSES if secret is not None or not name.startswith("secret")]
    weights = [CLASSES[name][0] for name in names]
    return [CLASSES[name][1](gen) for name in rng.choices(names, weights, k=n)]
