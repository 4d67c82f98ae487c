"""Outside text is stored as given but inert wherever the CLI shows it.

An LLM rationale, an operator's ``--by``/``--reason`` and a broker's rejection carry a
forged approval line, a carriage return, an OSC 52 clipboard write, a clear-screen CSI,
the 8-bit CSI and bidi overrides. Through the real CLI (``intents preview/show/list``,
``approve/reject``, ``control``, ``events query``, the ``--json`` forms), the output holds
none of those characters, shows their escapes, and no forged line stands on its own.
"""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal

import pytest
from tradekernel.approval import ApprovalService
from tradekernel.components import BrokerRejected
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict
from tradekernel.store import IntentState, Store

FORGED = "Approved by risk-officer"
HOSTILE = (
    f"looks fine\n\n{FORGED}\r\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m"
    "\u202egnp.exe\u202c \u2066x\u2069\x7f"
)
SHOWN = (
    f"looks fine\\n\\n{FORGED}\\r\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\x9b31m"
    "\\u202egnp.exe\\u202c \\u2066x\\u2069\\x7f"
)
HOSTILE_BY = f"mallory\n{FORGED}\x1b[1A"
HOSTILE_BY_SHOWN = f"mallory\\n{FORGED}\\x1b[1A"
BY = BY_SHOWN = "mallory"  # an approver's name is refused unless plain (docs/state.md)
ALLOW = [GuardVerdict.allowed("max_notional")]
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"}  # tradekernel.display's


def assert_inert(text: str) -> None:
    """No raw control/format character besides the line breaks between output lines, and
    no line of its own that starts with the forged text."""
    for line in text.split("\n"):
        assert not [c for c in line if unicodedata.category(c) in UNSAFE_CATEGORIES], line
        assert not line.strip().startswith(FORGED), text


def strings(value) -> list[str]:
    """Every string value in a JSON document."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def _pending(state_dir, helpers, rationale: str = HOSTILE) -> str:
    with Store.open(state_dir) as store:
        intent = helpers.make_intent(1, rationale=rationale)
        store.add_intent(intent, cycle_id="c1", broker="paper", ref_price=Decimal("50"))
        ApprovalService(store, helpers.make_settings(state_dir)).submit(intent.id, ALLOW)
    return intent.id


def test_llm_rationale_is_inert_in_preview_and_show(run_cli, state_dir, helpers):
    iid = _pending(state_dir, helpers)
    for command in ("preview", "show"):
        code, out, err = run_cli("intents", command, iid)
        assert code == 0, err
        assert_inert(out)
        assert f"  rationale: {SHOWN}\n" in out, out


def test_by_and_reason_are_inert_when_deciding_listing_and_showing(run_cli, state_dir, helpers):
    iid = _pending(state_dir, helpers)
    code, out, err = run_cli("intents", "reject", iid, "--by", BY, "--reason", HOSTILE)
    assert code == 0, err
    assert_inert(out)
    assert out == f"{iid}: rejected by {BY_SHOWN}\n"
    code, out, _ = run_cli("intents", "show", iid)
    assert_inert(out)
    assert f"by {BY_SHOWN}  {SHOWN}\n" in out
    code, out, _ = run_cli("intents", "list")
    assert_inert(out)
    assert out.count("\n") == 1 and out.endswith(f"({SHOWN})\n")


@pytest.mark.parametrize("command", ["approve", "reject", "cancel"])
def test_a_hostile_by_is_a_one_line_usage_error_and_nothing_is_written(
    run_cli, state_dir, helpers, command
):
    iid = _pending(state_dir, helpers)
    with Store.open(state_dir) as store:
        before = store.journal_rows()
    code, out, err = run_cli("intents", command, iid, "--by", HOSTILE_BY)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--by" in err and "U+000A" in err
    assert FORGED not in err
    assert_inert(err)
    with Store.open(state_dir) as store:
        assert store.journal_rows() == before
        assert store.get(iid).state is IntentState.PENDING_APPROVAL


def test_stored_text_is_kept_as_given_and_json_output_is_inert(run_cli, state_dir, helpers):
    iid = _pending(state_dir, helpers)
    run_cli("intents", "reject", iid, "--by", BY, "--reason", HOSTILE)
    with Store.open(state_dir) as store:
        record = store.get(iid)
        assert record.intent.rationale == HOSTILE and record.reason == HOSTILE
        assert store.journal_rows(iid)[-1].actor == BY
    for args in (("show", iid), ("preview", iid), ("list",)):
        code, out, _ = run_cli("intents", *args, "--json")
        assert code == 0
        assert out.isascii() and "\x7f" not in out and "\r" not in out
        assert all(c == "\n" or " " <= c < "\x7f" for c in out)
        assert HOSTILE in strings(json.loads(out))


def test_broker_rejection_message_is_inert(run_cli, state_dir, helpers, broker_factory, settings):
    class EchoingBroker(helpers.RecordingBroker):
        """Rejects every order with a code and message echoing hostile text."""

        def submit(self, request):
            self.conn.execute("INSERT INTO attempts VALUES (?, ?)", (request.client_order_id, "x"))
            raise BrokerRejected(HOSTILE, code=f"denied\n{FORGED}\x1b]0;pwned\x07")

    broker = EchoingBroker(state_dir.parent / "echo.db")
    with Store.open(state_dir) as store:
        (iid,) = helpers.add_approved(store, 1)
        Executor(store, broker, broker_name="rec", settings=settings).execute(iid)
        assert store.get(iid).state is IntentState.FAILED
    broker.close()
    shown_reason = f"broker_rejected: denied\\n{FORGED}\\x1b]0;pwned\\x07"
    code, out, _ = run_cli("intents", "list", "--state", "failed")
    assert code == 0 and out.rstrip("\n").endswith(f"({shown_reason})")
    assert_inert(out)
    code, out, _ = run_cli("intents", "show", iid)
    assert_inert(out)
    assert shown_reason in out


def test_control_actor_and_reason_are_inert_in_control_events_and_log(run_cli, state_dir):
    code, out, err = run_cli("-v", "control", "pause", "--by", BY, "--reason", HOSTILE)
    assert code == 0, err
    assert out == f"paused by {BY_SHOWN}\n"
    # The log notifier's line (stderr) is one record on one line, escaped once.
    assert_inert(err)
    (logged,) = [line for line in err.splitlines() if "[control.paused]" in line]
    assert f"Paused by {BY_SHOWN}: {SHOWN}." in logged
    code, out, err = run_cli("control", "kill-switch", "on", "--by", BY, "--reason", "x")
    assert code == 0 and out == f"kill switch on (by {BY_SHOWN})\n"
    code, out, _ = run_cli("events", "query", "--stage", "control")
    assert code == 0
    assert_inert(out)
    lines = out.splitlines()
    assert len(lines) == 2
    assert f"actor={BY_SHOWN} reason={SHOWN[:40]}" in lines[0]  # cut at SUMMARY_WIDTH
    code, out, _ = run_cli("events", "query", "--stage", "control", "--json")
    assert out.isascii() and "\x7f" not in out
    assert json.loads(out)[0]["fields"]["reason"] == HOSTILE


def test_error_messages_quoting_input_are_inert(tmp_path, capsys):
    from tradekernel.cli import main

    config = tmp_path / f"x\n{FORGED}\x1b[2J\u202e.toml"
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(config), "intents", "list"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert (
        err == f"Error: {tmp_path}/x\\n{FORGED}\\x1b[2J\\u202e.toml: configuration file not found\n"
    )


def test_error_messages_quoting_input_with_repr_are_not_escaped_twice(run_cli, state_dir, helpers):
    _pending(state_dir, helpers)
    code, out, err = run_cli("intents", "show", f"int_x\n{FORGED}\x1b[2J")
    assert code == 1 and out == ""
    assert err == f"Error: no intent with id 'int_x\\n{FORGED}\\x1b[2J'\n"


def test_the_daily_report_shows_an_operators_reason_inert(run_cli, state_dir):
    code, _, err = run_cli("control", "pause", "--by", HOSTILE_BY, "--reason", HOSTILE)
    assert code == 0, err
    code, md, _ = run_cli("report", "daily", "--format", "md")
    assert code == 0
    assert_inert(md)
    # the interventions row, then the compliance section's override row
    row, override = [x for x in md.splitlines() if x.startswith("| ") and "mallory" in x]
    assert f"| {HOSTILE_BY_SHOWN} | " in row and row.endswith(f"| {SHOWN} |")
    assert "| paused | " in override and override.endswith(f"| {HOSTILE_BY_SHOWN} | {SHOWN} |")
    code, text, _ = run_cli("report", "daily", "--format", "json")
    assert code == 0 and all(c == "\n" or " " <= c <= "~" for c in text)
    assert HOSTILE in strings(json.loads(text))
    code, html, _ = run_cli("report", "daily", "--format", "html")
    assert code == 0 and "\x1b" not in html and "\u202e" not in html
    assert "looks fine\\n\\nApproved by risk-officer\\r\\x1b]52" in html
