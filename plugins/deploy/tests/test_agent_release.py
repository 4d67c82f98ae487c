"""A running agent applies an activation at a cycle boundary, never within a cycle, and
runs the active release's configuration rather than the file's."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradekernel import hookimpl
from tradekernel.api import RefusedError, Runtime, Store, active_release
from tradekernel_deploy import activation, releases

ENV = {"TK_DEPLOY_TEST_KEY": "0123456789abcdef0123456789abcdef"}
PAPER = """[kernel]
state_dir = "{state_dir}"

[components]
strategist = "sma-cross"

[audit]
hmac_key_env = "TK_DEPLOY_TEST_KEY"

[runtime]
watchlist = ["AAA"]
"""


class Activator:
    """Activates ``release`` the first time a cycle's hydrate node reports: mid-cycle."""

    def __init__(self) -> None:
        self.release: str | None = None
        self.settings = None
        self.done_in: str | None = None

    @hookimpl
    def on_event(self, event):
        if self.release and self.done_in is None and event.stage == "hydrate":
            with Store.open(self.settings.state_dir) as store:
                activation.activate(self.settings, store, self.release, actor="alice")
            self.done_in = event.cycle_id


def _ends(recorder) -> list[str]:
    return [e.fields.get("reason") for e in recorder.of("commander", "end")]


def test_an_activation_applies_at_the_next_cycle_boundary(kernel_factory):
    activator = Activator()
    kernel, recorder = kernel_factory.build(PAPER, plugins=[(activator, "activator")], environ=ENV)
    release, _ = releases.create(kernel)
    with Runtime(kernel, follow_release=True) as runtime:
        runtime.start()
        activator.release, activator.settings = release.id, kernel.settings
        first = runtime.run_cycle()
        assert activator.done_in == first.cycle_id  # activated within this cycle ...
        assert runtime.release_changed is None and not runtime.stop_requested
        assert _ends(recorder)[-1] == "cycle complete"  # ... which still ran to its end
        runtime.run_cycle()
        assert runtime.release_changed == release.id and runtime.stop_requested
        assert _ends(recorder)[-1] == f"release {release.id} activated"
    with pytest.raises(RefusedError, match=f"release {release.id} is active"):
        Runtime(kernel, follow_release=True)
    with Runtime(kernel, follow_release=True, release=release.id) as runtime:
        assert runtime.release == release.id


def test_run_uses_the_active_release_not_the_edited_file(cli, write_config, state_dir: Path):
    created = cli("release", "create", "--json")
    assert created.exit_code == 0, created.stderr
    rid = created.stdout.split('"id": "')[1][:16]
    assert cli("release", "activate", rid).exit_code == 0
    write_config(watchlist=("BBB",))  # edited after the release: not what runs
    result = cli("run", "--cycles", "2", "-q")
    assert result.exit_code == 0, result.stderr
    events = "".join(p.read_text() for p in (state_dir / "events").glob("*.jsonl"))
    assert '"AAA"' in events and '"BBB"' not in events
    with Store.open(state_dir) as store:
        assert active_release(store) == rid


def test_run_refuses_a_release_that_no_longer_verifies(cli, state_dir: Path):
    rid = cli("release", "create", "--json").stdout.split('"id": "')[1][:16]
    assert cli("release", "activate", rid).exit_code == 0
    config = state_dir / "releases" / rid / "plugins.toml"
    config.write_text(config.read_text().replace("AAA", "ZZZ"))
    result = cli("run", "--once")
    assert result.exit_code == 3 and "does not match the signed bundle" in result.stderr
