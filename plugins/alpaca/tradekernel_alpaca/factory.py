"""Building Alpaca components from the kernel's context: credentials, the live check,
the shared HTTP client."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tradekernel.api import ComponentContext

from .config import LIVE_URL, AlpacaConfig, normal_host

if TYPE_CHECKING:
    from .broker import AlpacaBroker
    from .http import AlpacaHTTP


def live_capable(config: AlpacaConfig, mode: str, acknowledged: bool) -> bool:
    """Whether a broker on ``config`` may place real-money orders: only the live host, in
    ``live`` mode, acknowledged. The live host in any other mode, or another host in
    acknowledged live mode, is refused (:class:`ValueError`, the message for
    ``[broker.alpaca] base_url``). Hosts are compared normalised (:func:`normal_host`)."""
    live_mode = mode == "live" and acknowledged
    if not config.live_url:
        if live_mode:
            raise ValueError(
                f"acknowledged live mode trades only on Alpaca's live API {LIVE_URL}, "
                f"got {config.base_url!r}"
            )
        return False
    if not live_mode:
        raise ValueError(
            f"{LIVE_URL} is Alpaca's live (real money) API: it needs [kernel] mode = "
            '"live" and live_acknowledged = true (paper trading: leave base_url unset)'
        )
    return True


def _kernel_mode(ctx: ComponentContext) -> tuple[str, bool]:
    kernel = getattr(ctx.settings, "kernel", None)
    return str(getattr(kernel, "mode", "paper")), bool(getattr(kernel, "live_acknowledged", False))


def make_http(
    config: AlpacaConfig, ctx: ComponentContext, *, name: str = "alpaca", **client: Any
) -> AlpacaHTTP:
    """An :class:`AlpacaHTTP` for the component ``name``: the URLs checked against the
    kernel's mode (:func:`live_capable`), the key id and secret read with ``ctx.secret``
    (so the kernel redacts them), events through ``ctx.emit``."""
    import httpx

    from .http import AlpacaHTTP, header_safe

    mode, acknowledged = _kernel_mode(ctx)
    try:
        live_capable(config, mode, acknowledged)
    except ValueError as exc:
        raise ctx.config_error("base_url", str(exc)) from None
    for key in ("base_url", "data_url"):
        # the host httpx will connect to must be the one the configuration checked
        url = getattr(config, key)
        reached = httpx.URL(url).host.lower().rstrip(".")
        if reached != normal_host(url):
            raise ctx.config_error(key, f"{url!r} reaches {reached!r}, not {normal_host(url)!r}")
    values = {}
    for key in ("key_id_env", "secret_key_env"):
        env = getattr(config, key)
        value = ctx.secret(env)
        if not value:
            raise ctx.config_error(key, f"environment variable {env} is not set")
        if not header_safe(value):  # never quote the value
            raise ctx.config_error(
                key,
                f"environment variable {env} holds characters not allowed in an HTTP "
                "header (printable ASCII only, no spaces)",
            )
        values[key] = value
    redact: Callable[[str], str] | None = getattr(ctx.settings, "redact", None)
    return AlpacaHTTP(
        config,
        key_id=values["key_id_env"],
        secret_key=values["secret_key_env"],
        emit=ctx.emit,
        redact=redact,
        broker=name,
        **client,
    )


def make_broker(config: AlpacaConfig, ctx: ComponentContext, **client: Any) -> AlpacaBroker:
    """The ``broker:alpaca`` component (``client``: test hooks for :class:`AlpacaHTTP`,
    such as ``transport`` and ``sleep``)."""
    from .broker import AlpacaBroker

    mode, acknowledged = _kernel_mode(ctx)
    try:
        live = live_capable(config, mode, acknowledged)
    except ValueError as exc:
        raise ctx.config_error("base_url", str(exc)) from None
    name = ctx.name or "alpaca"
    return AlpacaBroker(make_http(config, ctx, name=name, **client), live_capable=live)


__all__ = ["live_capable", "make_broker", "make_http"]
