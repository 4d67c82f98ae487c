"""The namespace an agent's lease records (a label: the lease covers the store): its
brokers' accounts and its strategies; the lease's fence; a holder that lost its lease by
the end of the block never reports a clean release."""

from __future__ import annotations

import pytest
from tradekernel.errors import ConfigError
from tradekernel.lease import LeaseFence, LeaseLost, hold, namespace_for
from tradekernel.settings import Settings
from tradekernel.testing import config_text


def test_the_default_namespace_is_the_account_and_the_sorted_strategy_set(kernel_factory):
    kernel, _ = kernel_factory.build(
        config_text({"broker": "paper", "strategists": ["sma-cross", "hold"]})
    )
    account = kernel_factory.directory / "state" / "paper.db"
    assert namespace_for(kernel) == (f"brokers=paper:{account.resolve()};strategies=hold,sma-cross")
    assert namespace_for(kernel, "desk-1") == "desk-1"


def test_another_account_is_another_namespace(kernel_factory):
    one, _ = kernel_factory.build(config_text({"broker": "paper"}), state="a")
    two, _ = kernel_factory.build(config_text({"broker": "paper"}), state="b")
    assert namespace_for(one) != namespace_for(two)


def test_an_alias_of_one_account_reads_the_same(kernel_factory, tmp_path):
    account = tmp_path / "account.db"
    plain, _ = kernel_factory.build(
        config_text({"broker": "paper"}, f'[broker.paper]\ndb = "{account}"\n'), state="a"
    )
    alias, _ = kernel_factory.build(
        config_text({"broker": "acct"}, f'[broker.acct]\nuse = "paper"\ndb = "{account}"\n'),
        state="b",
    )
    assert namespace_for(plain) == namespace_for(alias)


class Lapsing:
    """A lease whose check says lost on its second call."""

    namespace, ttl, previous = "ns", 30.0, None

    def __init__(self) -> None:
        self.calls = 0
        self.mine = type("Mine", (), {"epoch": 7, "host": "h", "pid": 1})()

    def check(self) -> list[float]:
        self.calls += 1
        if self.calls == 1:
            return [2.5, 0.5]
        raise LeaseLost("gone")


def test_the_fence_reports_late_renewals_then_the_loss_once():
    events = []
    fence = LeaseFence(Lapsing(), lambda stage, kind, **f: events.append((kind, f)))
    fence()
    for _ in range(2):
        try:
            fence()
        except LeaseLost as exc:
            assert str(exc) == "gone"
        else:
            raise AssertionError("the fence let a lost lease pass")
    assert [k for k, _ in events] == ["renewed_late", "lost"]
    assert events[0][1]["late_s"] == 2.5 and events[0][1]["count"] == 2
    assert events[1][1]["severity"] == "critical" and events[1][1]["epoch"] == 7


class Held(Lapsing):
    """A lease that is fine at the first check and lost (taken over) afterwards."""

    released = True

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class LeasingStore:
    def __init__(self) -> None:
        self.held = Held()

    def lease(self, namespace: str, holder: str) -> Held:
        return self.held


def test_a_lease_lost_after_the_last_fence_call_is_lost_not_released():
    events = []
    with (
        pytest.raises(LeaseLost),
        hold(LeasingStore(), "ns", "run", lambda s, k, **f: events.append(k)) as fence,
    ):
        fence()  # fine; the heartbeat then learns of a takeover, no fence call follows
    assert events == ["acquired", "renewed_late", "lost"]


def test_a_release_that_did_not_happen_is_not_reported():
    store = LeasingStore()
    store.held.released = False
    store.held.check = lambda: []
    events = []
    with hold(store, "ns", "run", lambda s, k, **f: events.append(k)):
        pass
    assert events == ["acquired"]


def test_a_store_without_a_lease_holds_none():
    with hold(object(), "ns", "run", lambda *a, **k: None) as fence:
        assert fence is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('namespace = ""', "[store] namespace: expected 1 to 200 printable characters"),
        ('namespace = "a\\u001b[2Jb"', "[store] namespace: expected 1 to 200 printable"),
        (f'namespace = "{"x" * 201}"', "[store] namespace: expected 1 to 200 printable"),
        ('lease_ttl = "0s"', "[store] lease_ttl: expected a positive duration"),
    ],
)
def test_bad_lease_settings_name_their_key(tmp_path, line, message):
    path = tmp_path / "plugins.toml"
    path.write_text(f"[store]\n{line}\n")
    with pytest.raises(ConfigError) as exc:
        Settings.load(path, environ={})
    assert message in str(exc.value)


def test_the_lease_settings_default_and_load(tmp_path):
    (tmp_path / "empty.toml").write_text("")
    assert Settings.load(tmp_path / "empty.toml", environ={}).store.lease_ttl == 30
    path = tmp_path / "plugins.toml"
    path.write_text('[store]\nnamespace = "desk-1"\nlease_ttl = "2s"\n')
    store = Settings.load(path, environ={}).store
    assert (store.namespace, store.lease_ttl) == ("desk-1", 2)
