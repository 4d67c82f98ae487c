"""The kernel dispatches routed events to notifiers and emits notify.* events."""

from __future__ import annotations

from tradekernel import hookimpl
from tradekernel.api import Kernel, open_store
from tradekernel_notify import dispatcher, notifications


class Observer:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def on_event(self, event):
        self.events.append(event)

    def keys(self) -> list[str]:
        return [f"{e.stage}.{e.kind}" for e in self.events]


def kernel_with_observer(settings) -> tuple[Kernel, Observer]:
    kernel = Kernel(settings)
    observer = Observer()
    kernel.registry.pm.register(observer, name="test-observer")
    return kernel, observer


PENDING = dict(
    intent_id="int_1",
    symbol="AAA",
    side="buy",
    quantity="10",
    notional="1500",
    approve_cmd="tradekernel intents approve int_1",
    reject_cmd="tradekernel intents reject int_1",
)


def test_routed_event_is_delivered_logged_and_announced(settings):
    kernel, observer = kernel_with_observer(settings)
    kernel.emit("approval", "pending", **PENDING)
    kernel.emit("approval", "pending", **PENDING)
    kernel.emit("scan", "candidates", count=1)  # not routed
    # plugin-level observers see an event before the kernel's own observers act on it
    assert observer.keys() == [
        "approval.pending",
        "notify.delivered",
        "approval.pending",
        "notify.dedup_suppressed",
        "scan.candidates",
    ]
    delivered = observer.events[1]
    assert delivered.fields["notifier"] == "log"
    assert delivered.fields["event_kind"] == "approval.pending"
    assert delivered.fields["dedup_key"] == "approval.pending:int_1"
    log = notifications(kernel).log()
    assert [(r.notifier, r.status) for r in log] == [("log", "sent"), ("log", "dedup_suppressed")]


def test_notify_events_are_not_routed_back(make_settings):
    settings = make_settings('[notify]\nroutes = [{ kinds = ["*"], min_severity = "debug" }]\n')
    kernel, observer = kernel_with_observer(settings)
    kernel.emit("custom", "thing", a=1)
    assert observer.keys() == ["custom.thing", "notify.delivered"]
    assert len(notifications(kernel).log()) == 1  # the notify event itself was not sent


def test_a_failing_notifier_never_breaks_emit(make_settings):
    settings = make_settings('[components]\nnotifiers = ["missing-notifier"]\n')
    kernel, observer = kernel_with_observer(settings)
    kernel.emit("control", "paused", actor="alice", reason="lunch")
    assert observer.keys() == ["control.paused", "notify.failed"]
    assert "not available" in observer.events[1].fields["error"]
    assert observer.events[1].severity == "warning"


def test_disabled_notify_sends_nothing(make_settings):
    kernel, observer = kernel_with_observer(make_settings("[notify]\nenabled = false\n"))
    kernel.emit("approval", "pending", **PENDING)
    assert observer.keys() == ["approval.pending"]
    assert dispatcher(kernel)._service is None  # no notification state was even opened


def test_notify_events_fit_the_event_catalogue(make_settings):
    from tradekernel.api import unstructure, validate_event

    settings = make_settings('[components]\nnotifiers = ["log", "missing-notifier"]\n')
    kernel, observer = kernel_with_observer(settings)
    kernel.emit("approval", "pending", **PENDING)
    kernel.emit("approval", "pending", **PENDING)
    notify = [e for e in observer.events if e.stage == "notify"]
    assert {e.kind for e in notify} == {"delivered", "failed", "dedup_suppressed"}
    for event in notify:
        assert validate_event(unstructure(event)) == []


def test_kernels_sharing_a_registry_notify_their_own_events_only(tmp_path):
    from tradekernel.api import PluginRegistry

    from .conftest import load_settings

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first = load_settings(tmp_path / "a", '[components]\nmetrics_sinks = ["jsonl"]\n')
    second = load_settings(tmp_path / "b", '[components]\nmetrics_sinks = ["jsonl"]\n')
    shared = PluginRegistry.from_settings(first)
    a, b = Kernel(first, shared), Kernel(second, shared)
    a.emit("approval", "pending", **PENDING)
    assert [(r.notifier, r.status) for r in notifications(a).log()] == [("log", "sent")]
    assert notifications(b).log() == []  # sent once, by the kernel that emitted it
    a.close(), b.close()
    written = {d: (tmp_path / d / "state" / "events").rglob("*.jsonl") for d in ("a", "b")}
    texts = {d: "".join(p.read_text() for p in paths) for d, paths in written.items()}
    assert "int_1" in texts["a"] and texts["b"] == ""


def test_the_dispatcher_is_attached_under_the_kernels_well_known_name(settings):
    from tradekernel.api import NOTIFICATION_DISPATCHER
    from tradekernel_notify import OBSERVER_NAME

    assert OBSERVER_NAME == NOTIFICATION_DISPATCHER
    kernel = Kernel(settings)
    assert kernel.observer(NOTIFICATION_DISPATCHER) is dispatcher(kernel)
    assert kernel.check_notifications() == []
    kernel.close()


def _lose(settings) -> None:
    """Lose the store's database (the journal's anchor on this host stays)."""
    if settings.components.store != "postgres":
        for path in settings.state_dir.glob("state.db*"):
            path.unlink()
        return
    import psycopg

    with psycopg.connect(settings.store.url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _alerts_go_out(settings) -> None:
    kernel, observer = kernel_with_observer(settings)
    try:
        kernel.emit("approval", "pending", **PENDING)
        kernel.emit("runtime", "incident", severity="critical", reason="state refused")
    finally:
        kernel.close()
    delivered = [e for e in observer.events if e.stage == "notify"]
    assert [e.kind for e in delivered] == ["delivered", "delivered"]
    assert [e.fields["event_kind"] for e in delivered] == ["approval.pending", "runtime.incident"]
    assert all(e.fields["unlogged"] is True for e in delivered)


def test_a_lost_state_never_silences_the_kernels_alerts(make_settings, any_store):
    """The dispatcher cannot open a lost state (the commands refuse it): every alert is
    still sent, unlogged, as with a server that is down."""
    settings = make_settings()
    with open_store(settings) as store:
        store.set_control("paused", True, actor="ops", reason="journal something")
    _lose(settings)
    _alerts_go_out(settings)


def test_a_server_refusing_the_role_never_silences_the_kernels_alerts(make_settings, postgres_url):
    user = postgres_url.split("//", 1)[1].split("@", 1)[0]
    refused = postgres_url.replace(f"//{user}@", "//revoked:pw@", 1)
    settings = make_settings(f'[components]\nstore = "postgres"\n[store]\nurl = "{refused}"\n')
    _alerts_go_out(settings)
