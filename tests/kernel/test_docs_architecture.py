"""docs/architecture.md's table of which hooks each distribution implements matches the
installed first-party plugins and contrib."""

from __future__ import annotations

import re
from pathlib import Path

from tradekernel.plugins import PluginRegistry

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def documented() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- hooks-table -->", 1)[1].split("<!-- /hooks-table -->", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = sorted(re.findall(r"`([a-z_]+)`", cells[1]))
    return rows


def test_the_hooks_table_matches_the_installed_plugins():
    registry = PluginRegistry().load()
    installed = {
        info.distribution: sorted(info.hooks)
        for info in registry.infos
        if info.status == "enabled" and info.distribution.startswith("tradekernel-")
    }
    assert documented() == installed
