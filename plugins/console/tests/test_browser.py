"""A person in a real browser: Playwright drives Debian's chromium (headless) against
``tradekernel console`` serving the state of a real manual-mode run on 127.0.0.1.

Log in with the start token, see the pending intents, approve one by clicking, see the
journal row with the console user as actor; a second tab still showing the intent
gets the 409 message. The pending page's screenshot is kept in
``build/test-artifacts/console-pending.png``.

Chromium is installed when missing (``apt-get``, as root); the test skips, saying why,
only when that is impossible.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tradekernel.api import Store

from .conftest import load

ARTIFACTS = Path(__file__).resolve().parents[3] / "build" / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def chromium() -> str:
    """Debian's chromium; installed once when missing and possible, else the test skips."""
    for path in ("/usr/bin/chromium", shutil.which("chromium"), "/usr/bin/chromium-browser"):
        if path and os.access(path, os.X_OK):
            return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be (needs apt-get as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"chromium could not be installed: {' '.join(cmd)}: {done.stderr[-300:]}")
    return "/usr/bin/chromium"


@pytest.fixture
def server(config):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekernel", "--config", str(config), "console", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", proc.stdout.readline()).group(1)
        token = proc.stdout.readline().rsplit(" ", 1)[-1].strip()
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_log_in_approve_and_a_stale_tab(config, server, tmp_path):
    binary = chromium()
    from playwright.sync_api import sync_playwright

    url, token = server
    settings = load(config)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=binary, headless=True, args=FLAGS
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            # the statuses themselves (403 before login, 409 for the stale tab) are asserted
            status = "Failed to load resource: the server responded with a status of"
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{url}/pending")
            assert "log in" in page.inner_text("main")  # 403 without a session
            page.goto(f"{url}/login")
            page.fill("input[name=name]", "ann")
            page.fill("input[name=password]", token)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            assert page.url == f"{url}/pending", page.content()
            cards = page.locator("article.intent")
            assert cards.count() > 0
            intent = cards.first.get_attribute("data-intent")
            assert "max_order_notional" in cards.first.inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "console-pending.png"), full_page=False)

            stale = browser.new_page()  # same session, still showing the pending intent
            stale.goto(f"{url}/intents/{intent}")
            assert stale.locator("[data-state]").inner_text() == "pending_approval"

            card = page.locator(f'article[data-intent="{intent}"]')
            card.locator("input[name=reason]").fill("checked the chart")
            card.locator("[data-approve]").click()
            page.wait_for_url(f"{url}/intents/{intent}")
            assert page.locator("[data-done]").inner_text() == "approved by ann"
            assert page.locator("[data-state]").inner_text() == "approved"
            last = page.locator("tr[data-journal-row]").last
            assert "approved" in last.inner_text() and "checked the chart" in last.inner_text()
            assert last.locator("[data-actor]").inner_text() == "ann"

            with stale.expect_response(lambda r: r.url.endswith("/approve")) as answer:
                stale.locator("[data-approve]").click()
            assert answer.value.status == 409
            assert "nothing was changed" in stale.locator("[data-message]").inner_text()
        finally:
            browser.close()
    problems = [p for p in problems if not p.startswith(status)]
    assert not problems, problems  # no script error, no CSP violation, nothing missing

    with Store.open(settings.state_dir, create=False) as store:
        rows = store.journal_rows(intent)
        assert store.verify_journal().ok
    decisions = [r for r in rows if r.to_state in ("approved", "rejected")]
    assert [(r.actor, r.to_state) for r in decisions] == [("ann", "approved")]
