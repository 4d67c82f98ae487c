"""The commands plugins add: each ``register_commands`` hook is run on a scratch group
first, so one that fails or adds a command another plugin adds too is kept out of the
real group while the others still load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    import pluggy

    from .plugin_records import PluginInfo
    from .plugins import PluginRegistry


def add_commands(registry: PluginRegistry, group: Any) -> None:
    """Add the commands of every plugin ``registry`` imported to ``group`` (a click
    group); failures go to ``registry.command_failures``, clashes to
    ``registry.command_conflicts`` (see :meth:`PluginRegistry.add_commands`)."""
    import click

    owners: dict[str, str] = {}
    added: dict[str, Any] = {}
    for impl in registry.pm.hook.register_commands.get_hookimpls():
        scratch = click.Group()
        try:
            impl.function(scratch)
        except Exception as exc:
            error = registry.redact(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            registry.command_failures[impl.plugin_name] = error
            logger.warning(
                "register_commands hook of plugin {} raised {}: skipped",
                impl.plugin_name,
                error,
            )
            logger.opt(exception=exc).debug("register_commands traceback")
            continue
        for name, command in scratch.commands.items():
            if name in owners and owners[name] != impl.plugin_name:
                registry.command_conflicts.setdefault(
                    name,
                    f"the {name!r} command is added by two plugins: {owners[name]} and "
                    f"{impl.plugin_name}; block one of them in [plugins] block",
                )
                logger.warning("{}", registry.command_conflicts[name])
                continue
            owners[name] = impl.plugin_name
            added[name] = command
    for name, command in added.items():
        if name not in registry.command_conflicts:
            group.add_command(command, name)


def command_names(pm: pluggy.PluginManager, plugin_name: str) -> list[str]:
    """The commands a plugin's ``register_commands`` adds, found by calling it on a
    scratch group (its failure is reported when the real group is built)."""
    import click

    names: set[str] = set()
    for impl in pm.hook.register_commands.get_hookimpls():
        if impl.plugin_name != plugin_name:
            continue
        group = click.Group()
        try:
            impl.function(group)
        except Exception:  # reported when call_each builds the real group
            continue
        names.update(group.commands)
    return sorted(names)


def mark_conflicts(infos: list[PluginInfo]) -> None:
    """Add ``command:<name>`` to the conflicts of every plugin in ``infos`` (in load
    order) that adds a command an earlier one adds too, and to that earlier one's."""
    providers: dict[str, list[PluginInfo]] = {}
    for info in infos:
        for command in info.commands:
            providers.setdefault(command, []).append(info)
    for command, clashing in providers.items():
        for info in clashing[1:] if len(clashing) > 1 else []:
            for other in (clashing[0], info):
                if f"command:{command}" not in other.conflicts:
                    other.conflicts.append(f"command:{command}")
