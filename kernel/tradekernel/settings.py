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

import hashlib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, TypeVar

import attrs
from attrs import define, field

from .components import KINDS
from .errors import ConfigError
from .redaction import Redactor, mask_url_credentials, url_credentials
from .sections import (  # noqa: F401 - re-exported: plugin configs import them from here
    ALERT_RULES,
    SECTIONS,
    AlertsSettings,
    ApprovalSettings,
    AuditSettings,
    BudgetsSettings,
    ComponentSelection,
    ConsoleSettings,
    DeploySettings,
    Duration,
    HealSettings,
    IncidentsSettings,
    KernelSettings,
    NotifyRateLimit,
    NotifyRetry,
    NotifyRoute,
    NotifySettings,
    PluginsSettings,
    PolicySettings,
    PortfolioSettings,
    PromotionGates,
    PromotionSettings,
    QuorumRule,
    Route,
    RoutingSettings,
    RuntimeSettings,
    SizingSettings,
    SloObjective,
    SloSettings,
    StoreSettings,
    finite,
    non_negative,
    non_negative_or_none,
    positive,
    ratio,
    ratio_or_none,
    suggest,
)
from .serde import ValidationError, converter, structure
from .store_url import store_url_secrets

T = TypeVar("T")

ENV_PREFIX = "TRADEKERNEL_"
CONFIG_ENV = "TRADEKERNEL_CONFIG"
STORE_URL_ENV = "TK_STORE_URL"
"""Also sets ``[store] url`` (a secret: the environment is where it belongs)."""
DEFAULT_CONFIG = Path("plugins.toml")
SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|private[_-]?key|authorization|credential|cookie)"
    r"|(^|[_\-.\s])auth$",
    re.I,
)
"""Names whose values are secrets wherever they appear (event fields, configuration):
``auth`` only as the whole name or its last word (``X-Auth``, ``basic_auth``; not
``author`` or ``auth_failures``)."""
CONFIG_SECRET_KEY_PATTERN = re.compile(rf"{SECRET_KEY_PATTERN.pattern}|(^|[_\-.])key$", re.I)
"""Configuration keys shown masked: the above, and ``key`` or ``*_key`` itself."""
SECRET_TABLES = frozenset({"headers"})
"""Configuration tables whose every value ``config show`` masks (headers carry
credentials); the redactor takes only the values of credential headers
(:data:`CREDENTIAL_HEADER`)."""
INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""What an instance (``[<kind>.<name>] use = ...``) may be called: printable everywhere."""
CREDENTIAL_HEADER = re.compile(
    rf"{CONFIG_SECRET_KEY_PATTERN.pattern}|(^|[_\-.\s])auth([_\-.\s]|$)|signature|session",
    re.I,
)
"""Header names whose value is a credential: :data:`CONFIG_SECRET_KEY_PATTERN`
(``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``, ``X-*-Key``,
``*-Token``), ``auth`` as a word (``X-Auth-User``), signatures and sessions. Any other
header (``User-Agent``, ``Accept``, ``Content-Type``, ``X-Api-Version``, ``OpenAI-Beta``,
``HTTP-Referer``, ``X-Title``) is not a secret: its words would be masked everywhere
(a product name, a date such as ``2026-11-01`` in every timestamp)."""
IDENTIFIER_ENV_KEY = re.compile(r"(^|_)user(name)?_env$", re.I)
"""``*_env`` keys naming an identifier (``username_env``): its value is masked only as a
whole word, never through its parts (``portfolio@fund.example`` must not mask
``portfolio``)."""


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _section_label(path: tuple[str, ...]) -> str:
    return "[" + ".".join(f'"{p}"' if "." in p else p for p in path) + "]"


@define
class Settings:
    """The effective configuration. Build it with :meth:`Settings.load`."""

    kernel: KernelSettings = field(factory=KernelSettings)
    """``[kernel]``: mode, approval, ``state_dir``, the live acknowledgement."""
    plugins: PluginsSettings = field(factory=PluginsSettings)
    """``[plugins]``: which installed plugins are blocked."""
    store: StoreSettings = field(factory=StoreSettings)
    """``[store]``: the server address of a server store (docs/scale-out.md)."""
    components: ComponentSelection = field(factory=ComponentSelection)
    """``[components]``: the selected component of each kind."""
    runtime: RuntimeSettings = field(factory=RuntimeSettings)
    """``[runtime]``: the cycle, watchlist and resilience settings."""
    notify: NotifySettings = field(factory=NotifySettings)
    """``[notify]``: notification routing, dedup and rate limits."""
    audit: AuditSettings = field(factory=AuditSettings)
    """``[audit]``: archive signing and retention."""
    promotion: PromotionSettings = field(factory=PromotionSettings)
    """``[promotion]``: strategy promotion stages and gates."""
    alerts: AlertsSettings = field(factory=AlertsSettings)
    """``[alerts]``: the alert rules."""
    routing: RoutingSettings = field(factory=RoutingSettings)
    """``[routing]``: which broker each symbol goes to, and broker health."""
    portfolio: PortfolioSettings = field(factory=PortfolioSettings)
    """``[portfolio]``: several strategies in one account: sizing, conflicts, budgets and
    allocation (docs/portfolio.md)."""
    approval: ApprovalSettings = field(factory=ApprovalSettings)
    """``[approval]``: quorum rules for four-eyes approval (docs/state.md)."""
    console: ConsoleSettings = field(factory=ConsoleSettings)
    """``[console]``: the approval console's users and sessions (docs/console.md)."""
    deploy: DeploySettings = field(factory=DeploySettings)
    """``[deploy]``: releases, the readiness gate and health (docs/deploy.md)."""
    policy: PolicySettings = field(factory=PolicySettings)
    """``[policy]``: trading policies as code (docs/policy.md)."""
    slo: SloSettings = field(factory=SloSettings)
    """``[slo]``: objectives, error budgets and burn-rate alerts (docs/operations.md)."""
    heal: HealSettings = field(factory=HealSettings)
    """``[heal]``: the self-healing playbooks (docs/operations.md)."""
    incidents: IncidentsSettings = field(factory=IncidentsSettings)
    """``[incidents]``: incidents from alerts and their escalation (docs/operations.md)."""
    budgets: BudgetsSettings = field(factory=BudgetsSettings)
    """``[budgets]``: node latency, broker request and prompt-size budgets
    (docs/operations.md)."""
    component_sections: dict[str, dict[str, dict[str, Any]]] = field(factory=dict)
    """The raw ``[<kind>.<name>]`` tables, by kind and name: read them typed with
    :meth:`component_config`."""
    config_path: Path | None = None
    """The configuration file read, if any."""
    config_sha256: str = field(default="", eq=False)
    """The SHA-256 of the configuration text :meth:`load` read (UTF-8, a BOM dropped; of
    the empty text when there was no file): what a readiness report is bound to. Empty
    for settings not made by :meth:`load`."""
    sources: dict[tuple[str, ...], str] = field(factory=dict)
    """Where each explicitly set value came from: ``file``, ``env:NAME`` or ``cli:--flag``."""
    _environ: Mapping[str, str] = field(factory=dict, repr=False)
    _env_references: list[tuple[str, str]] = field(factory=list, repr=False, eq=False)
    _overrides: dict[str, Any] = field(factory=dict, repr=False, eq=False)
    """The ``overrides`` :meth:`load` was given (:meth:`with_overrides` keeps them)."""
    _redactor: Redactor = field(factory=Redactor, repr=False, eq=False)

    # -- loading -------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        config_path: str | Path | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        env_names: Iterable[str] = (),
        check_env_names: bool = True,
    ) -> Settings:
        """Load settings from file, environment and CLI ``overrides`` (``"kernel.mode"``).

        ``env_names``: variables the command line names (``--hmac-key-env NAME``), which
        the check of ``TRADEKERNEL_`` variable names accepts. ``check_env_names=False``
        defers that check to :meth:`check_env_names` (the CLI loads settings to find a
        plugin's command before the command has parsed the names it adds)."""
        env = dict(os.environ if environ is None else environ)
        path, required = _config_path(config_path, env)
        raw: dict[str, Any] = {}
        sources: dict[tuple[str, ...], str] = {}
        text = ""
        if path.exists():
            try:
                text = path.read_text(encoding="utf-8-sig")  # a BOM is fine
                raw = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: invalid TOML: {exc}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                    f"{exc.start}); save the file as UTF-8"
                ) from None
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
            _record_sources(raw, (), "file", sources)
        elif required:
            named_by = f" (named by {CONFIG_ENV})" if config_path is None else ""
            raise ConfigError(f"{path}{named_by}: configuration file not found")
        set_by: dict[tuple[str, ...], str] = {}
        for name, value in sorted(env.items()):
            if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or "__" not in name:
                continue
            keys = tuple(k.lower() for k in name[len(ENV_PREFIX) :].split("__"))
            canonical = tuple(_canonical(k) for k in keys)
            if canonical in set_by:
                raise ConfigError(
                    f"environment {set_by[canonical]} and {name} both set "
                    f"{'.'.join(keys)} (hyphens and underscores name the same key): "
                    "unset one of them"
                )
            set_by[canonical] = name
            keys = _spelled_as_existing(raw, keys)
            _set_path(raw, keys, _parse_env_value(value), name)
            sources[keys] = f"env:{name}"
        if env.get(STORE_URL_ENV) and ("store", "url") not in set_by:
            _set_path(raw, ("store", "url"), env[STORE_URL_ENV], STORE_URL_ENV)
            sources[("store", "url")] = f"env:{STORE_URL_ENV}"
        if check_env_names:
            _check_env_names(env, raw, env_names)
        env_references_of_file = env_references(raw)
        for dotted, (value, flag) in _normalise_overrides(overrides):
            keys = tuple(dotted.split("."))
            _set_path(raw, keys, value, flag)
            sources[keys] = f"cli:{flag}"
        settings = cls._from_raw(raw, path, sources)
        settings._environ = env
        settings._overrides = dict(overrides or {})
        settings._env_references = env_references_of_file
        settings.config_path = path if path.exists() else None
        settings.config_sha256 = hashlib.sha256(text.encode()).hexdigest()
        kernel_sections = {
            name: converter.unstructure(getattr(settings, name)) for name in SECTIONS
        }
        for value in config_secrets([kernel_sections, settings.component_sections]):
            settings._redactor.add(value)
        settings.add_store_url(settings.store.url)
        # Every variable the configuration names as a secret is one from the start, so a
        # command that never builds the component (``control pause --reason ...``) knows it.
        for key, env_name in env_references([kernel_sections, settings.component_sections]):
            settings._redactor.add(
                env.get(env_name) or None, partial=not IDENTIFIER_ENV_KEY.search(key)
            )
        settings.check_safety()
        settings.check_brokers()
        settings.check_budgets()
        settings.check_strategists()
        settings.check_incidents()
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
                raise ConfigError(f"{where}: unknown section [{section}]{suggest(section, known)}")
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

    def check_brokers(self) -> None:
        """Refuse ``broker`` and ``brokers`` set together, and a ``[routing]`` that names a
        broker ``brokers`` does not list or an unknown asset class; with ``brokers`` set,
        ``broker`` becomes the default route's broker."""
        sel, routing = self.components, self.routing
        if sel.brokers and ("components", "broker") in self.sources:
            raise ConfigError(
                f"{self.where('components', 'brokers')}: [components] broker and brokers are "
                "both set: keep brokers (several) or broker (one)"
            )
        routed = {path[1] for path in self.sources if path[:1] == ("routing",) and len(path) > 1}
        if not sel.brokers:
            if routed & {"routes", "default", "secondary"}:
                raise ConfigError(
                    f"{self.where('routing')}: [routing] routes brokers, but [components] "
                    "brokers is not set (list the brokers there)"
                )
            return

        def known(name: str | None, key: str) -> None:
            if name is not None and name not in sel.brokers:
                raise ConfigError(
                    f"{self.where('routing', key.split('[')[0])}: [routing] {key}: {name!r} is "
                    f"not in [components] brokers ({', '.join(sel.brokers)})"
                    f"{suggest(name, sel.brokers)}"
                )

        known(routing.default, "default")
        known(routing.secondary, "secondary")
        if routing.secondary is not None and routing.secondary == (
            routing.default or sel.brokers[0]
        ):
            raise ConfigError(
                f"{self.where('routing', 'secondary')}: [routing] secondary: "
                f"{routing.secondary!r} is the default route's own broker"
            )
        for i, route in enumerate(routing.routes):
            key = f"routes[{i}]"
            known(route.broker, key + ".broker")
            known(route.secondary, key + ".secondary")
            if route.secondary == route.broker:
                raise ConfigError(
                    f"{self.where('routing', 'routes')}: [routing] {key}.secondary: "
                    f"{route.broker!r} is the route's own broker"
                )
            if not route.symbols and route.asset_class is None:
                raise ConfigError(
                    f"{self.where('routing', 'routes')}: [routing] {key}: give symbols "
                    "(patterns) or asset_class, else the route matches nothing"
                )
            if route.asset_class is not None and route.asset_class not in routing.asset_classes:
                names = sorted(routing.asset_classes)
                raise ConfigError(
                    f"{self.where('routing', 'routes')}: [routing] {key}.asset_class: "
                    f"{route.asset_class!r} is not in [routing] asset_classes "
                    f"({', '.join(names) or 'none'}){suggest(route.asset_class, names)}"
                )
        sel.broker = routing.default or sel.brokers[0]

    def check_budgets(self) -> None:
        """Refuse a ``[budgets.brokers]`` broker that is not selected (a typo would
        leave the real broker without its budget)."""
        sel = self.components
        brokers = list(sel.brokers) or ([sel.broker] if sel.broker else [])
        for name in self.budgets.brokers:
            if name not in brokers:
                raise ConfigError(
                    f"{self.where('budgets', 'brokers')}: [budgets.brokers] {name}: not a "
                    f"selected broker ({', '.join(brokers) or 'none'}){suggest(name, brokers)}"
                )

    def check_strategists(self) -> None:
        """Refuse ``strategist`` and ``strategists`` set together; with ``strategists``
        set, ``strategist`` becomes its first (the default strategy)."""
        sel = self.components
        if sel.strategists and ("components", "strategist") in self.sources:
            raise ConfigError(
                f"{self.where('components', 'strategists')}: [components] strategist and "
                "strategists are both set: keep strategists (several) or strategist (one)"
            )
        if sel.strategists:
            sel.strategist = sel.strategists[0]
        for name in sel.strategists:  # "+" joins the strategies of a netted intent
            if "+" in name:
                raise ConfigError(
                    f"{self.where('components', 'strategists')}: [components] strategists: "
                    f"{name!r}: '+' is reserved (it joins the strategies of a netted intent)"
                )
        names = sel.strategists or [sel.strategist]
        for name in self.portfolio.priority:
            if name not in names:
                raise ConfigError(
                    f"{self.where('portfolio', 'priority')}: [portfolio] priority: {name!r} is "
                    f"not a configured strategist ({', '.join(names)}){suggest(name, names)}"
                )

    def check_incidents(self) -> None:
        """Refuse an ``[incidents] escalation`` step naming a notifier that ``[components]
        notifiers`` does not select (it would fail only when an incident escalates)."""
        known = list(self.components.notifiers)
        for index, step in enumerate(self.incidents.escalation):
            if step.notify not in known:
                raise ConfigError(
                    f"{self.where('incidents', 'escalation')}: [incidents] escalation[{index}]"
                    f".notify: unknown notifier {step.notify[:40]!r}"
                    f"{suggest(step.notify, known)}; known: {', '.join(known) or 'none'}"
                    " (selected in [components] notifiers)"
                )

    # -- component configuration --------------------------------------------------

    def instances(self) -> list[tuple[str, str, str]]:
        """``(kind, instance, component)`` of every section with a ``use`` key."""
        return [
            (kind, name, used)
            for kind, body in sorted(self.component_sections.items())
            for name in sorted(body)
            if (used := self.component_use(kind, name)) != name
        ]

    def component_use(self, kind: str, name: str) -> str:
        """The registered component that ``[<kind>.<name>]`` builds: ``name`` itself, or
        what its ``use`` key names, which must be a registered component, not another
        instance; an instance's name is checked (:data:`INSTANCE_NAME`). Errors are
        :class:`ConfigError` naming the section and key."""
        sections = self.component_sections.get(kind, {})
        use = (sections.get(self._section_name(kind, name)) or {}).get("use")
        if use is None or use == name:
            return name
        if not INSTANCE_NAME.fullmatch(name):
            where = _where(self._label, (kind, name), self.sources)
            raise ConfigError(
                f"{where}: [{kind}.{name!r}]: an instance name is 1 to 64 lower-case ASCII "
                "letters, digits, '_' and '-', starting with a letter or digit"
            )
        if not isinstance(use, str) or not use.strip():
            raise self.component_error(kind, name, "use", f"expected a component name, got {use!r}")
        other = (sections.get(self._section_name(kind, use)) or {}).get("use")
        if other is not None and other != use:
            raise self.component_error(
                kind,
                name,
                "use",
                f"{use!r} is itself an instance ([{kind}.{use}] use = "
                f"{other!r}): use names a registered component",
            )
        return use

    def component_config(self, kind: str, name: str, config_class: type[T] | None) -> T | None:
        """The typed config of component ``kind``/``name`` from ``[<kind>.<name>]``
        (``sma_cross`` also names ``sma-cross``: environment variables cannot spell a
        hyphen)."""
        section = self._section_name(kind, name)
        body = self.component_sections.get(kind, {}).get(section, {})
        body = {k: v for k, v in body.items() if k != "use"}  # the instance's, not a setting
        display = (kind, name)
        name = section
        if config_class is None:
            if body:
                where = _where(self._label, (kind, name), self.sources)
                raise ConfigError(
                    f"{where}: {_section_label((kind, name))}: this component takes no settings"
                )
            return None
        return _structure_section(
            body, config_class, (kind, name), self._label, self.sources, display
        )

    def component_error(self, kind: str, name: str, key: str | None, message: str) -> ConfigError:
        """A :class:`ConfigError` about ``key`` of ``[<kind>.<name>]`` (or the whole
        section when ``key`` is ``None``) that names where the value was really set: the
        file, or ``environment TRADEKERNEL_<KIND>__<NAME>__<KEY>``."""
        section = self._section_name(kind, name)
        path = (kind, section) if key is None else (kind, section, key)
        where = _where(self._label, path, self.sources)
        label = _section_label((kind, name))
        return ConfigError(f"{where}: {label}{'' if key is None else ' ' + key}: {message}")

    def _section_name(self, kind: str, name: str) -> str:
        """The spelling of ``[<kind>.<name>]`` in use: ``name`` itself or its underscore
        form; both present at once is ambiguous."""
        body = self.component_sections.get(kind, {})
        spellings = [n for n in body if _canonical(n) == _canonical(name)]
        if len(spellings) > 1:
            labels = " and ".join(_section_label((kind, n)) for n in sorted(spellings))
            where = _where(self._label, (kind, spellings[0]), self.sources)
            raise ConfigError(f"{where}: {labels} name the same component: keep one")
        return spellings[0] if spellings else name

    def check_component_sections(
        self,
        registered: AbstractSet[tuple[str, str]],
        known: AbstractSet[tuple[str, str]] = frozenset(),
    ) -> list[str]:
        """Refuse a component section that names no registered component (a misspelt
        ``[guard.max_positon]`` would leave the guard on its defaults), with a did-you-mean.
        A first-party component in ``known`` whose plugin is not installed is a warning.
        Returns the warnings."""
        canonical = {(kind, _canonical(name)): name for kind, name in registered}
        warnings = []
        for kind, body in self.component_sections.items():
            for name in body:
                used = self.component_use(kind, name)
                if used != name and (kind, name) in registered:
                    raise self.component_error(
                        kind,
                        name,
                        "use",
                        f"the section is named after the registered {kind} "
                        f"{name!r}, which every other use of that name would then build: "
                        "give the instance a name of its own",
                    )
                if used != name:  # an instance: what it uses must be registered
                    if (kind, used) not in registered:
                        names = sorted(n for k, n in registered if k == kind)
                        raise self.component_error(
                            kind,
                            name,
                            "use",
                            f"no installed plugin registers {kind} {used!r}"
                            f"{suggest(used, names)} (registered {kind}s: "
                            f"{', '.join(names) or 'none'})",
                        )
                    continue
                if (kind, name) in registered:
                    continue
                label = _section_label((kind, name))
                if (kind, _canonical(name)) in canonical:
                    self._section_name(kind, canonical[(kind, _canonical(name))])
                    continue
                if (kind, name) in known:
                    warnings.append(
                        f"{label}: no installed plugin registers this component; "
                        "the section is ignored"
                    )
                    continue
                names = sorted(n for k, n in registered if k == kind)
                where = _where(self._label, (kind, name), self.sources)
                raise ConfigError(
                    f"{where}: {label}: no installed plugin registers {kind} {name!r}"
                    f"{suggest(name, names)} (registered {kind}s: {', '.join(names) or 'none'})"
                )
        return warnings

    # -- secrets and paths ----------------------------------------------------------

    def secret(self, env_name: str, *, partial: bool = True) -> str | None:
        """The value of the environment variable ``env_name``, which holds a secret.

        The value is remembered so that :meth:`redact` can strip it, its sensitive parts
        and any 8+ character piece of them from any text (events, logs, error messages,
        stored text) before it leaves the process. ``partial=False`` for an identifier
        that is not a credential on its own (an SMTP user name): only the whole value is
        masked, as a whole word. Every variable named by a ``*_env`` key of the
        configuration is already known this way from :meth:`load` on."""
        value = self._environ.get(env_name) or None
        if value:
            self._redactor.add(value, partial=partial)
        return value

    def add_store_url(self, url: str | None) -> None:
        """Treat the secrets of the store address ``url`` as secret from now on (its
        password, ``sslpassword``, ``options``): ``[store] url`` is known from
        :meth:`load` on; ``store migrate`` adds its ``--from`` and ``--to``."""
        # ``options`` (server settings such as ``-c lock_timeout=200``) is masked whole:
        # its words alone (``statement``, ``timeout``) are no secret.
        whole = set(store_url_secrets(url, ("options",)))
        for value in store_url_secrets(url):
            self._redactor.add(value, partial=value not in whole)

    def redacting(self) -> bool:
        """Whether any secret is known (handed out by :meth:`secret` or written in the
        configuration): while none is, :meth:`redact` changes no text."""
        return bool(self._redactor)

    def redact(self, text: str) -> str:
        """``text`` with every secret masked as ``********``: those handed out by
        :meth:`secret` and those written in the configuration under a secret-looking
        key (``Authorization`` in a ``headers`` table, ``token``, ``password``, ...).
        Masked are the whole value, its sensitive parts (URL path tokens, query values,
        userinfo, the token of ``Bearer <token>``) and any piece of 8 or more characters
        of them, whatever the case (:mod:`tradekernel.redaction`)."""
        return self._redactor.redact(text)

    @property
    def state_dir(self) -> Path:
        return self.kernel.state_dir

    @property
    def plugin_manifest_path(self) -> Path:
        """The plugin manifest cache (:mod:`tradekernel.plugin_manifest`): under the state
        directory, written only once that directory exists (never created for a cache)."""
        return self.state_dir / "cache" / "plugins.json"

    @property
    def _label(self) -> str:
        return self.config_path.name if self.config_path else DEFAULT_CONFIG.name

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """These settings loaded again (the same file, environment and ``overrides`` they
        were loaded with) with ``overrides`` on top: what a derived run (a backtest's)
        uses, so nothing the operator set on the command line or a sweep handed its
        worker is lost."""
        return Settings.load(
            self.config_path,
            overrides={**self._overrides, **dict(overrides)},
            environ=self._environ,
        )

    def environment_overrides(self) -> dict[str, tuple[Any, str]]:
        """The settings the ``TRADEKERNEL_<SECTION>__<KEY>`` environment set, as
        :meth:`load` ``overrides`` (``{"kernel.mode": (value, "environment NAME")}``), for
        another process that must load the same settings without this environment (a
        sweep's workers). Never a secret: ``[store] url``, a variable the configuration
        names as holding one, and any value :meth:`redact` would mask are left out."""
        secret_names = {name for _, name in self._env_references}
        out: dict[str, tuple[Any, str]] = {}
        for keys, source in sorted(self.sources.items()):
            name = source[4:]
            if not source.startswith("env:" + ENV_PREFIX) or name not in self._environ:
                continue
            value = self._environ[name]
            if name in secret_names or keys[:1] == ("store",) or self.redact(value) != value:
                continue
            out[".".join(keys)] = (_parse_env_value(value), f"environment {name}")
        return out

    def check_env_names(self, named: Iterable[str] = ()) -> None:
        """Refuse a ``TRADEKERNEL_`` variable that sets nothing (the check :meth:`load`
        makes unless told to defer it); ``named``: variables the command line names."""
        _check_env_names(self._environ, {}, {name for _, name in self._env_references} | set(named))

    def where(self, *path: str) -> str:
        """Where the value at ``path`` was set, for error messages: the file's name,
        ``environment NAME`` or ``option --flag``."""
        return _where(self._label, tuple(path), self.sources)

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


def secret_config_key(key: Any) -> bool:
    """A configuration key whose value is a secret (``*_env`` names a variable: not one)."""
    return (
        isinstance(key, str)
        and not key.endswith("_env")
        and bool(CONFIG_SECRET_KEY_PATTERN.search(key))
    )


def mask_secrets(data: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of ``data`` where secret values are masked and ``*_env`` references show only
    whether their variable is set. Secret values, at any depth: those of secret-looking
    keys (:data:`CONFIG_SECRET_KEY_PATTERN`) and everything inside a ``headers`` table."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                state = "set" if environ and environ.get(value) else "not set"
                out[key] = f"{value} ({state})"
            elif secret_config_key(key) or (isinstance(key, str) and key in SECRET_TABLES):
                out[key] = _mask_all(value)
            else:
                out[key] = mask_secrets(value, environ)
        return out
    if isinstance(data, list):
        return [mask_secrets(v, environ) for v in data]
    if isinstance(data, str):
        return mask_url_credentials(data)
    return data


def _mask_all(value: Any) -> Any:
    """``value`` with every non-empty text masked (keys, structure and numbers such as
    ``max_tokens`` kept)."""
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return "********" if isinstance(value, str) and value else value


def config_secrets(data: Any, secret: bool = False, header: bool = False) -> list[str]:
    """Every secret written in ``data``, for the redactor: each string under a
    secret-looking key (``token``, ``password``, ...), the value of every credential
    header (:data:`CREDENTIAL_HEADER`: ``Authorization``, ``X-Api-Key``, ``X-Auth``...)
    in a ``headers`` table, and every URL with userinfo anywhere (its ``user:password``
    are secrets, as ``config show`` masks them). Other header values are not secrets:
    ``User-Agent = "TradeKernel/1.0"`` would mask the product name in every text."""
    if isinstance(data, dict):
        return [
            found
            for key, value in data.items()
            if not (isinstance(key, str) and key.endswith("_env"))
            for found in config_secrets(
                value,
                secret
                or secret_config_key(key)
                or (header and isinstance(key, str) and bool(CREDENTIAL_HEADER.search(key))),
                isinstance(key, str) and key in SECRET_TABLES,
            )
        ]
    if isinstance(data, list):
        return [found for v in data for found in config_secrets(v, secret, header)]
    if not isinstance(data, str):
        return []
    if secret:
        return [data]
    return url_credentials(data)


def env_references(data: Any) -> list[tuple[str, str]]:
    """Every ``(key, variable name)`` of a ``*_env`` key (a name) or ``*_envs`` key (a
    list of names) in ``data``, at any depth."""
    if isinstance(data, Mapping):
        found: list[tuple[str, str]] = []
        for key, value in data.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                found.append((key, value))
            elif (
                isinstance(key, str)
                and key.endswith("_envs")
                and isinstance(value, list)
                and all(isinstance(name, str) for name in value)
            ):
                found.extend((key, name) for name in value)
            else:
                found.extend(env_references(value))
        return found
    if isinstance(data, list):
        return [ref for item in data for ref in env_references(item)]
    return []


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


def _canonical(key: str) -> str:
    return key.replace("-", "_")


def _check_env_names(
    env: Mapping[str, str], raw: Mapping[str, Any], named: Iterable[str] = ()
) -> None:
    """A ``TRADEKERNEL_`` variable that sets nothing is a mistake, not a no-op: an error
    with a did-you-mean (``TRADEKERNEL_KERNEL_MODE`` → ``TRADEKERNEL_KERNEL__MODE``).
    ``TRADEKERNEL_CONFIG``, ``TRADEKERNEL_<SECTION>__<KEY>``, variables the configuration
    names (``api_key_env = "TRADEKERNEL_KEY"``, ``hmac_verify_key_envs = [...]``) and
    variables ``named`` on the command line (``--hmac-key-env``) are fine."""
    strays = [
        name
        for name in env
        if name.startswith(ENV_PREFIX) and name != CONFIG_ENV and "__" not in name
    ]
    if not strays:
        return
    referenced = {name for _, name in env_references(raw)} | set(named)
    for name in sorted(strays):
        if name in referenced:
            continue
        rest = name[len(ENV_PREFIX) :]
        lowered = rest.lower()
        hint = ""
        for section in sorted((*SECTIONS, *KINDS), key=len, reverse=True):
            if lowered == section:
                hint = f" (set one key: {ENV_PREFIX}{rest}__<KEY>)"
                break
            if lowered.startswith(section + "_"):
                key = rest[len(section) + 1 :]
                if section in SECTIONS:
                    hint = f" (did you mean {ENV_PREFIX}{rest[: len(section)]}__{key}?)"
                else:  # a component: its name, then the key
                    hint = f" (expected {ENV_PREFIX}{rest[: len(section)]}__<NAME>__<KEY>)"
                break
        else:
            if suggest(rest, [CONFIG_ENV[len(ENV_PREFIX) :]]):
                hint = f" (did you mean {CONFIG_ENV}?)"
        raise ConfigError(
            f"environment {name}: not a tradekernel setting; names are "
            f"{CONFIG_ENV} or {ENV_PREFIX}<SECTION>__<KEY>{hint}"
        )


def _spelled_as_existing(raw: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    """``keys`` with each one spelled as an existing key that differs only by ``-``/``_``
    (``TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST`` sets ``[strategist.sma-cross] fast``)."""
    out: list[str] = []
    node: Any = raw
    for key in keys:
        if isinstance(node, Mapping) and key not in node:
            key = next((k for k in node if _canonical(k) == _canonical(key)), key)
        out.append(key)
        node = node.get(key) if isinstance(node, Mapping) else None
    return tuple(out)


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
    display: tuple[str, ...] | None = None,
) -> T:
    """``body`` as ``cls``; errors name ``display`` (the component's own spelling, when
    the section is spelt with underscores) and who set the key."""
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
                f"{where}: {_section_label(path)} {key}: unknown key{suggest(key, fields)}"
            )
    try:
        return structure(body, cls)
    except ValidationError as exc:
        key, message = exc.errors[0]
        if not key and (m := re.match(r"^(\w+(?:\.[\w-]+)?): (.*)$", message)):
            key, message = m.groups()  # raised by an attrs validator, which names its field
        first = key.split(".")[0].split("[")[0]
        where = _where(label, (*path, first), sources)
        if (*path, first) not in sources:  # a default judged against keys set elsewhere
            setters = {
                v for k, v in sources.items() if k[: len(path)] == path and len(k) > len(path)
            }
            if len(setters) == 1 and not (only := next(iter(setters))).startswith("file"):
                where = _where(label, path, {path: only})
        raise ConfigError(f"{where}: {_section_label(display or path)} {key}: {message}") from None
