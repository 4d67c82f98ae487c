"""A state with pending intents from a real manual-mode paper run, and a logged-in
console on it through Starlette's TestClient."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import (
    ApprovalService,
    GuardVerdict,
    Intent,
    Kernel,
    PluginRegistry,
    Runtime,
    Settings,
    Store,
    run_cycles,
)

RUN = """
[kernel]
state_dir = "{state_dir}"
approval_mode = "manual"
approval_ttl = "3650d"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = 60

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 100000

[broker.paper]
cash = 100000
{extra}"""

TOKEN = "start-token-0123456789abcdef"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def write_config(directory: Path, extra: str = "") -> Path:
    path = directory / "plugins.toml"
    path.write_text(RUN.format(state_dir=directory / "state", extra=extra), encoding="utf-8")
    return path


def real_run(directory: Path, cycles: int = 60) -> Path:
    """A manual-mode paper run of ``cycles`` cycles: its intents wait for approval."""
    config = write_config(directory)
    settings = Settings.load(config, environ={})
    kernel = Kernel(settings, PluginRegistry(block=settings.plugins.block).load())
    try:
        with Runtime(kernel) as runtime:
            run_cycles(runtime, cycles=cycles)
    finally:
        kernel.close()
    return config


@pytest.fixture(scope="session")
def run_template(tmp_path_factory) -> Path:
    return real_run(tmp_path_factory.mktemp("console-run"))


@pytest.fixture
def config(run_template, tmp_path) -> Path:
    """A private copy of the run's state and its configuration."""
    shutil.copytree(run_template.parent / "state", tmp_path / "state")
    return write_config(tmp_path)


def load(config: Path, environ: dict[str, str] | None = None) -> Any:
    return Settings.load(config, environ=environ or {})


def add_pending(settings: Any, *, rationale: str = "", symbol: str = "AAA", n: int = 1) -> list:
    """``n`` pending intents with this rationale, through the store and the approval gate."""
    ids = []
    with Store.open(settings.state_dir, redact=settings.redact) as store:
        service = ApprovalService(store, settings)
        for i in range(n):
            intent = Intent.create(
                symbol=symbol, side="buy", quantity=i + 1, strategist="tester", rationale=rationale
            )
            store.add_intent(intent, cycle_id="cyc_test", broker="paper")
            service.submit(intent.id, [GuardVerdict.allowed("max_order_notional")])
            ids.append(intent.id)
    return ids


class Client:
    """A TestClient of a console app, with helpers to log in and post forms."""

    def __init__(self, app: Any) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette suggests httpx2; httpx works
            from starlette.testclient import TestClient

            self.http = TestClient(app, base_url="http://127.0.0.1:8765")
        self.http.__enter__()
        self.csrf = ""

    def login(self, name: str = "ann", password: str = TOKEN) -> Any:
        page = self.http.get("/login")
        token = CSRF.search(page.text).group(1)
        reply = self.http.post(
            "/login",
            data={"csrf": token, "name": name, "password": password},
            follow_redirects=False,
        )
        if reply.status_code == 303:
            self.csrf = CSRF.search(self.http.get("/pending").text).group(1)
        return reply

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.http.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)

    def close(self) -> None:
        self.http.__exit__(None, None, None)


@pytest.fixture
def make_client():
    clients: list[Client] = []

    def make(settings: Any, **options: Any) -> Client:
        from tradekernel_console import build_app

        options.setdefault("token", TOKEN)
        client = Client(build_app(settings, **options))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def settings(config) -> Any:
    return load(config)


@pytest.fixture
def client(settings, make_client) -> Client:
    c = make_client(settings)
    assert c.login().status_code == 303
    return c


def pending_ids(settings: Any) -> list[str]:
    with Store.open(settings.state_dir, create=False) as store:
        return [r.id for r in store.list_intents(state="pending_approval")]


def version_of(settings: Any, intent_id: str) -> int:
    with Store.open(settings.state_dir, create=False) as store:
        return store.get(intent_id).version
