"""The readiness gate: every item with its evidence, read-only at the broker, a signed
report; a live start needs a passing, fresh one made for the active release."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from tradekernel import hookimpl
from tradekernel.api import (
    Account,
    Quote,
    RefusedError,
    Runtime,
    Store,
    current_digest,
    stage_key,
)
from tradekernel.testing import invoke
from tradekernel_deploy import activation, backup, readiness, releases

ENV = {"TK_DEPLOY_TEST_KEY": "0123456789abcdef0123456789abcdef"}

LIVE = """[kernel]
state_dir = "{state_dir}"
mode = "live"
live_acknowledged = true
approval_mode = "manual"

[components]
broker = "venue"
market_data = "venue"
strategist = "sma-cross"
notifiers = ["log"]

[audit]
hmac_key_env = "TK_DEPLOY_TEST_KEY"

[alerts]
profile = "%s"

[runtime]
watchlist = ["AAA"]
"""


class Venue:
    """A live-capable broker double that answers read calls and refuses to send."""

    live_capable = True

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.skew = 0.0

    def submit(self, request):
        raise AssertionError("readiness must never send an order")

    def get_order(self, client_order_id):
        self.lookups.append(client_order_id)
        return None

    def cancel(self, client_order_id):
        raise AssertionError("readiness must never cancel")

    def orders(self, *, open_only=False):
        return []

    def fills(self, client_order_id=None):
        return []

    def positions(self):
        return []

    def account(self):
        return Account(cash=1000, equity=1000)

    def server_time(self):
        return datetime.now(UTC) + timedelta(seconds=self.skew)


class Feed:
    """A live market data double whose quote is ``age`` seconds old."""

    age = 3.0

    def symbols(self):
        return ["AAA"]

    def now(self):
        return datetime.now(UTC)

    def advance(self):
        return datetime.now(UTC)

    def quote(self, symbol):
        return Quote(symbol=symbol, ts=datetime.now(UTC) - timedelta(seconds=self.age), last=10)

    def bars(self, symbol, limit):
        return []

    def current_bar(self, symbol):
        return None


class VenuePlugin:
    def __init__(self) -> None:
        self.broker, self.feed = Venue(), Feed()

    @hookimpl
    def register_brokers(self, register):
        register("venue", lambda config, ctx: self.broker)

    @hookimpl
    def register_market_data(self, register):
        register("venue", lambda config, ctx: self.feed)


@pytest.fixture
def ready(kernel_factory, tmp_path):
    """A live agent's kernel with everything in place for a passing report: a signed,
    active release; the strategist promoted to live under it; a backup and a passed
    drill; a test notification delivered; the strict alert profile."""

    def build(profile: str = "strict"):
        venue = VenuePlugin()
        kernel, _ = kernel_factory.build(LIVE % profile, plugins=[(venue, "venue")], environ=ENV)
        settings = kernel.settings
        release, _ = releases.create(kernel)
        with Store.open(settings.state_dir) as store:
            activation.activate(settings, store, release.id, actor="alice")
            store.set_control(
                stage_key("sma-cross"),
                {
                    "stage": "live",
                    "evidence": {
                        "release": release.id,
                        "config_digest": current_digest(settings, kernel.registry, "sma-cross"),
                    },
                },
                actor="promoter",
            )
        backup.drill(settings, backup.make_backup(settings))
        cli = kernel_factory.write_config(
            '[kernel]\nstate_dir = "{state_dir}"\n[components]\nnotifiers = ["log"]\n',
            name="cli.toml",
        )
        sent = invoke(["--config", str(cli), "notify", "test", "log"])
        assert sent.exit_code == 0, sent.stderr
        return kernel, venue

    return build


def _report(kernel, target="live"):
    with Store.open(kernel.settings.state_dir) as store:
        return readiness.run_checks(kernel, store, target)


def test_every_item_passes_with_evidence_and_nothing_is_sent(ready):
    kernel, venue = ready()
    report = _report(kernel)
    assert report.passed, [(i.name, i.evidence) for i in report.failed]
    names = [i.name for i in report.items]
    assert names == [
        "config",
        "journal",
        "backup",
        "restore_drill",
        "broker_account:venue",
        "broker_lookup:venue",
        "clock:venue",
        "market_data",
        "notifiers",
        "alert_profile",
        "promotion",
        "kill_switch",
        "disk",
        "release",
    ]
    assert all(i.evidence for i in report.items)
    assert len(venue.broker.lookups) == 1 and venue.broker.lookups[0].startswith("tkready-")
    with Store.open(kernel.settings.state_dir) as store:  # the agent's kill switch untouched
        assert store.get_control("kill_switch") is None


@pytest.mark.parametrize(
    ("spoil", "item"),
    [
        (lambda v: setattr(v.broker, "skew", 30.0), "clock:venue"),
        (lambda v: setattr(v.feed, "age", 3600.0), "market_data"),
        (lambda v: setattr(v.broker, "account", lambda: 1 / 0), "broker_account:venue"),
        (lambda v: setattr(v.broker, "get_order", lambda cid: object()), "broker_lookup:venue"),
    ],
)
def test_a_failing_item_names_itself(ready, spoil, item):
    kernel, venue = ready()
    spoil(venue)
    report = _report(kernel)
    assert [i.name for i in report.failed] == [item]


def test_a_failing_report_blocks_the_live_start_naming_the_items(ready):
    kernel, _ = ready(profile="default")
    report = _report(kernel)
    assert [i.name for i in report.failed] == ["alert_profile"]
    readiness.write_report(kernel.settings, report)
    with Runtime(kernel, mode="live") as runtime, pytest.raises(RefusedError) as refused:
        runtime.start()
    assert "live start refused" in str(refused.value)
    assert "alert_profile ([alerts] profile = 'default')" in str(refused.value)


def test_a_passing_fresh_signed_report_lets_the_live_agent_start(ready):
    kernel, _ = ready()
    with Runtime(kernel, mode="live") as runtime, pytest.raises(RefusedError, match="no readiness"):
        runtime.start()
    readiness.write_report(kernel.settings, _report(kernel))
    with Runtime(kernel, mode="live") as runtime:
        runtime.start()
        assert runtime.mode == "live"


def test_a_stale_or_altered_report_does_not_count(ready):
    kernel, _ = ready()
    settings = kernel.settings
    state_copy, archived = readiness.write_report(settings, _report(kernel))
    assert archived.exists() and json.loads(archived.read_text()) == json.loads(
        state_copy.read_text()
    )
    with Store.open(settings.state_dir) as store:
        assert readiness.live_problems(settings, store) == []
        later = datetime.now(UTC) + timedelta(days=2)
        assert "old (max 24.0h)" in readiness.live_problems(settings, store, now=later)[0]
        latest = readiness.report_dir(settings) / readiness.LATEST
        data = json.loads(latest.read_text())
        data["items"][0]["passed"] = True
        data["ts"] = datetime.now(UTC).isoformat()  # made to look fresh
        latest.write_text(json.dumps(data))
        assert "does not verify" in readiness.live_problems(settings, store)[0]
        latest.write_text("{not json")
        assert "unreadable" in readiness.live_problems(settings, store)[0]


def test_a_report_for_another_release_does_not_count(ready, write_config):
    kernel, _ = ready()
    settings = kernel.settings
    readiness.write_report(settings, _report(kernel))
    with Store.open(settings.state_dir) as store:
        store.set_control("release", {"id": "0" * 16, "history": []}, actor="bob")
        problems = readiness.live_problems(settings, store)
    assert any("made for release" in p for p in problems)


def test_readiness_command_exits_4_and_writes_the_signed_report(cli, state_dir):
    result = cli("readiness", "--for", "paper", "--json")
    assert result.exit_code == 4, result.stderr
    data = json.loads(result.stdout)
    failed = {i["name"] for i in data["items"] if not i["passed"]}
    assert {"backup", "restore_drill", "release", "alert_profile"} <= failed
    assert "Error: not ready for paper:" in result.stderr
    assert (state_dir / "readiness" / "latest.json").exists()
    assert (state_dir / "archives" / "readiness").is_dir()


def test_without_the_gate_installed_a_live_start_is_refused(kernel_factory):
    config = (LIVE % "strict") + '\n[plugins]\nblock = ["tradekernel-deploy"]\n'
    kernel, _ = kernel_factory.build(config, plugins=[(VenuePlugin(), "venue")], environ=ENV)
    with Store.open(kernel.settings.state_dir) as store:
        store.set_control(
            stage_key("sma-cross"),
            {
                "stage": "live",
                "evidence": {
                    "config_digest": current_digest(kernel.settings, kernel.registry, "sma-cross")
                },
            },
            actor="promoter",
        )
    with (
        Runtime(kernel, mode="live") as runtime,
        pytest.raises(RefusedError, match="no readiness gate is installed"),
    ):
        runtime.start()


def test_after_a_rollback_the_report_made_for_that_release_counts_again(ready, write_config):
    kernel, _ = ready()
    settings = kernel.settings
    readiness.write_report(settings, _report(kernel))  # made for the active release r1
    with Store.open(settings.state_dir) as store:
        r1 = store.get_control("release")["id"]
        store.set_control("release", {"id": "0" * 16, "history": [r1]}, actor="bob")
    later = readiness.Report("live", datetime.now(UTC).isoformat(), "0" * 16, "x")
    later.items.append(readiness.Item("config", False, "made for the other release"))
    readiness.write_report(settings, later)  # latest.json: the other release's, failing
    with Store.open(settings.state_dir) as store:
        assert any("failed" in p for p in readiness.live_problems(settings, store))
        store.set_control("release", {"id": r1, "history": []}, actor="carol")  # rolled back
        assert readiness.live_problems(settings, store) == []


def test_readiness_of_another_configuration_does_not_pass_nor_count(ready, kernel_factory):
    kernel, _ = ready(profile="default")  # the active release runs the "default" profile
    other, _ = kernel_factory.build(
        LIVE % "strict", plugins=[(VenuePlugin(), "venue")], environ=ENV
    )
    report = _report(other)  # checked with the operator's edited file, not the release
    assert [i.name for i in report.failed] == ["release"]
    assert "not the release's" in report.failed[0].evidence
    report.items = [i for i in report.items if i.passed]  # even a forged passing report
    readiness.write_report(other.settings, report)
    with Store.open(kernel.settings.state_dir) as store:
        problems = readiness.live_problems(kernel.settings, store)
    assert any("checked configuration sha256" in p for p in problems), problems
    with Runtime(kernel, mode="live") as runtime, pytest.raises(RefusedError, match="sha256"):
        runtime.start()


def test_the_report_records_the_checked_configuration_and_release(ready):
    kernel, _ = ready()
    report = _report(kernel)
    readiness.write_report(kernel.settings, report)
    with Store.open(kernel.settings.state_dir) as store:
        active = store.get_control("release")["id"]
    data, why = readiness.read_report(kernel.settings, active)
    bundle = releases.load(kernel.settings, active).bundle
    assert data["release"] == active and why == ""
    assert (
        data["config_sha256"]
        == bundle["config"]["sha256"]
        == releases.config_sha256(kernel.settings)
    )


def test_an_empty_or_foreign_backup_is_not_a_backup(ready):
    kernel, _ = ready()
    folder = backup.backup_dir(kernel.settings)
    newest = folder / "state-99991231T000000000000Z.db"
    for content, why in [
        (b"", "not an SQLite database"),
        (b"garbage" * 100, "not an SQLite database"),
    ]:
        newest.write_bytes(content)
        item = {i.name: i for i in _report(kernel).items}["backup"]
        assert not item.passed and why in item.evidence, item.evidence
    import sqlite3

    newest.unlink()
    sqlite3.connect(newest).execute("CREATE TABLE t (x)").connection.commit()
    item = {i.name: i for i in _report(kernel).items}["backup"]
    assert not item.passed and "holds no journal" in item.evidence


def test_the_drill_is_signed_and_bound_to_the_backup_it_tested(ready):
    kernel, _ = ready()
    settings = kernel.settings
    drill = backup.backup_dir(settings) / backup.DRILL_FILE
    data = json.loads(drill.read_text())
    tested = backup.latest_backup(settings)
    assert data["backup"] == str(tested) and data["backup_sha256"] == backup.file_sha256(tested)
    assert data["signature"]["key_id"]
    items = {i.name: i for i in _report(kernel).items}
    assert items["restore_drill"].passed, items["restore_drill"].evidence
    # a forged record (no signature) is no drill
    drill.write_text(json.dumps({"passed": True, "ts": datetime.now(UTC).isoformat()}))
    item = {i.name: i for i in _report(kernel).items}["restore_drill"]
    assert not item.passed and "not a signed" in item.evidence
    # the signed record of a backup changed since does not count
    backup.drill(settings, tested)
    with open(tested, "ab") as f:
        f.write(b"\0")
    item = {i.name: i for i in _report(kernel).items}["restore_drill"]
    assert not item.passed and "gone or changed" in item.evidence


def test_a_newer_backup_than_the_drilled_one_needs_the_drilled_one_recent(ready):
    kernel, _ = ready()
    settings = kernel.settings
    then = datetime.now(UTC) - timedelta(days=30)
    old = backup.make_backup(settings, now=then)
    os.utime(old, (then.timestamp(), then.timestamp()))
    backup.drill(settings, old)
    item = {i.name: i for i in _report(kernel).items}["restore_drill"]
    assert not item.passed and "not the newest backup" in item.evidence


def test_a_paper_broker_has_no_remote_clock_only_for_paper(kernel_factory):
    kernel, _ = kernel_factory.build(
        '[kernel]\nstate_dir = "{state_dir}"\n[runtime]\nwatchlist = ["AAA"]\n', environ=ENV
    )
    for target, passed in [("paper", True), ("live", False)]:
        item = {i.name: i for i in _report(kernel, target).items}["clock:paper"]
        assert item.passed is passed, item.evidence
    assert "not applicable" in item.evidence or "server_time" in item.evidence


def test_readiness_command_checks_the_active_release_not_the_config_file(
    cli, write_config, state_dir
):
    created = cli("release", "create", "--json")
    assert created.exit_code == 0, created.stderr
    release = json.loads(created.stdout)
    assert cli("release", "activate", release["id"]).exit_code == 0
    write_config(extra='\n[alerts]\nprofile = "strict"\n')  # edited after the release
    result = cli("readiness", "--for", "paper", "--json")
    data = json.loads(result.stdout)
    items = {i["name"]: i for i in data["items"]}
    assert "'default'" in items["alert_profile"]["evidence"]  # the release's profile
    assert items["release"]["passed"], items["release"]["evidence"]
    assert items["clock:paper"]["passed"] and "not applicable" in items["clock:paper"]["evidence"]
    bundle = json.loads((state_dir / "releases" / release["id"] / "release.json").read_text())
    assert data["release"] == release["id"]
    assert data["config_sha256"] == bundle["bundle"]["config"]["sha256"]
