"""Evaluating a compiled policy on one intent: the decision, and the full trace.

Precedence (docs/policy.md, "How a policy decides"): the deny rules in file order, the
first that matches denies (forbid overrides allow); else the intent is allowed when the
policy's default is ``allow`` or an ``allow`` rule matches, and denied with
``default_code`` otherwise; an allowed intent needs the largest ``approvals`` of every
matching ``require_approvals`` rule. A rule that reads a field without a value denies
with that field's code (``no_price``, ``no_clock``, ``no_account``); one that cannot be
computed (division by zero) denies ``policy_error``. Evaluation never raises.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from attrs import frozen
from tradekernel.api import GuardContext, GuardVerdict, Intent

from .fields import Clock, Env, Missing
from .language import POLICY_ERROR, Policy, Rule

DEFAULT_RULE = "default"
"""The ``rule`` of a verdict the policy's default decided."""


class Outcome(NamedTuple):
    """What a policy decided about one intent (a tuple: cheap to make per intent)."""

    allow: bool
    code: str
    rule: str
    approvals: int
    detail: str


@frozen
class RuleTrace:
    """One rule's part in an evaluation: whether it matched and the values it read."""

    rule: str
    effect: str
    matched: bool | None
    """``None`` when it could not be evaluated (see ``error``)."""
    values: dict[str, Any]
    error: str = ""


class Evaluator:
    """A policy ready to evaluate: its rules split by effect, its time zone loaded."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.clock = Clock(ZoneInfo(policy.timezone))
        self.deny = tuple(r for r in policy.rules if r.effect == "deny")
        self.allow = tuple(r for r in policy.rules if r.effect == "allow")
        # largest first (file order among equals): the first that matches decides
        self.quorum = tuple(
            sorted(
                (r for r in policy.rules if r.effect == "require_approvals"),
                key=lambda r: -r.approvals,
            )
        )
        self.deny_tests = tuple((r.test, r) for r in self.deny)
        self.default_allows = policy.default == "allow"
        self._verdicts: dict[tuple[str, Outcome], GuardVerdict] = {}

    def decide(self, intent: Intent, ctx: GuardContext) -> Outcome:
        """The policy's decision on ``intent`` (never raises)."""
        env = Env(intent, ctx, self.clock)
        rule: Rule | None = None
        try:
            for test, rule in self.deny_tests:
                if test(env):
                    return Outcome(False, rule.code, rule.id, 0, _why(rule))
            allowed_by = DEFAULT_RULE if self.default_allows else None
            if allowed_by is None:
                for rule in self.allow:
                    if rule.test(env):
                        allowed_by = rule.id
                        break
            if allowed_by is None:
                return Outcome(
                    False,
                    self.policy.default_code,
                    DEFAULT_RULE,
                    0,
                    "no rule allows it (default deny)",
                )
            needed, by = 0, None
            for rule in self.quorum:
                if rule.test(env):
                    needed, by = rule.approvals, rule
                    break
        except Missing as exc:
            where = rule.id if rule is not None else DEFAULT_RULE
            return Outcome(False, exc.code, where, 0, f"{exc.field} has no value")
        except Exception as exc:  # division by zero, overflow, a bad comparison: fail closed
            where = rule.id if rule is not None else DEFAULT_RULE
            return Outcome(False, POLICY_ERROR, where, 0, f"{type(exc).__name__} in rule {where}")
        if by is not None:
            return Outcome(
                True, "ok", by.id, needed, f"allowed by {allowed_by}; {needed} approvals ({by.id})"
            )
        return Outcome(True, "ok", allowed_by, 0, f"allowed by {allowed_by}")

    def verdict(self, guard: str, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        """:meth:`decide` as a guard verdict naming the rule and the policy's version."""
        o = self.decide(intent, ctx)
        key = (guard, o)
        verdict = self._verdicts.get(key)
        if verdict is None:  # verdicts are immutable: one object per distinct outcome
            if len(self._verdicts) > 4096:
                self._verdicts.clear()
            verdict = self._verdicts[key] = GuardVerdict(
                guard=guard,
                allow=o.allow,
                code=o.code,
                detail=o.detail,
                rule=o.rule,
                version=self.policy.label,
                approvals=o.approvals,
            )
        return verdict

    def trace(self, intent: Intent, ctx: GuardContext) -> list[RuleTrace]:
        """Every rule evaluated on its own (no short-circuit between rules): matched or
        not, and the values of the fields it read."""
        out = []
        for rule in self.policy.rules:
            env = Env(intent, ctx, self.clock)
            try:
                matched: bool | None = bool(rule.trace_test(env))
                error = ""
            except Missing as exc:
                matched, error = None, f"{exc.field} has no value ({exc.code})"
            except Exception as exc:
                matched, error = None, f"{type(exc).__name__} ({POLICY_ERROR})"
            values = {k: env[k] for k in rule.fields if k in env}
            out.append(RuleTrace(rule.id, rule.effect, matched, values, error))
        return out


def _why(rule: Rule) -> str:
    return f"rule {rule.id}: {rule.description}" if rule.description else f"rule {rule.id}"
