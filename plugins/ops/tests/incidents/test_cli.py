"""``tradekernel incidents``: list, show, ack, resolve, postmortem through the real entry
point; hostile text from events stays inert in the output and the postmortem."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.api import Event, Kernel, Settings
from tradekernel.testing import invoke
from tradekernel_ops.incidents.postmortem import md, postmortem
from tradekernel_ops.incidents.service import incident_key
from tradekernel_ops.incidents.store import Incident

HOSTILE = "\x1b[31mred</td><script>x</script>|[link](http://evil)\n# heading"


def opened(config, clock, rule: str = "breaker_open", detail: str = "") -> tuple[list[str], dict]:
    from tradekernel_ops.incidents.observer import build

    path, environ = config()
    kernel = Kernel(Settings.load(path, environ=environ))
    try:
        event = Event(
            stage="alerts", kind="fired", severity="error", fields={"rule": rule, "detail": detail}
        )
        build(kernel, clock=clock).observe(event)
    finally:
        kernel.close()
    return ["--config", str(path)], environ


def test_list_show_ack_resolve_and_postmortem(config, servers, clock, tmp_path):
    args, env = opened(config, clock)
    listed = invoke([*args, "incidents", "list"], env=env)
    assert listed.exit_code == 0 and "open" in listed.stdout and "breaker_open" in listed.stdout
    shown = invoke([*args, "incidents", "show", "1", "--json"], env=env)
    data = json.loads(shown.stdout)
    assert (data["state"], data["steps"][0]["notifier"]) == ("open", "slack")
    acked = invoke([*args, "incidents", "ack", "1", "--by", "Alice"], env=env)
    assert acked.exit_code == 0 and "acknowledged by alice" in acked.stdout
    again = invoke([*args, "incidents", "ack", "1", "--by", "bob"], env=env)
    assert again.exit_code == 3 and "acknowledged already" in again.stderr
    resolved = invoke([*args, "incidents", "resolve", "1", "--by", "bob"], env=env)
    assert resolved.exit_code == 0
    assert invoke([*args, "incidents", "list"], env=env).stdout.strip() == "no open incidents"
    out = tmp_path / "pm.md"
    written = invoke([*args, "incidents", "postmortem", "1", "-o", str(out)], env=env)
    assert written.exit_code == 0
    text = out.read_text()
    assert text.startswith("# Postmortem: incident 1")
    assert "by alice" in text and "by bob" in text and "## Root cause" in text


def test_refused_names_and_unknown_ids(config, servers, clock):
    args, env = opened(config, clock)
    for name in ("system", "ops", "al\x00ice", ""):
        result = invoke([*args, "incidents", "ack", "1", "--by", name], env=env)
        assert result.exit_code == 2, (name, result.stderr)
        assert "\x00" not in result.stderr
    missing = invoke([*args, "incidents", "show", "99"], env=env)
    assert missing.exit_code != 0 and "no incident 99" in missing.stderr
    assert invoke([*args, "incidents", "ack", "0", "--by", "alice"], env=env).exit_code == 2


def test_no_state_yet_lists_nothing_and_creates_nothing(config, tmp_path):
    path, env = config()
    result = invoke(["--config", str(path), "incidents", "list"], env=env)
    assert (result.exit_code, result.stdout.strip()) == (0, "no open incidents")
    assert not (tmp_path / "state" / "incidents.db").exists()


def test_hostile_event_text_stays_inert(config, servers, clock):
    args, env = opened(config, clock, rule=HOSTILE, detail=HOSTILE)
    for command in (["list"], ["show", "1"], ["postmortem", "1"]):
        out = invoke([*args, "incidents", *command], env=env).stdout
        assert "\x1b" not in out
    text = invoke([*args, "incidents", "postmortem", "1"], env=env).stdout
    assert "<script>" not in text and "\n# heading" not in text
    assert not re.search(r"(?<!\\)\]\(", text)  # no live markdown link


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_markdown_escaping_keeps_one_table_cell(text):
    cell = md(text)
    assert "\n" not in cell and "\x1b" not in cell
    assert all(cell[i - 1] == "\\" for i, c in enumerate(cell) if c in "|<>[]`" and i)
    assert not cell.startswith(("|", "<", "[", "`", "#"))


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["rule", "objective", "strategist", "playbook", "name", "x"]),
        st.text() | st.integers(),
    )
)
def test_incident_keys_are_bounded_and_inert(fields):
    key = incident_key(Event(stage="alerts", kind="fired", fields=fields))
    assert key.startswith("alerts.fired") and len(key) <= 13 + 160
    assert "\x1b" not in key and "\n" not in key


def test_postmortem_of_an_open_incident(clock):
    item = Incident(id=7, key="k", title="t", severity="error", opened=clock(), updated=clock())
    text = postmortem(item)
    assert "not acknowledged" in text and "still open" in text
