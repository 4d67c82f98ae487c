"""Shared fixtures for the notification tests: settings with a private state dir and
tiny retry backoffs (on the SQLite store, or on each store for a module that asks with
``store_toml = any_store``), and simple in-process notifiers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tradekernel.api import DeliveryResult, Notification, Settings

TINY_RETRY = """
[notify.retry]
max_attempts = 3
backoff_base = "1ms"
backoff_max = "5ms"
retry_after_cap = "2s"
"""


def with_store(toml: str, store: str) -> str:
    """``toml`` with ``store`` (a ``[components] store`` and ``[store]`` table, as
    :func:`store_config` gives) merged in: one ``[components]`` table."""
    if not store:
        return toml
    components, rest = store.split("\n", 1)
    if "[components]\n" in toml:
        return toml.replace("[components]\n", f"[components]\n{components}\n", 1) + rest
    return f"{toml}\n[components]\n{components}\n{rest}"


def store_config(kind: str, url: str | None = None) -> str:
    """The configuration lines selecting the store ``kind`` (``""`` for the default)."""
    if kind == "sqlite":
        return ""
    return f'store = "{kind}"\n[store]\nurl = "{url}"\n'


def load_settings(
    tmp_path: Path,
    toml: str = "",
    environ: dict | None = None,
    *,
    store: str = "",
    state: str = "state",
) -> Settings:
    """Settings from ``toml`` (plus tiny retry backoffs, and the ``store`` lines of
    :func:`store_config`) with state in ``tmp_path / state``; the file is
    ``tmp_path / plugins.toml`` (``plugins-<state>.toml`` for another state)."""
    name = "plugins.toml" if state == "state" else f"plugins-{state}.toml"
    path = tmp_path / name
    head = f'[kernel]\nstate_dir = "{tmp_path / state}"\n\n'
    body = toml if "[notify.retry]" in toml else toml + TINY_RETRY
    path.write_text(head + with_store(body, store), encoding="utf-8")
    overrides = {} if "metrics_sinks" in toml else {"components.metrics_sinks": []}
    return Settings.load(path, environ=environ or {}, overrides=overrides)


class Recording:
    """A notifier that records what it sends and answers with ``result``."""

    def __init__(self, result: DeliveryResult | None = None) -> None:
        self.sent: list[Notification] = []
        self.result = result or DeliveryResult(ok=True, status="sent")

    def send(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        return self.result


class Hanging:
    """A notifier that never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def send(self, notification: Notification) -> DeliveryResult:
        self.calls += 1
        self.release.wait(30)
        return DeliveryResult(ok=True, status="sent")


class Raising:
    """A notifier that breaks the contract and raises."""

    def send(self, notification: Notification) -> DeliveryResult:
        raise RuntimeError("boom")


@pytest.fixture
def store_toml() -> str:
    """The store the settings select: the default SQLite store (a module overrides it
    with :func:`any_store` to run on each store)."""
    return ""


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request) -> str:
    """Each store in turn, as configuration lines (PostgreSQL: a fresh database on the
    session's cluster)."""
    if request.param == "postgres":
        return store_config("postgres", request.getfixturevalue("postgres_url"))
    return store_config("sqlite")


@pytest.fixture
def settings(tmp_path: Path, store_toml: str) -> Settings:
    return load_settings(tmp_path, store=store_toml)


class _Kit:
    Recording = Recording
    Hanging = Hanging
    Raising = Raising


@pytest.fixture
def kit() -> type[_Kit]:
    """The test notifier classes (Recording, Hanging, Raising)."""
    return _Kit


@pytest.fixture
def make_settings(tmp_path: Path, store_toml: str):
    """``make_settings(toml="", environ=None, state="state")``: settings with state in
    ``tmp_path / state``, on the store of ``store_toml``."""

    def make(toml: str = "", environ: dict | None = None, state: str = "state") -> Settings:
        return load_settings(tmp_path, toml, environ, store=store_toml, state=state)

    return make
