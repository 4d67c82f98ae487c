"""``tradekernel control``: operator switches, persisted and journaled with the actor."""

from __future__ import annotations

import click

from ..display import inert
from .context import AppContext, echo_json, json_option, pass_app

by_option = click.option("--by", "actor", default="operator", show_default=True, help="Who acts.")
reason_option = click.option("--reason", default="", help="Why (journaled).")


def _control(app: AppContext):
    from ..runtime.control import Control
    from ..store import open_store

    settings = app.settings()
    store = open_store(settings, redact=settings.redact)
    app.on_close(store.close)
    return Control(store, settings.runtime, emit=app.kernel().emit)


@click.group()
def control() -> None:
    """Pause, resume, kill switch, trading state and persisted mode."""


@control.command()
@by_option
@reason_option
@pass_app
def pause(app: AppContext, actor: str, reason: str) -> None:
    """Pause: cycles are skipped until resume."""
    _control(app).pause(actor=actor, reason=reason)
    click.echo(f"paused by {inert(actor)}")


@control.command()
@by_option
@reason_option
@pass_app
def resume(app: AppContext, actor: str, reason: str) -> None:
    """Resume: clears pause, cooldown, incidents and degrade mode."""
    _control(app).resume(actor=actor, reason=reason)
    click.echo(f"resumed by {inert(actor)}")


@control.command("kill-switch")
@click.argument("state", type=click.Choice(["on", "off"]))
@by_option
@reason_option
@pass_app
def kill_switch(app: AppContext, state: str, actor: str, reason: str) -> None:
    """Turn the kill switch on (nothing new trades) or off."""
    _control(app).set_kill_switch(state == "on", actor=actor, reason=reason)
    click.echo(f"kill switch {state} (by {inert(actor)})")


@control.command("trading-state")
@click.argument("state", type=click.Choice(["active", "reducing", "halted"]))
@by_option
@reason_option
@pass_app
def trading_state(app: AppContext, state: str, actor: str, reason: str) -> None:
    """Set the trading state: active, reducing (only position-shrinking orders) or halted."""
    _control(app).set_trading_state(state, actor=actor, reason=reason)
    click.echo(f"trading state {state} (by {inert(actor)})")


@control.command("strategy-state")
@click.argument("strategy")
@click.argument("state", type=click.Choice(["active", "reducing", "halted"]))
@by_option
@reason_option
@pass_app
def strategy_state(app: AppContext, strategy: str, state: str, actor: str, reason: str) -> None:
    """Set one strategy's state (its drawdown stop sets reducing and halted; only an
    operator makes it active again, which restarts its drawdown from its P&L then)."""
    from ..portfolio.state import StrategyStates

    control = _control(app)
    StrategyStates(control, app.kernel().emit).set(strategy, state, actor=actor, reason=reason)
    click.echo(f"strategy {inert(strategy)}: {state} (by {inert(actor)})")


@control.command("mode")
@click.argument("mode", type=click.Choice(["paper", "shadow", "live", "clear"]))
@by_option
@reason_option
@pass_app
def mode(app: AppContext, mode: str, actor: str, reason: str) -> None:
    """Persist the runtime mode (a --mode flag still wins); 'clear' removes it."""
    if mode == "live" and not app.settings().kernel.live_acknowledged:
        from ..errors import RefusedError

        raise RefusedError(
            'mode "live" needs [kernel] live_acknowledged = true in the configuration'
        )
    _control(app).set_mode(None if mode == "clear" else mode, actor=actor, reason=reason)
    click.echo(f"persisted mode: {mode} (by {inert(actor)})")


@control.command()
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Show pause, kill switch, trading state, mode, degrade, cooldown and breaker."""
    control = _control(app)
    data = control.status()
    settings = app.settings()
    if settings.components.brokers:
        from ..runtime.routing import BrokerHealth

        data["brokers"] = {
            name: {"health": h.state, "disabled": h.disabled}
            for name in settings.components.brokers
            if (h := BrokerHealth(name, control, settings.routing, None))
        }
    if settings.portfolio.budgets:
        from ..portfolio.state import StrategyStates

        data["strategies"] = StrategyStates(control).states(sorted(settings.portfolio.budgets))
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key:15} {inert(value)}")


@control.group("broker")
def broker() -> None:
    """Take one of several brokers out of routing (disable) or put it back (enable)."""


def _broker_health(app: AppContext, name: str):
    from ..errors import ConfigError
    from ..runtime.routing import BrokerHealth

    settings = app.settings()
    if not settings.components.brokers:  # one broker: no routing would ever read it
        raise ConfigError(
            f"{settings.where('components', 'broker')}: control broker disable/enable "
            "takes one of several brokers out of routing, and [components] brokers is not "
            "set; with one broker use `tradekernel control trading-state halted` (or "
            "`control kill-switch on`) to stop sending orders"
        )
    names = app.kernel().selected("broker")
    if name not in names:
        raise ConfigError(
            f"{settings.where('components', 'brokers')}: broker {name!r} is not configured "
            f"(brokers: {', '.join(names)})"
        )
    control = _control(app)
    return BrokerHealth(name, control, settings.routing, control._emit)


@broker.command("disable")
@click.argument("name")
@by_option
@reason_option
@pass_app
def broker_disable(app: AppContext, name: str, actor: str, reason: str) -> None:
    """No new intent goes to NAME (its route's secondary takes them, else they are held);
    nothing is sent to it, and intents claimed on it wait there until it is enabled."""
    _broker_health(app, name).set_disabled(True, actor=actor, reason=reason)
    click.echo(f"broker {inert(name)} disabled (by {inert(actor)})")


@broker.command("enable")
@click.argument("name")
@by_option
@reason_option
@pass_app
def broker_enable(app: AppContext, name: str, actor: str, reason: str) -> None:
    """NAME takes new intents again (from the next cycle, while healthy)."""
    _broker_health(app, name).set_disabled(False, actor=actor, reason=reason)
    click.echo(f"broker {inert(name)} enabled (by {inert(actor)})")
