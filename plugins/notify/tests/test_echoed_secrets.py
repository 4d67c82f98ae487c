"""A receiver that answers 500 echoing the request (path, headers, body) never gets a
token, nor any 8+ character piece of one in any case, into the notification log, the
jsonl and sqlite event sinks, the signed audit archive or the CLI's output."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from tradekernel.testing import HTTPReceiver, ReceivedRequest

main = entry_points(group="console_scripts")["tradekernel"].load()  # the CLI, in-process

SLACK_TOKEN = "Xq7rPz2LmN8vKd4sWb6tYh3c"
SLACK_TEAM, SLACK_BOT = "T0A1B2C3D", "B0E4F5G6H"
HOOK_TOKEN = "whk9Fj2Lq8Zr5Tx3Nv7Bc1Md"
QUERY_TOKEN = "qv4Jh8Ks2Pw6Rt"
BEARER_TOKEN = "brr5Yt7Ui9Op1As3Df"
HMAC_ENV, HMAC_SECRET = "ECHO_TEST_AUDIT_KEY", "audit-hmac-key-e5b2d4068f3a9c1"
SECRET_PARTS = (SLACK_TOKEN, SLACK_TEAM, SLACK_BOT, HOOK_TOKEN, QUERY_TOKEN, BEARER_TOKEN)


def echo(request: ReceivedRequest) -> tuple[int, str]:
    """A hostile receiver: quotes the request back, also upper-cased and in pieces."""
    last = request.path.rsplit("/", 1)[-1].split("?")[0]
    return (
        500,
        f"no such hook {request.path} ({request.path.upper()}; id {last[:12].lower()}) "
        f"auth {request.headers.get('authorization', '').upper()} "
        f"headers={json.dumps(request.headers)} body={request.body[:200].decode()}",
    )


def leaks(text: str) -> list[str]:
    """Every 8-character piece of a secret part found in ``text``, any case."""
    folded = text.lower()
    return sorted(
        {
            part[i : i + 8]
            for part in SECRET_PARTS
            for i in range(len(part) - 7)
            if part[i : i + 8].lower() in folded
        }
    )


def run(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out + err


@pytest.fixture
def receiver():
    with HTTPReceiver(handler=echo) as rx:
        yield rx


def test_echoed_tokens_reach_no_log_sink_archive_or_output(
    tmp_path: Path, capsys, monkeypatch, receiver
):
    base = receiver.url.rsplit("/", 1)[0]
    monkeypatch.setenv("ECHO_SLACK_URL", f"{base}/services/{SLACK_TEAM}/{SLACK_BOT}/{SLACK_TOKEN}")
    monkeypatch.setenv("ECHO_HOOK_URL", f"{base}/hooks/{HOOK_TOKEN}?token={QUERY_TOKEN}&v=1")
    monkeypatch.setenv(HMAC_ENV, HMAC_SECRET)
    state = tmp_path / "state"
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{state}"\nlog_level = "DEBUG"\n'
        '[components]\nnotifiers = ["slack", "webhook"]\nmetrics_sinks = ["jsonl", "sqlite"]\n'
        '[notify]\nretry = { max_attempts = 2, backoff_base = "1ms", backoff_max = "2ms" }\n'
        f'[audit]\nhmac_key_env = "{HMAC_ENV}"\n'
        '[notifier.slack]\nwebhook_url_env = "ECHO_SLACK_URL"\n'
        '[notifier.webhook]\nurl_env = "ECHO_HOOK_URL"\n'
        f'headers = {{ Authorization = "Bearer {BEARER_TOKEN}", X-Team = "ops" }}\n',
        encoding="utf-8",
    )
    cfg = ("--config", str(config))
    output = []
    for notifier in ("slack", "webhook"):
        code, text = run(capsys, *cfg, "-vv", "notify", "test", notifier)
        assert code == 1 and "http 500" in text
        output.append(text)
    # the receiver really got (and echoed) the tokens
    assert len(receiver.requests) == 4
    assert SLACK_TOKEN in receiver.requests[0].path
    assert receiver.requests[-1].headers["authorization"] == f"Bearer {BEARER_TOKEN}"

    day = datetime.now(UTC).date().isoformat()
    for args in (
        ("notify", "log"),
        ("notify", "log", "--json"),
        ("events", "query", "--stage", "notify"),
        ("events", "query", "--stage", "notify", "--json"),
        ("audit", "archive", "--date", day),
        ("config", "show"),
        ("config", "show", "--json"),
    ):
        code, text = run(capsys, *cfg, *args)
        assert code == 0, text
        output.append(text)
    assert "http 500: no such hook /services/" in output[2]  # the error is still useful

    db = sqlite3.connect(state / "state.db")
    try:
        notify_log = json.dumps(db.execute("SELECT * FROM notify_log").fetchall())
        events = json.dumps(db.execute("SELECT * FROM events").fetchall())
    finally:
        db.close()
    assert notify_log.count('"failed"') == 2 and events.count("notify") >= 2
    jsonl = "".join(p.read_text() for p in (state / "events").glob("*.jsonl"))
    archive = "".join(p.read_text() for p in (state / "archives" / day).iterdir())
    assert "notify.test" in jsonl and "notify" in archive
    for where, text in {
        "notify_log": notify_log,
        "sqlite events": events,
        "jsonl events": jsonl,
        "audit archive": archive,
        "CLI output": "\n".join(output),
    }.items():
        assert leaks(text) == [], where


ZAPIER_TAIL = "1234567/o1ab2cd"  # every segment under 8 characters
PLAIN_HEADER_TOKEN = "zq7longheadertokenvalue"  # under a header name that says nothing


def echo_briefly(request: ReceivedRequest) -> tuple[int, str]:
    """Quotes the path and the X-Auth header first, so that no truncation hides them."""
    return 500, f"no such hook {request.path} for {request.headers.get('x-auth', '')}"


def test_short_path_segments_and_plain_named_headers_are_not_echoed(
    tmp_path: Path, capsys, monkeypatch
):
    with HTTPReceiver(handler=echo_briefly) as receiver:
        _check_short_path_segments_and_plain_named_headers(tmp_path, capsys, monkeypatch, receiver)


def _check_short_path_segments_and_plain_named_headers(tmp_path, capsys, monkeypatch, receiver):
    base = receiver.url.rsplit("/", 1)[0]
    monkeypatch.setenv("ECHO_ZAP_URL", f"{base}/hooks/catch/{ZAPIER_TAIL}/")
    state = tmp_path / "state"
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{state}"\nlog_level = "DEBUG"\n'
        '[components]\nnotifiers = ["webhook"]\nmetrics_sinks = ["jsonl", "sqlite"]\n'
        '[notify]\nretry = { max_attempts = 1, backoff_base = "1ms", backoff_max = "2ms" }\n'
        '[notifier.webhook]\nurl_env = "ECHO_ZAP_URL"\n'
        f'headers = {{ X-Auth = "{PLAIN_HEADER_TOKEN}", X-Team = "ops" }}\n',
        encoding="utf-8",
    )
    cfg = ("--config", str(config))
    code, text = run(capsys, *cfg, "-vv", "notify", "test", "webhook")
    assert code == 1 and "http 500" in text
    assert receiver.requests[0].path == f"/hooks/catch/{ZAPIER_TAIL}/"
    assert receiver.requests[0].headers["x-auth"] == PLAIN_HEADER_TOKEN
    output = [text]
    for args in (("notify", "log", "--json"), ("events", "query", "--json"), ("config", "show")):
        code, text = run(capsys, *cfg, *args)
        assert code == 0, text
        output.append(text)
    assert "no such hook /hooks/catch/" in output[1]  # the readable part is kept
    files = "".join(
        p.read_bytes().decode(errors="replace") for p in state.rglob("*") if p.is_file()
    )
    everything = (files + "\n".join(output)).lower()
    for secret in (ZAPIER_TAIL, PLAIN_HEADER_TOKEN):
        found = [
            secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in everything
        ]
        assert found == [], secret
