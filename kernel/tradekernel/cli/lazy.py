"""A click group that imports each command module only when that command runs."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

_PLUGIN_COMMANDS = "tradekernel.plugin_commands"


class LazyGroup(click.Group):
    """Subcommands named in ``lazy_subcommands`` (``name -> "module:attr"``) load on use.

    Commands added by plugins (``register_commands``) are looked up only when a name is
    not a built-in one, so ``--help`` and ``--version`` never import a plugin. They are
    added to a group of their own for each invocation (kept in the root context), so an
    in-process invocation (``tradekernel.testing.invoke``) sees exactly the commands its
    own configuration loads, never those an earlier invocation loaded.
    """

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [n for n in self.lazy_subcommands if self._module_exists(n)]
        return sorted({*super().list_commands(ctx), *available})

    def _module_exists(self, cmd_name: str) -> bool:
        module_name = self.lazy_subcommands[cmd_name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, without importing the command modules: the short
        help of a command not loaded yet is read from its function's docstring (``ast``)."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                command = _static_command(name, self.lazy_subcommands[name])
            if command is None:
                command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])
        installed = _installed_first_party_commands()
        if installed:
            with formatter.section("Commands of installed first-party plugins"):
                formatter.write_dl(installed)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and self._module_exists(cmd_name):
            module_name, attr = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            self.commands.setdefault(cmd_name, command)
        command = super().get_command(ctx, cmd_name)
        if command is None:
            command = self._plugin_commands(ctx, cmd_name).commands.get(cmd_name)
        if command is None:
            _refuse_clash(ctx, cmd_name)
        if command is None:
            _refuse_known(ctx, cmd_name)
        return command

    def _plugin_commands(self, ctx: click.Context, cmd_name: str) -> click.Group:
        """This invocation's plugin commands, loaded on the first name not built in."""
        meta = ctx.find_root().meta
        group = meta.get(_PLUGIN_COMMANDS)
        if group is None:
            group = meta[_PLUGIN_COMMANDS] = click.Group(self.name)
            self._load_plugin_commands(ctx, cmd_name, group)
        return group

    def _load_plugin_commands(self, ctx: click.Context, cmd_name: str, group: click.Group) -> None:
        from .context import AppContext

        app = ctx.ensure_object(AppContext)
        # Subcommands resolve before the group callback stores the group's options, and
        # the registry needs them now: --config decides what [plugins] block says.
        app.config_path = ctx.params.get("config_path", app.config_path)
        app.verbose = ctx.params.get("verbose", app.verbose)
        # Only the plugins that add this command (by the manifest) are imported.
        registry = app.registry(check_env_names=False)
        registry.load_commands(cmd_name)
        # One plugin's broken command must not take the others (or the CLI) down.
        registry.add_commands(group)


def _usage_error(message: str) -> click.ClickException:
    from ..errors import EXIT_USAGE

    error = click.ClickException(message)
    error.exit_code = EXIT_USAGE
    return error


def _refuse_clash(ctx: click.Context, cmd_name: str) -> None:
    """A command two plugins add runs neither (which one would depend on import order)."""
    from .context import AppContext

    registry = ctx.ensure_object(AppContext).registry(check_env_names=False)
    if cmd_name in registry.command_conflicts:
        raise _usage_error(registry.command_conflicts[cmd_name])


def _installed_first_party_commands() -> list[tuple[str, str]]:
    """``(command, "from <distribution>")`` for each first-party plugin command whose
    package is installed, found without importing it (``--help`` imports no plugin)."""
    from ..plugin_policy import KNOWN_COMMANDS

    return [
        (name, f"from {dist} (see 'tradekernel {name} --help')")
        for name, dist in sorted(KNOWN_COMMANDS.items())
        if importlib.util.find_spec(dist.replace("-", "_")) is not None
    ]


def _refuse_known(ctx: click.Context, cmd_name: str) -> None:
    """A first-party command no loaded plugin adds: name the distribution that provides
    it and why it is missing (exit 2) instead of click's "No such command"."""
    from ..display import inert
    from ..plugin_policy import KNOWN_COMMANDS, normalise
    from .context import AppContext

    dist = KNOWN_COMMANDS.get(cmd_name)
    if dist is None:
        return
    registry = ctx.ensure_object(AppContext).registry(check_env_names=False)
    infos = registry.infos
    owner = next((i for i in infos if normalise(i.distribution) == normalise(dist)), None)
    message = f"the {cmd_name!r} command is provided by {dist}"
    if owner is not None and owner.name in registry.command_failures:
        message += (
            f", whose register_commands failed: {inert(registry.command_failures[owner.name])}"
        )
    elif owner is not None and owner.status == "blocked":
        message += f", which is {owner.error or 'blocked in [plugins] block'}"
    elif owner is not None and owner.status == "error":
        message += f", which failed to load: {inert(owner.error or '')}"
    else:
        message += f": pip install {dist}"
    raise _usage_error(message)


def _static_command(name: str, target: str) -> click.Command | None:
    """A stand-in command carrying the help of ``attr`` in ``module`` (``"module:attr"``),
    read from the source without importing it; ``None`` when it cannot be found that way
    (the caller then imports the module)."""
    import ast

    module_name, attr = target.split(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == attr:
            for decorator in node.decorator_list:  # @click.command(short_help=..., help=...)
                func = getattr(decorator, "func", None)
                called = getattr(func, "attr", None) or getattr(func, "id", None)
                if called not in ("command", "group"):
                    continue
                texts = {
                    kw.arg: str(kw.value.value)
                    for kw in decorator.keywords
                    if kw.arg in ("short_help", "help") and isinstance(kw.value, ast.Constant)
                }
                if texts:
                    return click.Command(name, **texts)
            doc = ast.get_docstring(node, clean=True) or ""
            return click.Command(name, help=doc.split("\f")[0])
    return None
