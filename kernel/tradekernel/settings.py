"""Settings: the single source of truth, and the only module that reads the environment.

Precedence, applied here and nowhere else: CLI flag > environment > file > default.

* The file is ``plugins.toml``: ``--config``, else ``TRADEKERNEL_CONFIG``, else
  ``./plugins.toml``. A missing *default* file means built-in defaults; a missing
  named file is an error.
* ``TRADEKERNEL_<SECTION>__<KEY>`` overrides ``[section] key``; nested sections use
  more ``__`` (``TRADEKERNEL_BROKER__PAPER__CASH``). Values are read as TOML literals
  (``10``, ``true``, ``["AAA"]``) and fall back to plain strings.
* Secrets never live in the file: a component names the variable that holds one
  (``api_key_env = "OPENROUTER_API_KEY"``) and asks :meth:`Settings.secret` for it.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
from attrs import define, field

from .components import KINDS
from .errors import ConfigError
from .serde import ValidationError, converter, structure

T = TypeVar("T")

ENV_PREFIX = "TRADEKERNEL_"
CONFIG_ENV = "TRADEKERNEL_CONFIG"
DEFAULT_CONFIG = Path("plugins.toml")
SECRET_KEY_PATTERN = re.compile(r"(secret|password|passwd|token|api_key|apikey|private_key)", re.I)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class Duration(float):
    """Seconds, written in the file as ``90``, ``"90s"``, ``"15m"``, ``"1h"`` or ``"1d"``."""

    @classmethod
    def parse(cls, value: Any) -> Duration:
        if isinstance(value, bool):
            raise ValueError(f"expected a duration like '15m', got {value!r}")
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and (m := _DURATION.match(value)):
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
        else:
            raise ValueError(f"expected a duration like '15m', got {value!r}")
        if seconds < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return cls(seconds)

    def __str__(self) -> str:
        for unit in ("d", "h", "m"):
            if self and self % _UNITS[unit] == 0:
                return f"{int(self // _UNITS[unit])}{unit}"
        return f"{float(self):g}s"


converter.register_structure_hook(Duration, lambda v, _: Duration.parse(v))
converter.register_unstructure_hook(Duration, str)


def positive(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator for config classes: the value must be greater than zero."""
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name}: expected a positive number, got {value!r}")


def ratio(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    """attrs validator for config classes: the value must be within 0..1."""
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name}: expected a number from 0 to 1, got {value!r}")


def ratio_or_none(_inst: Any, attribute: attrs.Attribute, value: float | None) -> None:
    """attrs validator: ``None`` or a number from 0 to 1."""
    if value is not None:
        ratio(_inst, attribute, value)


def non_negative_or_none(_inst: Any, attribute: attrs.Attribute, value: float | None) -> None:
    """attrs validator: ``None`` or a number of at least zero."""
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name}: expected zero or more, got {value!r}")


@define
class KernelSettings:
    """``[kernel]``: how the agent is allowed to trade and where it keeps state."""

    mode: Literal["paper", "shadow", "live"] = "paper"
    live_acknowledged: bool = False
    """Must be ``true`` for ``mode = "live"``: the operator accepts real-money trading."""
    approval_mode: Literal["manual", "auto"] = "manual"
    approval_ttl: Duration = Duration(900)
    state_dir: Path = Path(".tradekernel")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@define
class PluginsSettings:
    """``[plugins]``: which installed distributions may load."""

    block: list[str] = field(factory=list)


@define
class ComponentSelection:
    """``[components]``: the active component of each kind, chosen by name."""

    broker: str = "paper"
    market_data: str = "synthetic"
    strategist: str = "hold"
    scanner: str = "watchlist"
    llm_provider: str | None = None
    skills: list[str] = field(
        factory=lambda: ["market.quote", "market.bars", "account.positions", "account.orders"]
    )
    required_skills: list[str] = field(factory=lambda: ["market.quote"])
    guards: list[str] = field(factory=list)
    """Guards in precedence order: every guard runs, the first deny is named."""
    notifiers: list[str] = field(factory=lambda: ["log"])
    metrics_sinks: list[str] = field(factory=lambda: ["jsonl"])


@define
class RuntimeSettings:
    """``[runtime]``: the cycle loop and its resilience policy."""

    watchlist: list[str] = field(factory=lambda: ["AAA", "BBB", "CCC"])
    interval: Duration = Duration(60)
    skill_timeout: Duration = Duration(5)
    bars_lookback: int = field(default=50, validator=positive)
    node_attempts: int = field(default=3, validator=positive)
    node_backoff: Duration = Duration(0.2)
    breaker_failures: int = field(default=3, validator=positive)
    breaker_cooldown: Duration = Duration(300)
    incident_threshold: int = field(default=5, validator=positive)
    incident_cooldown: Duration = Duration(300)
    degrade_notional_ratio: float = field(default=0.5, validator=ratio)
    degrade_reducing: bool = False
    quantity_step: float = field(default=1.0, validator=positive)
    trace: Literal["full", "decisions"] = "full"
    """``full``: a commander event for every node and a hydrate event for every skill;
    ``decisions``: only routing decisions (retry, pause, cancel, cooldown_wait, end) and
    skill fallbacks (backtests use it: the same graph, far fewer events per bar)."""
    """Notional intents are sized down to a multiple of this quantity."""


def _non_empty(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: must not be empty")


def _event_patterns(_inst: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    _non_empty(_inst, attribute, value)
    for pattern in value:
        if not pattern or (pattern != "*" and "." not in pattern):
            raise ValueError(
                f"{attribute.name}: expected 'stage.kind' patterns such as 'executor.*', "
                f"got {pattern!r}"
            )


@define
class NotifyRoute:
    """One ``[notify] routes`` entry: events whose ``stage.kind`` matches one of ``kinds``
    (shell-style globs) at ``min_severity`` or above go to ``notifiers`` (``"*"`` = every
    notifier selected in ``[components] notifiers``)."""

    kinds: list[str] = field(validator=_event_patterns)
    min_severity: Literal["debug", "info", "warning", "error", "critical"] = "info"
    notifiers: list[str] = field(factory=lambda: ["*"], validator=_non_empty)


@define
class NotifyRateLimit:
    """At most ``count`` deliveries per notifier within any ``per`` window."""

    count: int = field(default=20, validator=positive)
    per: Duration = field(default=Duration(3600), validator=positive)


@define
class NotifyRetry:
    """Bounded retry of transient delivery failures (exponential backoff, Retry-After)."""

    max_attempts: int = field(default=3, validator=positive)
    backoff_base: Duration = Duration(0.5)
    backoff_max: Duration = Duration(8)
    retry_after_cap: Duration = Duration(5)


def _default_routes() -> list[NotifyRoute]:
    return [
        NotifyRoute(
            kinds=[
                "approval.pending",
                "approval.rejected",
                "approval.expired",
                "executor.submitted",
                "executor.failed",
                "executor.unknown_outcome",
                "monitor.fill",
            ]
        ),
        NotifyRoute(
            kinds=[
                "resilience.breaker_opened",
                "resilience.degrade_entered",
                "resilience.cooldown",
                "resilience.incident",
                "control.kill_switch",
                "control.paused",
                "control.resumed",
                "budget.exhausted",
            ]
        ),
        NotifyRoute(kinds=["alerts.*"]),
        NotifyRoute(kinds=["*"], min_severity="error"),
    ]


@define
class NotifySettings:
    """``[notify]``: which events reach which notifiers, and the noise and delivery policy."""

    enabled: bool = True
    routes: list[NotifyRoute] = field(factory=_default_routes)
    dedup_window: Duration = Duration(600)
    """Identical notifications (same dedup key) within this window are sent once; 0 = off."""
    rate_limit: NotifyRateLimit = field(factory=NotifyRateLimit)
    rate_limits: dict[str, NotifyRateLimit] = field(factory=dict)
    """Per-notifier overrides of ``rate_limit``."""
    timeout: Duration = field(default=Duration(10), validator=positive)
    """Budget of one delivery, retries included; a notifier still busy after it is abandoned."""
    retry: NotifyRetry = field(factory=NotifyRetry)


@define
class AuditSettings:
    """``[audit]``: signed audit archives and event-log retention (see docs/audit.md)."""

    signing: Literal["auto", "ed25519", "hmac"] = "auto"
    """``auto``: Ed25519 when an Ed25519 key is configured, else HMAC-SHA256."""
    ed25519_key_env: str | None = None
    """Variable holding the Ed25519 private key (PEM, or the 32-byte seed in hex/base64)."""
    ed25519_key_file: Path | None = None
    """File holding the Ed25519 private key (unencrypted PKCS#8 PEM)."""
    ed25519_public_keys: list[Path] = field(factory=list)
    """Extra public keys (PEM files) trusted for verification, e.g. retired signing keys."""
    hmac_key_env: str | None = None
    """Variable holding the HMAC-SHA256 key."""
    hmac_verify_key_envs: list[str] = field(factory=list)
    """Extra variables holding retired HMAC keys, accepted for verification only."""
    archive_dir: Path = Path("archives")
    """Where bundles are written; relative paths are under ``[kernel] state_dir``."""
    retention: Duration = field(default=Duration(90 * 86400), validator=positive)
    """Event-log days older than this may be pruned once a verified archive exists."""


@define
class PromotionGates:
    """Gates a strategy must pass to be promoted to one stage (``[promotion.<stage>]``).
    ``None`` (the key left out) means the gate is not checked. See docs/backtest.md."""

    min_trades: int | None = field(default=None, validator=positive)
    min_sharpe: float | None = None
    max_drawdown: float | None = field(default=None, validator=ratio_or_none)
    """Largest tolerated peak-to-trough equity drop, as a fraction (0.2 = 20 %)."""
    max_llm_fallback_rate: float | None = field(default=None, validator=ratio_or_none)
    max_cost_per_trade: float | None = field(default=None, validator=non_negative_or_none)
    """Commissions plus LLM cost per round trip, in account currency."""
    min_paper_days: float | None = field(default=None, validator=non_negative_or_none)


@define
class PromotionSettings:
    """``[promotion]``: gates per target stage (candidate < shadow < paper < live)."""

    shadow: PromotionGates = field(factory=lambda: PromotionGates(min_trades=1))
    paper: PromotionGates = field(
        factory=lambda: PromotionGates(min_trades=5, min_sharpe=0.0, max_drawdown=0.5)
    )
    live: PromotionGates = field(
        factory=lambda: PromotionGates(
            min_trades=5,
            min_sharpe=0.5,
            max_drawdown=0.25,
            max_llm_fallback_rate=0.05,
            min_paper_days=14,
        )
    )


ALERT_RULES = (
    "strategist_success_rate",
    "strategist_latency_p95",
    "breaker_open",
    "stuck_intents",
    "guard_denials",
    "notify_failures",
    "daily_loss",
    "daily_loss_amount",
    "skill_fallbacks",
    "invalid_events",
)
"""Names of the alert rules (``tradekernel.alerts``), in evaluation order."""


def _alert_rule_names(_inst: Any, attribute: attrs.Attribute, value: list[str]) -> None:
    for name in value:
        if name not in ALERT_RULES:
            raise ValueError(
                f"{attribute.name}: unknown alert rule {name!r}{_suggest(name, list(ALERT_RULES))}"
            )


@define
class AlertsSettings:
    """``[alerts]``: the alert policy ``tradekernel alerts check`` evaluates. ``profile``
    supplies every threshold; a key set here (or by the environment) overrides the
    profile's value. See docs/operations.md, "Alert rules"."""

    profile: Literal["default", "strict"] = "default"
    disabled: list[str] = field(factory=list, validator=_alert_rule_names)
    """Rules not evaluated at all."""
    strategist_window: int | None = field(default=None, validator=positive)
    """The strategist rules look at the last this-many decisions of the day."""
    strategist_min_calls: int | None = field(default=None, validator=positive)
    """Fewer decisions than this in the window: the strategist rules report no_data."""
    strategist_success_rate_min: float | None = field(default=None, validator=ratio_or_none)
    strategist_latency_p95_ms: float | None = field(default=None, validator=positive)
    breaker_open: bool | None = None
    """Fire while the strategist's circuit breaker is open."""
    stuck_after: Duration | None = field(default=None, validator=positive)
    guard_denials_max: int | None = field(default=None, validator=non_negative_or_none)
    notify_failures_max: int | None = field(default=None, validator=non_negative_or_none)
    daily_loss_ratio: float | None = field(default=None, validator=ratio_or_none)
    """Loss since the day's first equity, as a fraction of it (0.05 = 5 %)."""
    daily_loss_amount: float | None = field(default=None, validator=non_negative_or_none)
    """Loss in account currency since the day's first cycle."""
    skill_fallbacks_max: int | None = field(default=None, validator=non_negative_or_none)
    invalid_events_max: int | None = field(default=None, validator=non_negative_or_none)


SECTIONS: dict[str, type] = {
    "kernel": KernelSettings,
    "plugins": PluginsSettings,
    "components": ComponentSelection,
    "runtime": RuntimeSettings,
    "notify": NotifySettings,
    "audit": AuditSettings,
    "promotion": PromotionSettings,
    "alerts": AlertsSettings,
}
"""Kernel-owned sections. Every other top-level table must be a component kind."""


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _suggest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _section_label(path: tuple[str, ...]) -> str:
    return "[" + ".".join(f'"{p}"' if "." in p else p for p in path) + "]"


@define
class Settings:
    """The effective configuration. Build it with :meth:`Settings.load`."""

    kernel: KernelSettings = field(factory=KernelSettings)
    plugins: PluginsSettings = field(factory=PluginsSettings)
    components: ComponentSelection = field(factory=ComponentSelection)
    runtime: RuntimeSettings = field(factory=RuntimeSettings)
    notify: NotifySettings = field(factory=NotifySettings)
    audit: AuditSettings = field(factory=AuditSettings)
    promotion: PromotionSettings = field(factory=PromotionSettings)
    alerts: AlertsSettings = field(factory=AlertsSettings)
    component_sections: dict[str, dict[str, dict[str, Any]]] = field(factory=dict)
    config_path: Path | None = None
    sources: dict[tuple[str, ...], str] = field(factory=dict)
    """Where each explicitly set value came from: ``file``, ``env:NAME`` or ``cli:--flag``."""
    _environ: Mapping[str, str] = field(factory=dict, repr=False)
    _revealed: set[str] = field(factory=set, repr=False)

    # -- loading -------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        config_path: str | Path | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Load settings from file, environment and CLI ``overrides`` (``"kernel.mode"``)."""
        env = dict(os.environ if environ is None else environ)
        path, required = _config_path(config_path, env)
        raw: dict[str, Any] = {}
        sources: dict[tuple[str, ...], str] = {}
        if path.exists():
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: invalid TOML: {exc}") from None
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
            _record_sources(raw, (), "file", sources)
        elif required:
            named_by = f" (named by {CONFIG_ENV})" if config_path is None else ""
            raise ConfigError(f"{path}{named_by}: configuration file not found")
        for name, value in sorted(env.items()):
            if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or "__" not in name:
                continue
            keys = tuple(k.lower() for k in name[len(ENV_PREFIX) :].split("__"))
            _set_path(raw, keys, _parse_env_value(value), name)
            sources[keys] = f"env:{name}"
        for dotted, (value, flag) in _normalise_overrides(overrides):
            keys = tuple(dotted.split("."))
            _set_path(raw, keys, value, flag)
            sources[keys] = f"cli:{flag}"
        settings = cls._from_raw(raw, path, sources)
        settings._environ = env
        settings.config_path = path if path.exists() else None
        settings.check_safety()
        return settings

    @classmethod
    def _from_raw(
        cls, raw: dict[str, Any], path: Path, sources: dict[tuple[str, ...], str]
    ) -> Settings:
        label = path.name
        values: dict[str, Any] = {}
        component_sections: dict[str, dict[str, dict[str, Any]]] = {}
        known = list(SECTIONS) + list(KINDS)
        for section, body in raw.items():
            where = _where(label, (section,), sources)
            if section not in known:
                raise ConfigError(f"{where}: unknown section [{section}]{_suggest(section, known)}")
            if not isinstance(body, dict):
                raise ConfigError(f"{where}: [{section}] must be a table")
            if section in SECTIONS:
                values[section] = _structure_section(
                    body, SECTIONS[section], (section,), label, sources
                )
            else:
                for name, sub in body.items():
                    if not isinstance(sub, dict):
                        raise ConfigError(
                            f"{_where(label, (section, name), sources)}: "
                            f"{_section_label((section, name))} must be a table"
                        )
                component_sections[section] = body
        return cls(**values, component_sections=component_sections, sources=sources)

    def check_safety(self) -> None:
        """Refuse unsafe combinations: live mode without the explicit acknowledgement."""
        if self.kernel.mode == "live" and not self.kernel.live_acknowledged:
            where = _where(self._label, ("kernel", "mode"), self.sources)
            raise ConfigError(
                f'{where}: [kernel] mode = "live" trades real money and needs '
                "[kernel] live_acknowledged = true as well"
            )

    # -- component configuration --------------------------------------------------

    def component_config(self, kind: str, name: str, config_class: type[T] | None) -> T | None:
        """The typed config of component ``kind``/``name`` from ``[<kind>.<name>]``."""
        body = self.component_sections.get(kind, {}).get(name, {})
        if config_class is None:
            if body:
                where = _where(self._label, (kind, name), self.sources)
                raise ConfigError(
                    f"{where}: {_section_label((kind, name))}: this component takes no settings"
                )
            return None
        return _structure_section(body, config_class, (kind, name), self._label, self.sources)

    def unused_component_sections(self, registered: set[tuple[str, str]]) -> list[str]:
        """Component sections naming no registered component (typos, uninstalled plugins)."""
        return [
            _section_label((kind, name))
            for kind, body in self.component_sections.items()
            for name in body
            if (kind, name) not in registered
        ]

    # -- secrets and paths ----------------------------------------------------------

    def secret(self, env_name: str) -> str | None:
        """The value of the environment variable ``env_name``, which holds a secret.

        The value is remembered so that :meth:`redact` can strip it from any text
        (events, logs, error messages) before it leaves the process."""
        value = self._environ.get(env_name) or None
        if value and len(value) >= 4:
            self._revealed.add(value)
        return value

    def redact(self, text: str) -> str:
        """``text`` with every secret handed out by :meth:`secret` replaced by ``********``."""
        for value in self._revealed:
            if value in text:
                text = text.replace(value, "********")
        return text

    @property
    def state_dir(self) -> Path:
        return self.kernel.state_dir

    @property
    def _label(self) -> str:
        return self.config_path.name if self.config_path else DEFAULT_CONFIG.name

    def source_of(self, *path: str) -> str:
        """Where the value at ``path`` came from (``default`` when nobody set it)."""
        return self.sources.get(tuple(path), "default")

    # -- display ----------------------------------------------------------------------

    def effective(self) -> dict[str, Any]:
        """Every effective value, secrets masked, keyed by section (for ``config show``)."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            out[section] = converter.unstructure(getattr(self, section))
        for kind, body in self.component_sections.items():
            out[kind] = {name: dict(sub) for name, sub in body.items()}
        return mask_secrets(out, self._environ)


def mask_secrets(data: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of ``data`` where secret-looking values are masked and ``*_env`` references
    show only whether their variable is set."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                state = "set" if environ and environ.get(value) else "not set"
                out[key] = f"{value} ({state})"
            elif (
                isinstance(key, str)
                and SECRET_KEY_PATTERN.search(key)
                and isinstance(value, str)
                and value
            ):
                out[key] = "********"
            else:
                out[key] = mask_secrets(value, environ)
        return out
    if isinstance(data, list):
        return [mask_secrets(v, environ) for v in data]
    return data


def _config_path(config_path: str | Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    if config_path is not None:
        return Path(config_path), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]), True
    return DEFAULT_CONFIG, False


def _record_sources(
    raw: Mapping[str, Any], prefix: tuple[str, ...], source: str, out: dict
) -> None:
    for key, value in raw.items():
        path = (*prefix, key)
        out[path] = source
        if isinstance(value, dict):
            _record_sources(value, path, source, out)


def _set_path(raw: dict[str, Any], keys: tuple[str, ...], value: Any, origin: str) -> None:
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {'.'.join(keys)}: {key} is not a table")
    node[keys[-1]] = value


def _normalise_overrides(overrides: Mapping[str, Any] | None) -> list[tuple[str, tuple[Any, str]]]:
    out = []
    for dotted, value in (overrides or {}).items():
        if isinstance(value, tuple):
            out.append((dotted, value))
        else:
            out.append((dotted, (value, "--" + dotted.rsplit(".", 1)[-1].replace("_", "-"))))
    return out


def _where(label: str, path: tuple[str, ...], sources: Mapping[tuple[str, ...], str]) -> str:
    # A section that only the environment or a flag created has no entry of its own.
    source = sources.get(path) or next(
        (v for k, v in sources.items() if k[: len(path)] == path), "file"
    )
    if source.startswith("env:"):
        return f"environment {source[4:]}"
    if source.startswith("cli:"):
        return f"option {source[4:]}"
    return label


def _structure_section(
    body: dict[str, Any],
    cls: type[T],
    path: tuple[str, ...],
    label: str,
    sources: Mapping[tuple[str, ...], str],
) -> T:
    fields = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
    for key in body:
        if key not in fields:
            where = _where(label, (*path, key), sources)
            if f"{key}_env" in fields:  # a secret written into the file
                raise ConfigError(
                    f"{where}: {_section_label(path)} {key}: secrets never live in the "
                    f"configuration; put it in an environment variable and name that "
                    f"variable with {key}_env"
                )
            raise ConfigError(
                f"{where}: {_section_label(path)} {key}: unknown key{_suggest(key, fields)}"
            )
    try:
        return structure(body, cls)
    except ValidationError as exc:
        key, message = exc.errors[0]
        if not key and (m := re.match(r"^(\w+): (.*)$", message)):
            key, message = m.groups()  # raised by an attrs validator, which names its field
        first = key.split(".")[0].split("[")[0]
        where = _where(label, (*path, first), sources)
        raise ConfigError(f"{where}: {_section_label(path)} {key}: {message}") from None
