"""Deployment and production readiness: signed, content-addressed releases with
activation and rollback, the readiness gate a live start requires, the health check a
container or monitor calls, and backups with a restore drill. See docs/deploy.md.

This distribution (``tradekernel-deploy``) adds the ``release``, ``readiness``,
``health`` and ``backup`` commands, implements ``live_start_checks`` (a live start needs
a passing, fresh, signed readiness report) and ``release_settings`` (an agent runs the
active release's configuration). Registering it imports none of its modules.
"""

from __future__ import annotations

from tradekernel import hookimpl

TRADEKERNEL_API = ">=1.0,<2"
"""The range of :data:`tradekernel.api.API_VERSION` this plugin was built for."""


@hookimpl
def register_commands(cli):
    """Add ``release``, ``readiness``, ``health`` and ``backup``."""
    from .commands import backup, health, readiness, release

    for command in (release, readiness, health, backup):
        cli.add_command(command)


@hookimpl
def live_start_checks(kernel, store, mode):
    """A live start needs a passing readiness report: fresh, signed, for live, made for
    the active release (:func:`tradekernel_deploy.readiness.live_problems`)."""
    from .readiness import live_problems

    return live_problems(kernel.settings, store)


@hookimpl
def release_settings(settings, release):
    """The settings of release ``release``, verified
    (:func:`tradekernel_deploy.releases.release_settings`)."""
    from .releases import release_settings as load

    return load(settings, release)
