"""What the plugin registry records: each component registered (:class:`ComponentSpec`),
each plugin as ``plugins list`` shows it (:class:`PluginInfo`), and the ``register``
function through which a plugin adds a component."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, field, frozen
from loguru import logger

from .errors import PluginError
from .plugin_policy import in_parens


@define
class ComponentSpec:
    """One registered component: how to build it and who provides it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config_class: type | None
    version: str
    description: str
    plugin: str
    distribution: str
    install: str | None = None
    """How to install what the component needs (``pip install 'tk-foo[bar]'``), when its
    plugin says (``register(..., install=...)`` or ``TRADEKERNEL_INSTALL``)."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@frozen
class ComponentListing:
    """One component of a plugin as ``plugins list`` shows it."""

    kind: str
    name: str
    version: str
    description: str
    """The ``description`` given to ``register``, else the first line of the factory's
    docstring."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@define
class PluginInfo:
    """What ``plugins list`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    status: str = "enabled"
    """``enabled``, ``blocked`` (by ``[plugins] block``, or left out of ``[plugins] load``),
    ``error``, ``default`` (built into the kernel) or ``local`` (added in-process with
    :meth:`PluginRegistry.add_plugin`)."""
    hooks: list[str] = field(factory=list)
    components: list[ComponentListing] = field(factory=list)
    """What it registers (``kind``, ``name``, ``version``, ``description``)."""
    commands: list[str] = field(factory=list)
    """Names of the commands its ``register_commands`` adds."""
    conflicts: list[str] = field(factory=list)
    """Its components that another plugin registers too: neither can be selected."""
    install: str | None = None
    """Its install hint (``TRADEKERNEL_INSTALL`` on its entry-point module)."""
    error: str | None = None


def register_function(
    kind: str,
    info: PluginInfo,
    *,
    specs: dict[tuple[str, str], ComponentSpec],
    conflicts: dict[tuple[str, str], str],
    registered: dict[str, list[dict[str, Any]]],
) -> Callable[..., None]:
    """The ``register`` a plugin's ``register_<kind>s`` hook is given: it checks what the
    plugin passes, adds the component to ``specs`` (or, registered by two plugins, to
    ``conflicts``: neither can be selected), to ``info`` and to the plugin's manifest
    records in ``registered``."""

    def register(
        name: str,
        factory: Callable[..., Any],
        *,
        config: type | None = None,
        version: str = "1",
        description: str = "",
        install: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{info.name}: register() needs a non-empty name")
        if not callable(factory):
            raise PluginError(f"{info.name}: {kind}:{name}: factory is not callable")
        if install is not None and not isinstance(install, str):
            raise PluginError(f"{info.name}: {kind}:{name}: install must be a string")
        spec = ComponentSpec(
            kind=kind,
            name=name,
            factory=factory,
            config_class=config,
            version=str(version),
            description=description or (factory.__doc__ or "").strip().split("\n")[0],
            plugin=info.name,
            distribution=info.distribution,
            install=install or info.install,
        )
        registered.setdefault(info.name, []).append(component_record(spec))
        existing = specs.get((kind, name))
        if existing is not None:
            message = (
                f"{kind}:{name} is registered twice: by {existing.plugin} "
                f"{in_parens(existing.distribution)} and by {info.name} "
                f"{in_parens(info.distribution)}; "
                "block one of them in [plugins] block"
            )
            conflicts.setdefault((kind, name), message)
            info.conflicts.append(spec.key)
            logger.warning("{}: neither can be selected", message)
            return
        specs[(kind, name)] = spec
        info.components.append(
            ComponentListing(
                kind=kind,
                name=name,
                version=spec.version,
                description=spec.description if isinstance(spec.description, str) else "",
            )
        )

    return register


def component_record(spec: ComponentSpec) -> dict[str, Any]:
    config = spec.config_class
    return {
        "kind": spec.kind,
        "name": spec.name,
        "version": spec.version,
        "description": spec.description if isinstance(spec.description, str) else None,
        "config": f"{config.__module__}:{config.__qualname__}" if config is not None else None,
        "install": spec.install,
    }
