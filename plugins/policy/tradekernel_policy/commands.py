"""``tradekernel policy``: check, sign, verify, test, diff and explain policy files
(docs/policy.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


def _compile(path: str) -> Any:
    """The compiled policy at ``path``; a policy that does not compile is exit 2."""
    from tradekernel.api import ConfigError

    from .language import PolicyError, load_file

    try:
        return load_file(path)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None


@click.group()
def policy() -> None:
    """Trading policies as code: check, sign, verify, test, diff, explain."""


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def check(file: str, as_json: bool) -> None:
    """Compile FILE and list its rules (exit 2 naming the rule and key on a problem)."""
    p = _compile(file)
    if as_json:
        echo_json(
            {
                "name": p.name,
                "version": p.version,
                "sha256": p.sha256,
                "default": p.default,
                "rules": [{"id": r.id, "effect": r.effect, "code": r.code} for r in p.rules],
            }
        )
        return
    click.echo(
        f"{inert(p.name)} {inert(p.label)}: {len(p.rules)} rules, default {p.default}, "
        f"timezone {p.timezone}"
    )
    for r in p.rules:
        extra = f" approvals={r.approvals}" if r.approvals else ""
        click.echo(f"  {inert(r.id):24} {r.effect:18} {inert(r.code)}{extra}")


@policy.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--by", default="", help="Who signs (recorded and signed with the key id).")
@pass_app
def sign(app: AppContext, file: str, by: str) -> None:
    """Sign FILE with the [audit] key; writes FILE.sig (exit 2 without a key, or for a
    --by with control characters)."""
    from tradekernel.api import ConfigError

    from .language import PolicyError
    from .signing import sign_file

    _compile(file)
    try:
        path, signed = sign_file(app.settings(), file, by=by)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"signed {file} (sha256 {signed.sha256[:12]}) by {inert(signed.signer)}: {path}")


@policy.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_app
def verify(app: AppContext, file: str) -> None:
    """Check FILE's signature against the keys [audit] trusts (exit 4 naming the problem)."""
    from tradekernel.api import ConfigError, GateFailed

    from .language import PolicyError
    from .signing import SignatureProblem, verify_file

    try:
        signed = verify_file(app.settings(), file)
    except SignatureProblem as exc:
        raise GateFailed(str(exc)) from None
    except PolicyError as exc:  # a policy file that cannot be read: exit 2, not a gate
        raise ConfigError(str(exc)) from None
    p = _compile(file)
    click.echo(f"ok: {file} {inert(p.label)} signed by {inert(signed.signer)}")


@policy.command("test")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cases", "cases_file", required=True, type=click.Path(dir_okay=False))
@json_option
def test(file: str, cases_file: str, as_json: bool) -> None:
    """Run the CASES fixtures through FILE (exit 4 listing every mismatch)."""
    from tradekernel.api import GateFailed

    from .cases import load_cases, run_cases
    from .evaluate import Evaluator

    p = _compile(file)
    cases = load_cases(cases_file)
    mismatches = run_cases(Evaluator(p), cases)
    if as_json:
        echo_json(
            {
                "policy": p.label,
                "cases": len(cases),
                "mismatches": [
                    {"case": m.case, "expected": m.expected, "got": m.got} for m in mismatches
                ],
            }
        )
    else:
        for m in mismatches:
            click.echo(f"FAIL {inert(m.case)}: expected {inert(m.expected)}, got {inert(m.got)}")
        click.echo(f"{len(cases) - len(mismatches)}/{len(cases)} cases pass ({inert(p.label)})")
    if mismatches:
        raise GateFailed(
            f"{len(mismatches)} of {len(cases)} cases do not give the expected verdict"
        )


def _since(text: str | None) -> timedelta | None:
    from tradekernel.api import Duration

    if text is None:
        return None
    try:
        return timedelta(seconds=float(Duration.parse(text)))
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@policy.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--since", "since", help="Only intents recorded in this period (7d, 12h).")
@click.option("--guard", "guard", default=None, help="Only this policy guard's records.")
@json_option
@pass_app
def diff(
    app: AppContext, old: str, new: str, since: str | None, guard: str | None, as_json: bool
) -> None:
    """Replay the recorded intents through OLD and NEW; list every changed verdict."""
    from tradekernel.api import utcnow

    from .replay import diff_policies

    period = _since(since)
    start = utcnow() - period if period is not None else None
    result = diff_policies(app.settings().state_dir, _compile(old), _compile(new), start, guard)
    if as_json:
        echo_json(result)
        return
    for c in result["changes"]:
        click.echo(
            f"{inert(c['intent_id'])} {inert(c['symbol'])} {inert(c['side'])}: "
            f"{inert(c['old'])} -> {inert(c['new'])}"
        )
    click.echo(
        f"{len(result['changes'])} of {result['replayed']} intents change verdict "
        f"({inert(result['old'])} -> {inert(result['new'])})"
    )
    if result["unreadable"]:
        click.echo(f"{result['unreadable']} recorded evaluations do not decode and were skipped")


@policy.command("explain")
@click.argument("intent_id")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="The policy to explain with (default: [guard.policy] file).",
)
@json_option
@pass_app
def explain(app: AppContext, intent_id: str, file: str | None, as_json: bool) -> None:
    """Show how the policy decides INTENT_ID: each rule, matched or not, and the values
    of the fields it read (from the context recorded when it was evaluated)."""
    from .replay import explain_intent

    settings = app.settings()
    path = Path(file) if file else _configured_file(settings)
    result = explain_intent(settings.state_dir, _compile(str(path)), intent_id)
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"{inert(intent_id)} {inert(result['symbol'])} {inert(result['side'])} with "
        f"{inert(result['policy'])}: {inert(result['decision'])}"
    )
    if result["recorded_version"] != result["policy"]:
        click.echo(
            f"note: it was decided by {inert(result['recorded_version'])}: "
            f"{inert(result['recorded'])}"
        )
    for t in result["rules"]:
        state = "error" if t["matched"] is None else "matched" if t["matched"] else "no match"
        values = ", ".join(f"{k}={inert(v)}" for k, v in t["values"].items())
        more = f" [{inert(t['error'])}]" if t["error"] else ""
        click.echo(f"  {inert(t['rule']):24} {inert(t['effect']):18} {state:9} {values}{more}")


def _configured_file(settings: Any) -> Path:
    from tradekernel.api import ConfigError

    from .config import PolicyGuardConfig
    from .guard import policy_path

    for name in settings.components.guards:
        if settings.component_use("guard", name) == "policy":
            config = settings.component_config("guard", name, PolicyGuardConfig)
            return policy_path(settings, config.file)
    raise ConfigError("no policy guard is configured: give --file")
