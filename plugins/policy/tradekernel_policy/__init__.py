"""Policy as code for tradekernel: trading policies in TOML, compiled once into closures,
signed with the audit keys, journaled when loaded, testable before deployment (``policy
test``, ``policy diff``, ``policy explain``) and enforced by the ``policy`` guard.
See docs/policy.md.
"""

from __future__ import annotations

from tradekernel import hookimpl
from tradekernel.api import lazy_exports

_LAZY = {
    "Evaluator": ".evaluate",
    "Outcome": ".evaluate",
    "RuleTrace": ".evaluate",
    "Policy": ".language",
    "PolicyError": ".language",
    "Rule": ".language",
    "compile_bytes": ".language",
    "compile_policy": ".language",
    "load_file": ".language",
    "PolicyGuard": ".guard",
    "PolicyGuardConfig": ".config",
    "sign_file": ".signing",
    "verify_file": ".signing",
    "SignatureProblem": ".signing",
}
"""Imported on first use: registering the plugin imports none of its modules."""

TRADEKERNEL_API = ">=1.0,<2"
"""The range of :data:`tradekernel.api.API_VERSION` this plugin was built for."""


def _factory(config, ctx):
    """Denies or allows each intent as the active policy decides (docs/policy.md)."""
    from .guard import PolicyGuard

    return PolicyGuard(config, ctx)


@hookimpl
def register_guards(register):
    from .config import PolicyGuardConfig

    register(
        "policy",
        _factory,
        config=PolicyGuardConfig,
        version="1",
        description="Evaluates a signed, versioned policy file (docs/policy.md).",
    )


@hookimpl
def on_kernel_start(kernel):
    """Attach the cycle-end watch of the policy files to a kernel that selects a policy
    guard (any other kernel is left alone)."""
    from .watch import OBSERVER, CycleWatch, policy_guards

    names = policy_guards(kernel.settings)
    if names:
        kernel.add_observer(CycleWatch(kernel, names), OBSERVER)


@hookimpl
def register_commands(cli):
    """Add ``tradekernel policy`` (imported only when the CLI asks for plugin commands)."""
    from .commands import policy

    cli.add_command(policy)


__all__ = sorted(_LAZY)

__getattr__ = lazy_exports(__name__, _LAZY)
