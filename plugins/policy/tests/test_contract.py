"""The policy guard (with the example policy) runs the guard contract of
tradekernel.testing: it allows, denies with a code its ``codes`` lists, and never
raises on hostile input."""

from __future__ import annotations

from tradekernel.testing import GuardContract, guard_context, make_intent

from .conftest import EXAMPLE


class TestPolicyGuard(GuardContract):
    component_name = "policy"
    config = f'file = "{EXAMPLE}"'

    def allowed_case(self):
        return make_intent("AAA", quantity=10), guard_context(last=50)

    def denied_case(self):
        return make_intent("AAA", quantity=200), guard_context(last=50)
