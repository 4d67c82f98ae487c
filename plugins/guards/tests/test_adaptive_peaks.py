"""The adaptive guard's peak equity is kept in ``guards.db``: a restart does not forget
the drawdown (and loosen the limit); hostile files and rows fail tight, not loose."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from types import SimpleNamespace

import pytest
from tradekernel.api import Account, ConfigError
from tradekernel_guards import AdaptiveNotionalConfig, AdaptiveNotionalGuard, register_guards
from tradekernel_guards.peaks import DB_FILE, PeakStore


def guard(state_dir, name="adaptive_notional"):
    config = AdaptiveNotionalConfig(ceiling=D(1000), drawdown_max=0.2, floor_ratio=0.1)
    return AdaptiveNotionalGuard(config, name=name, peaks=PeakStore(state_dir))


def ctx(h, equity, broker="paper"):
    return h.ctx(last=100, account=Account(cash=equity, equity=equity), broker=broker)


def test_the_peak_survives_a_restart(h, tmp_path):
    first = guard(tmp_path)
    assert first.limit(h.intent(), ctx(h, D(10_000)))[0] == D(1000)
    first.close()
    restarted = guard(tmp_path)
    limit, inputs = restarted.limit(h.intent(), ctx(h, D(9_000)))  # 10 % below the peak
    assert limit == D("550.00") and inputs["peak_equity"] == "10000"
    verdict = restarted.check(h.intent(quantity=6), ctx(h, D(9_000)))
    assert not verdict.allow and "drawdown 0.1" in verdict.detail
    restarted.close()


def test_peaks_are_per_guard_and_broker(h, tmp_path):
    g = guard(tmp_path)
    g.limit(h.intent(), ctx(h, D(10_000), broker="alpaca"))
    assert g.limit(h.intent(), ctx(h, D(5_000), broker="paper"))[0] == D(1000)
    other = guard(tmp_path, name="adaptive_b")
    assert other.limit(h.intent(), ctx(h, D(5_000), broker="alpaca"))[0] == D(1000)
    assert g.limit(h.intent(), ctx(h, D(9_000), broker="alpaca"))[0] == D("550.00")
    g.close()
    other.close()


def test_two_processes_never_lower_the_peak(h, tmp_path):
    a, b = guard(tmp_path), guard(tmp_path)
    a.limit(h.intent(), ctx(h, D(12_000)))
    b.limit(h.intent(), ctx(h, D(11_000)))  # b saw less: the recorded peak stays
    restarted = guard(tmp_path)
    assert restarted.limit(h.intent(), ctx(h, D(12_000)))[1]["peak_equity"] == "12000"
    for g in (a, b, restarted):
        g.close()


@pytest.mark.parametrize("stored", ["-5", "NaN", "Infinity", "abc", "0", "1e999999999"])
def test_a_damaged_peak_counts_as_the_deepest_drawdown(h, tmp_path, stored):
    guard(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        db.execute("INSERT INTO peaks VALUES ('adaptive_notional', 'paper', ?, 'x')", (stored,))
    g = guard(tmp_path)
    limit, inputs = g.limit(h.intent(), ctx(h, D(10_000)))
    assert limit == D("100.00") and inputs["peak_equity"] == "unreadable"
    g.close()


def test_a_file_that_is_not_a_database_is_a_one_line_config_error(tmp_path):
    (tmp_path / DB_FILE).write_bytes(b"\x1b[2J not sqlite at all" * 100)
    with pytest.raises(ConfigError) as info:
        PeakStore(tmp_path)
    message = str(info.value)
    assert DB_FILE in message and "\n" not in message


def test_the_factory_keeps_peaks_in_the_state_dir_and_writes_nothing_when_checking(h, tmp_path):
    factories = {}
    register_guards(lambda name, factory, **kw: factories.setdefault(name, factory))
    config = AdaptiveNotionalConfig(ceiling=D(1000))
    checking = SimpleNamespace(state_dir=tmp_path / "a", check_only=True, name="", emit=None)
    factories["adaptive_notional"](config, checking).limit(h.intent(), ctx(h, D(10)))
    assert not (tmp_path / "a").exists()
    real = SimpleNamespace(state_dir=tmp_path / "b", check_only=False, name="", emit=None)
    g = factories["adaptive_notional"](config, real)
    g.limit(h.intent(), ctx(h, D(10)))
    g.close()
    assert (tmp_path / "b" / DB_FILE).is_file()
