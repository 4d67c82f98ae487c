"""``tradekernel intents``: list, inspect, preview, approve, reject, reconcile, preflight."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import click

from ..display import inert
from ..readable import format_money, format_quantity
from ..store.states import IntentState
from .context import AppContext, echo_json, json_option, pass_app


def open_store(app: AppContext, *, create: bool = False, wired: bool = False) -> Any:
    """The state store of the configured ``state_dir``; ``wired`` routes transitions to the
    kernel's ``on_intent_transition`` observers."""
    from ..store import open_store

    settings = app.settings()
    on_transition = None
    if wired:
        kernel = app.kernel()

        def on_transition(transition: Any) -> None:
            kernel.dispatch_transition(transition)

    return open_store(
        settings,
        create=create,
        on_transition=on_transition,
        redact=settings.redact,
    )


def safe_emit(app: AppContext) -> Any:
    """The kernel's ``emit``; an event sink that cannot start must not undo an operator action."""
    from loguru import logger

    def emit(stage: str, kind: str, **fields: Any) -> None:
        try:
            app.kernel().emit(stage, kind, **fields)
        except Exception as exc:
            logger.warning("event {}.{} not delivered: {}", stage, kind, exc)

    return emit


def record_dict(record: Any) -> dict[str, Any]:
    from ..serde import unstructure

    data = unstructure(record)
    data["id"] = record.id
    return data


def sizing_text(sizing: dict[str, str]) -> str:
    """An intent's sizing record on one line: ``kelly (kelly): budget=10000 ...``."""
    inputs = " ".join(f"{k}={v}" for k, v in sizing.items() if k not in ("sizer", "method"))
    return f"{sizing.get('sizer', '?')} ({sizing.get('method', '?')}): {inputs}"


def _step(app: AppContext) -> Any:
    """``[runtime] quantity_step``: the places a quantity is shown with."""
    return app.settings().runtime.quantity_step


def _line(record: Any, step: Any = None) -> str:
    intent = record.intent
    if intent.quantity is not None:
        amount = f"qty {format_quantity(intent.quantity, step)}"
    elif intent.notional is not None:
        amount = f"${format_money(intent.notional)}"
    else:
        amount = "unsized"
    extra = f"  ({inert(record.reason)})" if record.reason else ""
    return (
        f"{inert(record.id)}  {record.state.value:<16} {intent.side.value:<4} "
        f"{inert(intent.symbol):<8} {amount:<14} {record.created_at:%Y-%m-%d %H:%M:%S}{extra}"
    )


@click.group()
def intents() -> None:
    """Inspect and approve trade intents; reconcile stuck executions."""


@intents.command("list")
@click.option(
    "--state",
    "state",
    type=click.Choice([s.value for s in IntentState]),
    help="Only intents in this state.",
)
@click.option("--cycle", "cycle_id", help="Only intents of this cycle.")
@click.option("--broker", help="Only intents routed to this broker.")
@click.option(
    "--strategy",
    help="Only intents of this strategy (strategist name), netted ones it has a share of too.",
)
@click.option("--limit", type=int, help="At most this many.")
@click.option(
    "--stuck-after",
    help="Exit 4 naming every intent executing longer than this (e.g. 5m).",
)
@json_option
@pass_app
def list_cmd(
    app: AppContext,
    state: str | None,
    cycle_id: str | None,
    broker: str | None,
    strategy: str | None,
    limit: int | None,
    stuck_after: str | None,
    as_json: bool,
) -> None:
    """List intents, oldest first."""
    from ..errors import GateFailed, NotFoundError
    from ..models import utcnow
    from ..settings import Duration

    threshold = None
    if stuck_after is not None:
        try:
            threshold = Duration.parse(stuck_after)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--stuck-after") from None
    filtered = broker is not None or strategy is not None
    try:
        store = open_store(app)
    except NotFoundError:  # no state yet: no intents
        records: list[Any] = []
    else:
        with store:
            records = store.list_intents(
                state=state, cycle_id=cycle_id, limit=None if filtered else limit
            )
            shared = set(store.netted_intents(strategy)) if strategy is not None else set()
    if broker is not None:
        records = [r for r in records if r.broker == broker]
    if strategy is not None:
        records = [r for r in records if r.intent.strategist == strategy or r.id in shared]
    if filtered:
        records = records[:limit]
    stuck = []
    if threshold is not None:
        cutoff = utcnow() - timedelta(seconds=float(threshold))
        stuck = [
            r
            for r in records
            if r.state.value == "executing" and r.executing_since and r.executing_since < cutoff
        ]
    if as_json:
        echo_json(
            {
                "intents": [record_dict(r) for r in records],
                "stuck": [r.id for r in stuck],
            }
        )
    else:
        step = _step(app) if records else None
        for record in records:
            click.echo(_line(record, step))
        if not records:
            click.echo("no intents")
    if stuck:
        names = ", ".join(r.id for r in stuck)
        raise GateFailed(f"{len(stuck)} intent(s) executing longer than {threshold}: {names}")


@intents.command("show")
@click.argument("intent_id")
@json_option
@pass_app
def show(app: AppContext, intent_id: str, as_json: bool) -> None:
    """Show one intent with its whole journal."""
    from ..quorum import approvals, recorded_quorum
    from ..serde import unstructure

    with open_store(app) as store:
        record = store.get(intent_id)
        rows = store.journal_rows(intent_id)
        shares = store.shares(intent_id)
        parts = store.strategy_fills(intent_id)
    need, given = recorded_quorum(rows, record.verdicts), approvals(rows)
    if as_json:
        echo_json(
            {
                "intent": record_dict(record),
                "approvals_required": need,
                "approvals": [{"actor": a, "ts": ts} for a, ts in given],
                "journal": [unstructure(r) for r in rows],
                "shares": [{**unstructure(s), "amount": format(s.amount, "f")} for s in shares],
                "strategy_fills": {k: format(v, "f") for k, v in parts.items()},
            }
        )
        return
    click.echo(_line(record, _step(app)))
    click.echo(f"  strategist: {inert(record.intent.strategist)}")
    for share in shares:
        filled = parts.get(share.strategist, Decimal(0))
        click.echo(
            f"  share: {inert(share.strategist)} {share.amount:+f} (filled {filled:+f}) "
            f"from {inert(share.intent_id)}"
        )
    for key in ("cycle_id", "broker", "client_order_id", "broker_order_id", "order_status"):
        click.echo(f"  {key}: {inert(getattr(record, key))}")
    click.echo(f"  rationale: {inert(record.intent.rationale)}")
    if record.intent.sizing is not None:
        click.echo(f"  sizing: {inert(sizing_text(record.intent.sizing))}")
    for verdict in record.verdicts:
        mark = "allow" if verdict.allow else "DENY"
        text = f"{verdict.guard} {mark} {verdict.code} {verdict.detail}".rstrip()
        if verdict.rule:
            text += f" [rule {verdict.rule} {verdict.version}]".replace(" ]", "]")
        click.echo(f"  verdict: {inert(text)}")
    click.echo(f"  approvals: {approvals_text(need, given)}")
    click.echo("journal:")
    for row in rows:
        reason = f"  {inert(row.reason)}" if row.reason else ""
        move = f"{row.from_state or '-'} -> {row.to_state}"
        click.echo(f"  #{row.seq} {row.ts}  {move}  by {inert(row.actor)}{reason}")


def approvals_text(need: int, given: list[tuple[str, str]]) -> str:
    """``1 of 2 (alice at 2024-01-02T16:00:00+00:00)``: the quorum and who approved so far
    (``need`` 0: the approval mode decides, shown as ``1``)."""
    who = ", ".join(f"{inert(actor)} at {ts}" for actor, ts in given)
    return f"{len(given)} of {max(need, 1)}" + (f" ({who})" if who else "")


def _approvals(app: AppContext, store: Any) -> Any:
    from ..approval import ApprovalService

    return ApprovalService(store, app.settings(), emit=safe_emit(app))


@intents.command("preview")
@click.argument("intent_id")
@json_option
@pass_app
def preview(app: AppContext, intent_id: str, as_json: bool) -> None:
    """What approving INTENT_ID would send: order, notional, verdicts, rationale, expiry."""
    from ..approval import ApprovalService

    with open_store(app) as store:

        def broker(name: str) -> Any:  # the intent's own broker: its order constraints apply
            default = app.settings().components.broker
            if name != default and name in _brokers(app):
                return app.kernel().component("broker", name)
            return app.kernel().component("broker")

        p = ApprovalService(store, app.settings(), broker=broker).preview(intent_id)
    if as_json:
        echo_json(p.to_dict())
        return
    click.echo(f"intent {inert(p.intent_id)}  [{p.state}]  cycle {inert(p.cycle_id)}")
    if p.journal_mismatch is not None:
        warning = f"journal_mismatch: {p.journal_mismatch} (edited behind the journal's back)"
        click.echo(f"  WARNING:   {inert(warning)}; it cannot be approved")
        click.echo(f"warning: intent {inert(p.intent_id)}: {inert(warning)}", err=True)
    price = f" @ {p.limit_price}" if p.limit_price else ""
    order = (
        f"{p.side} {format_quantity(p.quantity, _step(app))} {p.symbol} {p.order_type}{price} "
        f"via {p.broker}"
    )
    click.echo(f"  order:     {inert(order)}")
    notional = format_money(p.estimated_notional)
    click.echo(f"  notional:  ~{notional} (reference price {inert(p.ref_price)})")
    if p.sizing is not None:
        click.echo(f"  sizing:    {inert(sizing_text(p.sizing))}")
    for v in p.verdicts:
        mark = "allow" if v["allow"] else "DENY"
        text = f"{v['guard']} {mark} {v['code']} {v['detail']}".rstrip()
        if v.get("rule"):  # a rule-based guard names the rule and its version
            text += f" [rule {v['rule']} {v.get('version') or ''}]".replace(" ]", "]")
        click.echo(f"  guard:     {inert(text)}")
    given = [(a["actor"], a["ts"]) for a in p.approvals]
    click.echo(f"  approvals: {approvals_text(p.approvals_required, given)}")
    if (b := p.budget) is not None:
        answer = "allow" if b["allow"] else (b["code"] or "not judged")
        text = (
            f"{b['strategy']} [{b['state']}] gross {b['gross_exposure']} of cap {b['cap']} "
            f"(capital {b['capital']}, P&L {b['pnl']}): {answer} {b['detail']}"
        ).rstrip()
        click.echo(f"  budget:    {inert(text)}")
    prompt = f"prompt {p.prompt_version}, " if p.prompt_version else ""
    click.echo(f"  strategist: {inert(f'{p.strategist} ({prompt}{p.schema_version})')}")
    click.echo(f"  rationale: {inert(p.rationale)}")
    expiry = "EXPIRED" if p.expired else f"expires {p.expires_at}"
    click.echo(f"  age:       {p.age_s:.0f}s, {expiry}")


def _decide(app: AppContext, action: str, intent_id: str, by: str, reason: str) -> None:
    with open_store(app, wired=True) as store:
        service = _approvals(app, store)
        record = getattr(service, action)(intent_id, by, reason)
        need, given = service.quorum(intent_id) if action == "approve" else (0, [])
    who = inert(app.settings().redact(by))
    if need:
        state = "approved" if record.state.value == "approved" else "still pending_approval"
        click.echo(f"{record.id}: approval {len(given)} of {need} recorded by {who}; {state}")
        return
    click.echo(f"{record.id}: {record.state.value} by {who}")


def _approver(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """``--by`` as an approver name (one line, exit 2, when it is not one). Not
    authentication: whoever can run the CLI can write the state (docs/operations.md)."""
    from ..errors import RefusedError
    from ..quorum import approver_name

    try:
        return approver_name(value)
    except RefusedError as exc:
        raise click.BadParameter(str(exc)) from None


_by = click.option(
    "--by",
    default="operator",
    show_default=True,
    callback=_approver,
    help="Who decides: a name of letters, digits and . _ @ + - (not authenticated).",
)
_reason = click.option("--reason", default="", help="Why (journaled).")


@intents.command("approve")
@click.argument("intent_id")
@_by
@_reason
@pass_app
def approve(app: AppContext, intent_id: str, by: str, reason: str) -> None:
    """Approve a pending intent (exit 3 when it is expired, rejected or already executed).

    An intent that needs a quorum moves to approved with its N-th distinct approver:
    each approval before it is recorded ("approval 1 of 2 recorded"); the same approver
    twice is refused (exit 3)."""
    _decide(app, "approve", intent_id, by, reason)


@intents.command("reject")
@click.argument("intent_id")
@_by
@_reason
@pass_app
def reject(app: AppContext, intent_id: str, by: str, reason: str) -> None:
    """Reject a pending intent."""
    _decide(app, "reject", intent_id, by, reason)


@intents.command("cancel")
@click.argument("intent_id")
@_by
@_reason
@pass_app
def cancel(app: AppContext, intent_id: str, by: str, reason: str) -> None:
    """Cancel an intent that has not started executing."""
    _decide(app, "cancel", intent_id, by, reason)


def _brokers(app: AppContext) -> list[str]:
    sel = app.settings().components
    return list(sel.brokers) or [sel.broker]


def _executor(app: AppContext, store: Any, name: str | None = None) -> Any:
    """The executor on broker ``name`` (the default broker when it is not configured)."""
    from ..execution import Executor

    settings = app.settings()
    names = _brokers(app)
    default = settings.components.broker
    name = name if name in names else default
    kernel = app.kernel()
    return Executor(
        store,
        kernel.component("broker") if name == default else kernel.component("broker", name),
        broker_name=name,
        settings=settings,
        emit=safe_emit(app),
        peers=frozenset(names) - {name},
    )


@intents.command("reconcile")
@json_option
@pass_app
def reconcile(app: AppContext, as_json: bool) -> None:
    """Resolve intents stuck in executing by asking the broker (never resubmits blindly)."""
    from ..execution import reconcile_brokers
    from ..files import RUN_LOCK, exclusive
    from ..lease import agent_lease
    from ..serde import unstructure

    # A running agent owns its executing intents and reconciles them at its own start.
    lock = exclusive(app.settings().state_dir / RUN_LOCK, "tradekernel run")
    # on a shared store, the agent of this namespace on another host holds its lease
    lease = agent_lease(app.kernel(), "tradekernel intents reconcile", settings=app.settings())
    with lock, lease as fence, open_store(app, wired=True) as store:
        # a disabled broker is sent nothing, a resubmit included: its intents wait for it
        results, _ = reconcile_brokers(
            app.kernel(), store, emit=safe_emit(app), settings=app.settings(), fence=fence
        )
    if as_json:
        echo_json([unstructure(r) for r in results])
        return
    for r in results:
        reason = f"  ({inert(r.reason)})" if r.reason else ""
        click.echo(f"{r.intent_id}  {r.action:<13} -> {r.state}{reason}")
    if not results:
        click.echo("nothing to reconcile")


@intents.command("preflight")
@click.argument("intent_id")
@json_option
@pass_app
def preflight(app: AppContext, intent_id: str, as_json: bool) -> None:
    """Check whether INTENT_ID may execute now; exit 3 listing every denial."""
    from ..errors import RefusedError
    from ..serde import unstructure

    with open_store(app) as store:
        record = store.get(intent_id)
        denials = _executor(app, store, record.broker).preflight(intent_id)
    if as_json:
        echo_json({"intent_id": intent_id, "ok": not denials, "denials": unstructure(denials)})
    else:
        for d in denials:
            click.echo(f"DENY {d.code}: {inert(d.detail)}")
        if not denials:
            click.echo(f"{inert(intent_id)}: clear to execute")
    if denials:
        codes = ", ".join(d.code for d in denials)
        raise RefusedError(f"intent {intent_id} may not execute: {codes}")
