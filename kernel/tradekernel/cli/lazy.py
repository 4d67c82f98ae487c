"""A click group that imports each command module only when that command runs."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click


class LazyGroup(click.Group):
    """Subcommands named in ``lazy_subcommands`` (``name -> "module:attr"``) load on use.

    Commands added by plugins (``register_commands``) are looked up only when a name is
    not a built-in one, so ``--help`` and ``--version`` never import a plugin.
    """

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}
        self._plugin_commands_loaded = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [n for n in self.lazy_subcommands if self._module_exists(n)]
        return sorted({*super().list_commands(ctx), *available})

    def _module_exists(self, cmd_name: str) -> bool:
        module_name = self.lazy_subcommands[cmd_name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and self._module_exists(cmd_name):
            module_name, attr = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            self.commands.setdefault(cmd_name, command)
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugin_commands_loaded:
            self._plugin_commands_loaded = True
            self._load_plugin_commands(ctx)
            command = super().get_command(ctx, cmd_name)
        return command

    def _load_plugin_commands(self, ctx: click.Context) -> None:
        from .context import AppContext

        app = ctx.ensure_object(AppContext)
        app.registry().pm.hook.register_commands(cli=self)
