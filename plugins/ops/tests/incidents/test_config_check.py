"""An escalation chain naming a notifier that is not selected is a configuration error at
``config check`` and at agent start, not at 3 a.m. when an incident escalates."""

from __future__ import annotations

import pytest
from tradekernel.testing import invoke

TYPO = """
[incidents]
escalation = [
  {notify = "slack", after = "0m"},
  {notify = "slak", after = "10m"},
]
"""


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("command", [["config", "check"], ["run", "--cycles", "1"]])
def test_an_unknown_notifier_in_a_chain_is_exit_2_naming_it(config, command):
    path, environ = config(TYPO)
    result = invoke(["--config", str(path), *command], env=environ)
    assert result.exit_code == 2, result.stdout + result.stderr
    line = _one_line(result.stderr)
    assert "plugins.toml" in line and "[incidents] escalation[1].notify" in line
    assert "unknown notifier 'slak'" in line and "did you mean 'slack'" in line
    assert "known: slack, email, webhook" in line
    assert "unexpected" not in line.lower()


def test_a_chain_of_selected_notifiers_passes_config_check(config):
    path, environ = config()
    result = invoke(["--config", str(path), "config", "check"], env=environ)
    assert result.exit_code == 0, result.stdout + result.stderr


def test_hostile_notifier_names_stay_on_one_inert_line(config):
    path, environ = config(
        '[incidents]\nescalation = [{notify = "x\\u001b[2J\\nrm -rf", after = "0m"}]\n'
    )
    result = invoke(["--config", str(path), "config", "check"], env=environ)
    assert result.exit_code == 2
    line = _one_line(result.stderr)
    assert "\x1b" not in line and "escalation[0].notify" in line
