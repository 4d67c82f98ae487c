"""A command group run without its command (``tradekernel``, ``tradekernel intents``,
plugin groups such as ``tradekernel report``) prints the group's help on stdout and
exits 2 with one line on stderr, never the help squeezed into one escaped error line."""

from __future__ import annotations

import pytest
from tradekernel.testing import invoke


@pytest.mark.parametrize(
    ("args", "path", "command"),
    [
        ([], "tradekernel", "intents"),
        (["intents"], "tradekernel intents", "approve"),
        (["config"], "tradekernel config", "check"),
        (["report"], "tradekernel report", "daily"),  # tradekernel-report
        (["notify"], "tradekernel notify", "test"),  # tradekernel-notify
        (["audit"], "tradekernel audit", "verify"),  # tradekernel-audit
    ],
)
def test_a_group_without_its_command_prints_its_help_and_exits_2(tmp_path, args, path, command):
    result = invoke(args, env={"TRADEKERNEL_KERNEL__STATE_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stdout == invoke([*args, "--help"]).stdout  # exactly what --help prints
    assert result.stdout.startswith(f"Usage: {path} [OPTIONS] COMMAND [ARGS]...\n")
    assert f"\n  {command} " in result.stdout
    assert result.stderr == f"Error: missing command (see '{path} --help')\n"
