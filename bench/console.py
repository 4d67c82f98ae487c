"""The approval console (``tradekernel-console``): time to render the pending page with
100 and 1,000 pending intents against the floor of computing the same previews without
HTML; approve round trips per second through the console (login session, CSRF, the
version's compare-and-set, the redirect) against ``ApprovalService.approve`` called
directly on a store opened and closed per decision, as ``intents approve`` does (closing
writes the fsynced journal anchor, most of a decision's cost); and the time from
``tradekernel console`` to a served login page against ``tradekernel --version``."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "manual"
approval_ttl = "3650d"

[components]
metrics_sinks = []
notifiers = []
"""
TOKEN = "bench-token-0123456789abcdef"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _settings(root: Path):
    from tradekernel.api import Settings, Store

    config = root / "plugins.toml"
    config.write_text(CONFIG.format(state=root / "state"), encoding="utf-8")
    settings = Settings.load(config, environ={})
    Store.open(settings.state_dir).close()  # a console serves an existing state
    return settings, config


def _pending(settings, n: int) -> list[str]:
    from tradekernel.api import ApprovalService, GuardVerdict, Intent, Store

    ids = []
    with Store.open(settings.state_dir) as store:
        service = ApprovalService(store, settings)
        for i in range(n):
            intent = Intent.create(
                symbol=f"S{i % 50:02d}",
                side="buy",
                quantity=i + 1,
                strategist="bench",
                rationale=f"bench intent {i} <with> some & text",
            )
            store.add_intent(intent, cycle_id="bench", broker="paper")
            service.submit(intent.id, [GuardVerdict.allowed("max_order_notional")])
            ids.append(intent.id)
    return ids


def _client(settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
        from tradekernel_console import build_app

        client = TestClient(build_app(settings, token=TOKEN), base_url="http://127.0.0.1")
    client.__enter__()
    login = client.get("/login")
    client.post(
        "/login",
        data={"csrf": CSRF.search(login.text).group(1), "name": "bench", "password": TOKEN},
    )
    return client


def _median(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _render_rows() -> list[dict]:
    from tradekernel.api import ApprovalService, Store

    rows = []
    for n, repeat in ((100, 7), (1000, 3)):
        with tempfile.TemporaryDirectory() as tmp:
            settings, _ = _settings(Path(tmp))
            _pending(settings, n)
            client = _client(settings)
            try:
                page = client.get("/pending")
                assert page.text.count("data-intent=") == n, "the page lost intents"
                value = _median(lambda c=client: c.get("/pending"), repeat)
            finally:
                client.__exit__(None, None, None)

            def floor(settings=settings) -> None:
                with Store.open(settings.state_dir) as store:
                    service = ApprovalService(store, settings)
                    for r in store.list_intents(state="pending_approval"):
                        service.preview(r.id)

            peer = _median(floor, repeat)
        rows.append(
            {
                "figure": f"console pending page, {n:,} pending intents",
                "value": round(value * 1e3, 1),
                "unit": "ms",
                "peer": "the same previews without HTML (ApprovalService.preview)",
                "peer_value": round(peer * 1e3, 1),
            }
        )
    return rows


def _approve_row(n: int = 100) -> dict:
    from tradekernel.api import ApprovalService, Store

    with tempfile.TemporaryDirectory() as tmp:
        settings, _ = _settings(Path(tmp))
        ids = _pending(settings, 2 * n)
        client = _client(settings)
        try:
            csrf = CSRF.search(client.get("/control").text).group(1)
            started = time.perf_counter()
            for intent in ids[:n]:
                reply = client.post(
                    f"/intents/{intent}/approve",
                    data={"csrf": csrf, "version": "2", "reason": "bench"},
                    follow_redirects=False,
                )
                assert reply.status_code == 303, reply.text[-300:]
            console = n / (time.perf_counter() - started)
        finally:
            client.__exit__(None, None, None)
        started = time.perf_counter()
        for intent in ids[n:]:  # what `intents approve` does, without the process start
            with Store.open(settings.state_dir) as store:
                ApprovalService(store, settings).approve(
                    intent, "bench", "bench", expected_version=2
                )
        direct = n / (time.perf_counter() - started)
    return {
        "figure": "console approve round trips/s (POST, CAS on the version, redirect)",
        "value": round(console, 1),
        "unit": "approvals/s",
        "peer": "ApprovalService.approve, a store opened and closed for each (the CLI's floor)",
        "peer_value": round(direct, 1),
    }


def _startup_row(runs: int = 5) -> dict:
    tk = str(Path(sys.executable).with_name("tradekernel"))
    with tempfile.TemporaryDirectory() as tmp:
        _, config = _settings(Path(tmp))

        def start() -> None:
            proc = subprocess.Popen(
                [tk, "--config", str(config), "console", "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                url = re.search(r"(http://\S+)", proc.stdout.readline()).group(1)
                for _ in range(500):
                    try:
                        if httpx.get(url + "login", timeout=5).status_code == 200:
                            return
                    except httpx.TransportError:
                        time.sleep(0.005)
                raise RuntimeError("the console never answered")
            finally:
                proc.terminate()
                proc.wait(timeout=30)

        def version() -> None:
            subprocess.run([tk, "--version"], check=True, stdout=subprocess.DEVNULL)

        start()  # warm-up: bytecode, the plugin manifest
        value = _median(start, runs)
        peer = _median(version, runs)
    return {
        "figure": "tradekernel console start to a served login page",
        "value": round(value * 1e3, 1),
        "unit": "ms",
        "peer": f"tradekernel --version (median of {runs})",
        "peer_value": round(peer * 1e3, 1),
    }


def run() -> list[dict]:
    return [*_render_rows(), _approve_row(), _startup_row()]


if __name__ == "__main__":
    for row in run():
        print(row)
