"""Shared fixtures for the notification tests: settings with a private state dir and
tiny retry backoffs, and simple in-process notifiers."""

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


def load_settings(tmp_path: Path, toml: str = "", environ: dict | None = None) -> Settings:
    """Settings from ``toml`` (plus tiny retry backoffs) with state in ``tmp_path``."""
    path = tmp_path / "plugins.toml"
    head = f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
    body = toml if "[notify.retry]" in toml else toml + TINY_RETRY
    path.write_text(head + body, encoding="utf-8")
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
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path)


class _Kit:
    Recording = Recording
    Hanging = Hanging
    Raising = Raising


@pytest.fixture
def kit() -> type[_Kit]:
    """The test notifier classes (Recording, Hanging, Raising)."""
    return _Kit


@pytest.fixture
def make_settings(tmp_path: Path):
    """``make_settings(toml="", environ=None)``: settings with state in ``tmp_path``."""

    def make(toml: str = "", environ: dict | None = None) -> Settings:
        return load_settings(tmp_path, toml, environ)

    return make
