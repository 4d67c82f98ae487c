"""The readiness gate: a checklist, each item passed or failed with its evidence, in a
signed report a live start requires (docs/deploy.md, "Readiness").

Items that need the broker use its read-only calls only (``account``, ``get_order`` of
a client order id no intent ever had, ``server_time`` when it offers one): no order is
sent. The kill switch is toggled on a scratch store, never the agent's.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import define, field
from tradekernel.api import (
    Control,
    RefusedError,
    Settings,
    Store,
    active_release,
    atomic_write,
    check_stages,
    current_digest,
    make_dir,
    utcnow,
)

from .backup import (
    backup_dir,
    backup_problem,
    backup_time,
    file_sha256,
    last_drill,
    latest_backup,
)
from .releases import config_sha256, load, signature_ok
from .safefile import is_regular
from .signed import read_signed, sign

SCHEMA = "readiness.v1"
LATEST = "latest.json"


@define
class Item:
    """One checklist item: its name, whether it passed, and the evidence."""

    name: str
    passed: bool
    evidence: str


@define
class Report:
    """A readiness report (``readiness.v1``)."""

    target: str
    ts: str
    release: str | None
    state_dir: str
    config_sha256: str = ""
    items: list[Item] = field(factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(i.passed for i in self.items)

    @property
    def failed(self) -> list[Item]:
        return [i for i in self.items if not i.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "for": self.target,
            "ts": self.ts,
            "release": self.release,
            "state_dir": self.state_dir,
            "config_sha256": self.config_sha256,
            "passed": self.passed,
            "items": [
                {"name": i.name, "passed": i.passed, "evidence": i.evidence} for i in self.items
            ],
        }


def _age(then: datetime, now: datetime) -> float:
    return (now - then).total_seconds()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f}h"


# -- the items -----------------------------------------------------------------------


def _config(kernel: Any, store: Any, now: datetime) -> Item:
    warnings = kernel.check()
    return Item("config", True, f"valid; {len(warnings)} warning(s)")


def _journal(kernel: Any, store: Any, now: datetime) -> Item:
    result = store.verify_journal()
    if result.ok:
        return Item("journal", True, f"ok: {result.rows_checked} rows verified")
    return Item("journal", False, f"journal verify failed: {result.problem}")


def _backup(kernel: Any, store: Any, now: datetime) -> Item:
    settings = kernel.settings
    path = latest_backup(settings)
    if path is None:
        return Item("backup", False, "no backup found (run `tradekernel backup --drill`)")
    problem = backup_problem(path)
    if problem is not None:
        return Item("backup", False, f"the newest backup is not usable: {problem}")
    age = now.timestamp() - path.stat().st_mtime
    limit = float(settings.deploy.backup_max_age)
    ok = -60 <= age <= limit
    return Item("backup", ok, f"{path.name} is {_hours(age)} old (max {_hours(limit)})")


def _drill(kernel: Any, store: Any, now: datetime) -> Item:
    settings = kernel.settings
    record, why = last_drill(settings)
    if record is None:
        return Item("restore_drill", False, why)
    try:
        age = _age(datetime.fromisoformat(str(record.get("ts"))), now)
    except ValueError:
        return Item("restore_drill", False, "the drill record has no valid time")
    limit = float(settings.deploy.drill_max_age)
    if record.get("passed") is not True:
        return Item("restore_drill", False, f"the last drill failed: {record.get('detail')}")
    if not -60 <= age <= limit:
        return Item("restore_drill", False, f"passed {_hours(age)} ago (max {_hours(limit)})")
    return _drilled_backup(settings, record, now, f"passed {_hours(age)} ago")


def _drilled_backup(settings: Settings, record: dict[str, Any], now: datetime, done: str) -> Item:
    """The drill counts for the backup it names: still there, unchanged (SHA-256), and
    the newest backup or itself younger than ``[deploy] backup_max_age``."""
    tested = Path(str(record.get("backup", "")))
    if tested.parent != backup_dir(settings) or not tested.name.startswith("state-"):
        return Item("restore_drill", False, f"the drill names no backup of {backup_dir(settings)}")
    try:
        same = is_regular(tested) and file_sha256(tested) == record.get("backup_sha256")
    except OSError:
        same = False
    if not same:
        return Item(
            "restore_drill", False, f"the drilled backup {tested.name} is gone or changed since"
        )
    made = backup_time(tested)
    limit = float(settings.deploy.backup_max_age)
    if tested != latest_backup(settings) and (made is None or _age(made, now) > limit):
        return Item(
            "restore_drill",
            False,
            f"the drill tested {tested.name}, not the newest backup, and it is older than "
            f"{_hours(limit)} (`tradekernel backup --drill`)",
        )
    sha = str(record.get("backup_sha256"))[:12]
    return Item("restore_drill", True, f"{done} on {tested.name} (sha256 {sha})")


def _brokers(target: str) -> Callable[[Any, Any, datetime], list[Item]]:
    def brokers(kernel: Any, store: Any, now: datetime) -> list[Item]:
        return _broker_items(kernel, target, now)

    brokers.__name__ = "_brokers"
    return brokers


def _broker_items(kernel: Any, target: str, now: datetime) -> list[Item]:
    items: list[Item] = []
    for name in kernel.selected("broker"):
        try:
            broker = kernel.component("broker", name)
            account = broker.account()
            items.append(
                Item(f"broker_account:{name}", True, f"reachable; equity {account.equity}")
            )
        except Exception as exc:
            items.append(Item(f"broker_account:{name}", False, f"{type(exc).__name__}: {exc}"))
            continue
        probe = f"tkready-{uuid.uuid4().hex[:16]}"  # no intent ever had this id
        try:
            found = broker.get_order(probe)
            ok = found is None
            why = "answered: no such order" if ok else "returned an order for an unused id"
            items.append(Item(f"broker_lookup:{name}", ok, f"get_order({probe}) {why}"))
        except Exception as exc:
            items.append(Item(f"broker_lookup:{name}", False, f"{type(exc).__name__}: {exc}"))
        items.append(_clock(kernel.settings, name, broker, now, target))
    if not items:
        items.append(Item("broker_account", False, "no broker is selected"))
    return items


def _clock(settings: Settings, name: str, broker: Any, now: datetime, target: str) -> Item:
    server_time = getattr(broker, "server_time", None)
    if not callable(server_time) and target == "paper" and not getattr(broker, "live_capable", 0):
        # a simulated broker has no remote clock to drift from; never so for live
        return Item(f"clock:{name}", True, f"not applicable: {name} is simulated (no remote clock)")
    if not callable(server_time):
        return Item(
            f"clock:{name}", False, f"broker {name} offers no server_time(): cannot compare clocks"
        )
    try:
        theirs = server_time()
    except Exception as exc:
        return Item(f"clock:{name}", False, f"{type(exc).__name__}: {exc}")
    skew = abs(_age(theirs, now))
    limit = float(settings.deploy.clock_skew_max)
    return Item(f"clock:{name}", skew <= limit, f"{skew:.2f}s from the broker's (max {limit:g}s)")


def _market_data(kernel: Any, store: Any, now: datetime) -> Item:
    watchlist = list(kernel.settings.runtime.watchlist)
    if not watchlist:
        return Item("market_data", False, "the watchlist is empty")
    symbol = watchlist[0]
    try:
        quote = kernel.component("market_data").quote(symbol)
    except Exception as exc:
        return Item("market_data", False, f"{type(exc).__name__}: {exc}")
    if quote is None:
        return Item("market_data", False, f"no quote for {symbol}")
    age = _age(quote.ts, now)
    limit = float(kernel.settings.deploy.quote_max_age)
    fresh = -5 <= age <= limit  # a quote stamped after this clock is not fresh either
    return Item("market_data", fresh, f"{symbol} quote is {age:.0f}s old (max {limit:g}s)")


def _notifiers(kernel: Any, store: Any, now: datetime) -> Item:
    names = kernel.selected("notifier")
    if not names:
        return Item("notifiers", False, "no notifier is selected")
    limit = float(kernel.settings.deploy.notify_test_max_age)
    stale = []
    conn = store.conn  # the notification log is a table of the store's database, any store
    # a test counts only if stamped within [now - limit, now + 60 s]: a row from a clock
    # that runs ahead (a shared store), a NaN or a text time never passes the gate
    window = (now.timestamp() - limit, now.timestamp() + 60)
    for name in names:
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM notify_log WHERE notifier = ? AND event_kind = 'notify.test' "
                "AND status = 'sent' AND ts >= ? AND ts <= ?",
                (name, *window),
            ).fetchone()
        except sqlite3.OperationalError:  # no delivery log: nothing was ever delivered
            row = (0,)
        if not row[0]:
            stale.append(name)
    if stale:
        return Item(
            "notifiers",
            False,
            f"no test delivered within {_hours(limit)} by: {', '.join(stale)} "
            "(`tradekernel notify test NAME`)",
        )
    return Item("notifiers", True, f"test delivered within {_hours(limit)} by: {', '.join(names)}")


def _alerts(kernel: Any, store: Any, now: datetime) -> Item:
    profile = kernel.settings.alerts.profile
    return Item("alert_profile", profile == "strict", f"[alerts] profile = {profile!r}")


def _promotion(target: str) -> Callable[[Any, Any, datetime], Item]:
    def check(kernel: Any, store: Any, now: datetime) -> Item:
        digests = {
            name: current_digest(kernel.settings, kernel.registry, name)
            for name in kernel.selected("strategist")
        }
        try:
            check_stages(store, digests, target, active_release(store))
        except RefusedError as exc:
            return Item("promotion", False, str(exc))
        return Item("promotion", True, f"{', '.join(digests)}: stage allows {target}")

    return check


def _kill_switch(kernel: Any, store: Any, now: datetime) -> Item:
    scratch = Path(tempfile.mkdtemp(prefix="tradekernel-ready-"))
    try:
        with Store.open(scratch) as db:
            control = Control(db, kernel.settings.runtime)
            seen = []
            for on in (True, False):
                control.set_kill_switch(on, actor="readiness", reason="readiness drill")
                control.refresh()
                seen.append(control.kill_switch)
            ok = seen == [True, False] and db.verify_journal().ok
        return Item("kill_switch", ok, f"scratch control toggled on/off, read back {seen}")
    except Exception as exc:
        return Item("kill_switch", False, f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _disk(kernel: Any, store: Any, now: datetime) -> Item:
    free = shutil.disk_usage(kernel.settings.state_dir).free // (1024 * 1024)
    need = kernel.settings.deploy.min_free_disk_mb
    return Item("disk", free >= need, f"{free} MiB free (min {need} MiB)")


def _release(kernel: Any, store: Any, now: datetime) -> Item:
    active = active_release(store)
    if active is None:
        return Item("release", False, "no release is active (`tradekernel release activate`)")
    ok, why = signature_ok(kernel.settings, active)
    if not ok:
        return Item("release", False, f"{active}: {why}")
    # every other item judged these settings: they must be the ones the release runs
    checked = config_sha256(kernel.settings)
    if load(kernel.settings, active).bundle.get("config", {}).get("sha256") != checked:
        return Item(
            "release",
            False,
            f"{active}: the checked configuration (sha256 {checked[:12]}) is not the "
            "release's; readiness must run on the active release's settings",
        )
    return Item("release", True, f"{active}: {why}; configuration sha256 {checked[:12]}")


def run_checks(kernel: Any, store: Any, target: str, now: datetime | None = None) -> Report:
    """Evaluate every item for ``target`` (``live`` or ``paper``)."""
    now = now or utcnow()
    report = Report(
        target,
        now.isoformat(),
        active_release(store),
        str(kernel.settings.state_dir),
        config_sha256(kernel.settings),
    )
    steps: list[Callable[[Any, Any, datetime], Any]] = [
        _config,
        _journal,
        _backup,
        _drill,
        _brokers(target),
        _market_data,
        _notifiers,
        _alerts,
        _promotion(target),
        _kill_switch,
        _disk,
        _release,
    ]
    for step in steps:
        try:
            found = step(kernel, store, now)
        except Exception as exc:  # an item that cannot be evaluated fails, with why
            name = getattr(step, "__name__", "item").lstrip("_")
            found = Item(name, False, f"{type(exc).__name__}: {exc}")
        for item in found if isinstance(found, list) else [found]:
            report.items.append(Item(item.name, item.passed, kernel.settings.redact(item.evidence)))
    return report


# -- the signed report -----------------------------------------------------------------


def report_dir(settings: Settings) -> Path:
    return Path(settings.state_dir) / "readiness"


def write_report(settings: Settings, report: Report) -> tuple[Path, Path]:
    """Sign ``report`` with the audit key and write it to ``state_dir/readiness/``
    (the file of its time and ``latest.json``) and the audit archive
    (``<archive_dir>/readiness/``). Returns the state copy and the archive copy."""
    from tradekernel_audit import archive_dir

    signed = sign(settings, report.as_dict())
    text = json.dumps(signed, indent=2, sort_keys=True) + "\n"
    stamp = datetime.fromisoformat(report.ts).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"readiness-{stamp}.json"
    here, archive = report_dir(settings), archive_dir(settings) / "readiness"
    for folder in (here, archive):
        make_dir(folder)
        atomic_write(folder / name, text)
    atomic_write(here / LATEST, text)
    return here / name, archive / name


SEARCHED = 50
"""Reports searched, newest first, for one made for the active release."""


def read_report(
    settings: Settings, release: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The latest report, its signature checked: ``(report, "")``, or ``(None, why)``.
    When it was made for another release than ``release``, the newest of the last
    :data:`SEARCHED` reports made for ``release`` (for live) is returned instead, if
    one verifies: a rollback finds the report its release passed."""
    report, why = _read(settings, report_dir(settings) / LATEST)
    if report is None or report.get("release") == release:
        return report, why
    for path in sorted(report_dir(settings).glob("readiness-*.json"), reverse=True)[:SEARCHED]:
        other, _ = _read(settings, path)
        if other is not None and other.get("release") == release and other.get("for") == "live":
            return other, ""
    return report, why


def _read(settings: Settings, path: Path) -> tuple[dict[str, Any] | None, str]:
    return read_signed(
        settings,
        path,
        "readiness report",
        "no readiness report (run `tradekernel readiness --for live`)",
    )


def live_problems(settings: Settings, store: Any, now: datetime | None = None) -> list[str]:
    """Why a live start may not proceed, one line each (empty: it may): the latest
    report must verify, be for live, have passed, be younger than ``[deploy]
    readiness_max_age`` and be made for the active release (the newest one made for it
    counts when a later one was made for another: :func:`read_report`) and have checked
    the configuration ``settings`` were loaded from (its ``config_sha256``)."""
    report, why = read_report(settings, active_release(store))
    if report is None:
        return [f"readiness: {why}"]
    now = now or datetime.now(UTC)
    problems = []
    if report.get("for") != "live":
        problems.append(f"readiness: the latest report is for {report.get('for')!r}, not live")
    failed = [
        f"{i.get('name')} ({i.get('evidence')})"
        for i in report.get("items") or []
        if isinstance(i, dict) and i.get("passed") is not True
    ]
    if failed or report.get("passed") is not True:
        problems.append("readiness items failed: " + "; ".join(failed or ["no items"]))
    try:
        age = _age(datetime.fromisoformat(str(report.get("ts"))), now)
    except ValueError:
        age = float("inf")
    limit = float(settings.deploy.readiness_max_age)
    if not -60 <= age <= limit:  # a report from the future is no evidence either
        problems.append(f"readiness: the latest report is {_hours(age)} old (max {_hours(limit)})")
    if report.get("release") != active_release(store):
        problems.append(
            f"readiness: the report was made for release {report.get('release')}, "
            f"the active one is {active_release(store)}"
        )
    running = config_sha256(settings)
    if report.get("config_sha256") != running:
        problems.append(
            f"readiness: the report checked configuration sha256 "
            f"{str(report.get('config_sha256') or 'none')[:12]}, this agent runs {running[:12]}"
        )
    return problems
