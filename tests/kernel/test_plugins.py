"""Plugin discovery through real installed distributions (the ``tradekernel`` entry-point
group): listing, blocking, broken imports, invalid hook implementations, duplicates,
observer hooks and plugin commands."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest
from tradekernel.components import GuardContext
from tradekernel.errors import PluginError
from tradekernel.kernel import Kernel
from tradekernel.models import Intent, IntentTransition
from tradekernel.plugins import PluginRegistry
from tradekernel.settings import Settings

CONTRIB_DIST = "tradekernel-contrib-symbol-blocklist"

BROKEN = """
import tk_no_such_dependency_xyz  # fails at import
"""

VALID_GUARD = """
from tradekernel import hookimpl
from tradekernel.models import GuardVerdict


class AllowAll:
    def check(self, intent, ctx):
        return GuardVerdict.allowed("{name}")


@hookimpl
def register_guards(register):
    register("{name}", lambda config, ctx: AllowAll())
"""

UNKNOWN_HOOK = """
from tradekernel import hookimpl


@hookimpl
def register_gaurds(register):
    pass
"""

WRONG_ARGS = """
from tradekernel import hookimpl


@hookimpl
def register_guards(reg):
    pass
"""


def NO_SINKS() -> Settings:
    return Settings.load(environ={"TRADEKERNEL_COMPONENTS__METRICS_SINKS": "[]"})


def _guard_ctx() -> GuardContext:
    return GuardContext(as_of=None, quote=None, positions={}, account=None)


def _by_name(infos: list[dict]) -> dict[str, dict]:
    return {info["name"]: info for info in infos}


# -- the contrib plugin, installed in the venv --------------------------------------------


def test_contrib_plugin_is_an_installed_entry_point() -> None:
    eps = [ep for ep in entry_points(group="tradekernel") if ep.name == "symbol-blocklist"]
    assert len(eps) == 1
    assert eps[0].value == "tradekernel_symbol_blocklist"
    assert eps[0].dist is not None and eps[0].dist.name == CONTRIB_DIST


def test_plugins_list_json_shows_the_contrib_plugin(cli) -> None:
    code, out, _ = cli("plugins", "list", "--json")
    assert code == 0
    info = _by_name(json.loads(out))["symbol-blocklist"]
    assert info["distribution"] == CONTRIB_DIST
    assert info["version"] == "0.1.0"
    assert info["status"] == "enabled"
    assert info["components"] == [
        {
            "kind": "guard",
            "name": "symbol_blocklist",
            "version": "1",
            "description": "Deny intents for listed symbols.",
        }
    ]
    assert {"register_guards", "on_event", "on_intent_transition", "register_commands"} <= set(
        info["hooks"]
    )
    assert info["error"] is None


def test_plugins_list_text(cli) -> None:
    code, out, _ = cli("plugins", "list")
    assert code == 0
    assert f"symbol-blocklist  ({CONTRIB_DIST} 0.1.0)  [enabled]" in out
    assert "components: guard:symbol_blocklist (version 1)  Deny intents for listed symbols." in out
    assert "observes:   on_event, on_intent_transition" in out
    assert "tradekernel.defaults.scanner" in out and "[default]" in out


def test_contrib_guard_through_the_kernel(contrib_registry, tmp_path) -> None:
    (tmp_path / "plugins.toml").write_text(
        '[components]\nguards = ["symbol_blocklist"]\n'
        '[guard.symbol_blocklist]\nsymbols = ["gme", "AMC"]\nreason = "meme stock"\n'
    )
    kernel = Kernel(Settings.load(environ={}), contrib_registry())
    guard = kernel.component("guard", "symbol_blocklist")
    assert kernel.components("guard") == [("symbol_blocklist", guard)]

    denied = guard.check(Intent.create(symbol="GME", side="buy", quantity=1), _guard_ctx())
    assert (denied.allow, denied.guard, denied.code) == (
        False,
        "symbol_blocklist",
        "symbol_blocked",
    )
    assert "meme stock" in denied.detail
    allowed = guard.check(Intent.create(symbol="AAA", side="buy", quantity=1), _guard_ctx())
    assert allowed.allow and allowed.code == "ok"


def test_contrib_observers_are_called(contrib_registry) -> None:
    import tradekernel_symbol_blocklist as plugin

    plugin.stats.reset()
    kernel = Kernel(NO_SINKS(), contrib_registry())
    kernel.emit("scan", "candidates", candidates=["AAA"], count=1)
    kernel.emit("scan", "candidates", candidates=[], count=0)
    kernel.emit("report", "cycle", cycles=1)
    assert plugin.stats.events == {"scan.candidates": 2, "report.cycle": 1}

    transition = IntentTransition(
        intent_id="int_1", from_state="proposed", to_state="approved", actor="op"
    )
    kernel.dispatch_transition(transition)
    assert plugin.stats.transitions == [("int_1", "proposed", "approved")]


def test_a_failing_observer_is_isolated(contrib_registry, dists, uid, capsys) -> None:
    import tradekernel_symbol_blocklist as plugin

    dists.add(
        "tk-raising",
        f"tk_raising_{uid}",
        "from tradekernel import hookimpl\n\n"
        "@hookimpl\ndef on_event(event):\n    raise RuntimeError('observer broke')\n",
    )
    plugin.stats.reset()
    kernel = Kernel(NO_SINKS(), contrib_registry(extra=tuple(dists.entry_points())))
    event = kernel.emit("control", "paused", actor="op")
    assert event.kind == "paused"
    assert plugin.stats.events["control.paused"] == 1
    assert "observer broke" in capsys.readouterr().err


def test_plugin_command_is_added_through_register_commands(cli, tmp_path) -> None:
    (tmp_path / "plugins.toml").write_text(
        '[components]\nguards = ["symbol_blocklist"]\n[guard.symbol_blocklist]\nsymbols = ["gme"]\n'
    )
    code, out, _ = cli("blocklist", "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "active": True,
        "symbols": ["GME"],
        "reason": "symbol is on the blocklist",
    }


def test_a_broken_register_commands_does_not_break_other_commands(cli, dists, uid) -> None:
    dists.add(
        "tk-badcmd",
        f"tk_badcmd_{uid}",
        "from tradekernel import hookimpl\n\n"
        "@hookimpl\ndef register_commands(cli):\n    raise RuntimeError('no commands today')\n",
    )
    code, out, err = cli("blocklist")
    assert code == 0
    assert "symbol_blocklist (not selected" in out
    assert "no commands today" in err


# -- broken, blocked, invalid and duplicate plugins: genuine discovery in a subprocess ----


@pytest.fixture
def bad_site(dists, uid, tmp_path):
    dists.add("tk-broken", f"tk_broken_{uid}", BROKEN)
    dists.add("tk-blocked", f"tk_blocked_{uid}", VALID_GUARD.format(name="blocked_guard"))
    dists.add("tk-unknown-hook", f"tk_unknown_hook_{uid}", UNKNOWN_HOOK)
    dists.add("tk-wrong-args", f"tk_wrong_args_{uid}", WRONG_ARGS)
    dists.add("tk-dup-a", f"tk_dup_a_{uid}", VALID_GUARD.format(name="twin"))
    dists.add("tk-dup-b", f"tk_dup_b_{uid}", VALID_GUARD.format(name="twin"))
    (tmp_path / "plugins.toml").write_text('[plugins]\nblock = ["tk-blocked"]\n')
    return dists.root


def test_plugins_list_reports_every_broken_plugin_without_failing(tk, bad_site) -> None:
    result = tk("plugins", "list", "--json", pythonpath=bad_site)
    assert result.returncode == 0, result.stderr
    infos = _by_name(json.loads(result.stdout))

    assert infos["tk-broken"]["status"] == "error"
    assert "import failed: ModuleNotFoundError" in infos["tk-broken"]["error"]
    assert "tk_no_such_dependency_xyz" in infos["tk-broken"]["error"]

    assert infos["tk-blocked"]["status"] == "blocked"
    assert infos["tk-blocked"]["components"] == []

    assert infos["tk-unknown-hook"]["status"] == "error"
    assert "unknown hook 'register_gaurds'" in infos["tk-unknown-hook"]["error"]

    assert infos["tk-wrong-args"]["status"] == "error"
    assert "invalid hook implementation" in infos["tk-wrong-args"]["error"]
    assert "reg" in infos["tk-wrong-args"]["error"]

    assert infos["tk-dup-a"]["status"] == "enabled"
    assert [c["name"] for c in infos["tk-dup-a"]["components"]] == ["twin"]
    # a clash knocks out the clashing component only: tk-dup-b stays enabled, its
    # guard:twin is listed as a conflict (and selecting it fails closed, below)
    assert infos["tk-dup-b"]["status"] == "enabled"
    assert infos["tk-dup-b"]["conflicts"] == ["guard:twin"]
    assert infos["tk-dup-b"]["error"] is None
    assert "guard:twin is registered twice: by tk-dup-a (tk-dup-a) and by tk-dup-b" in (
        result.stderr
    )

    # the installed contrib plugin is unaffected, and each failure is logged as a warning
    assert infos["symbol-blocklist"]["status"] == "enabled"
    for name in ("tk-broken", "tk-unknown-hook", "tk-wrong-args"):
        assert f"WARNING plugin {name} ({name}) not loaded" in result.stderr

    text = tk("plugins", "list", pythonpath=bad_site)
    assert text.returncode == 0
    assert "tk-broken  (tk-broken 1.0)  [error]" in text.stdout
    assert "tk-blocked  (tk-blocked 1.0)  [blocked]" in text.stdout
    assert "error:      import failed: ModuleNotFoundError" in text.stdout


@pytest.mark.parametrize(
    ("guard", "expected"),
    [
        ("twin", ["guard:twin is registered twice", "(tk-dup-a)", "(tk-dup-b)", "[plugins] block"]),
        ("blocked_guard", ["guard 'blocked_guard' is not available", "blocked", "tk-blocked"]),
        (
            "from_broken",
            ["guard 'from_broken' is not available", "tk-broken", "tk_no_such_dependency_xyz"],
        ),
    ],
)
def test_selecting_an_unavailable_component_stops_config_check(
    cli, bad_site, tmp_path, guard, expected
) -> None:
    (tmp_path / "plugins.toml").write_text(
        f'[plugins]\nblock = ["tk-blocked"]\n[components]\nguards = ["{guard}"]\n'
        'broker = ""\nmarket_data = ""\nstrategist = ""\nskills = []\nrequired_skills = []\n'
        "metrics_sinks = []\n"
    )
    code, out, err = cli("config", "check")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("Error: ")
    for text in expected:
        assert text in lines[-1]


def test_known_component_errors_name_distribution_and_pip(dists, uid) -> None:
    """First-party components: the hint names the distribution and the pip command."""
    missing = PluginRegistry(entry_points=[])
    with pytest.raises(PluginError) as exc:
        missing.spec("broker", "paper")
    assert "broker 'paper' is not available" in str(exc.value)
    assert "pip install tradekernel-paper" in str(exc.value)

    dists.add("tradekernel-paper", f"tk_fake_paper_{uid}", BROKEN, ep_name="paper")
    broken = PluginRegistry(entry_points=dists.entry_points())
    with pytest.raises(PluginError) as exc:
        broken.spec("broker", "paper")
    assert "its plugin paper (tradekernel-paper) failed to load" in str(exc.value)
    assert "tk_no_such_dependency_xyz" in str(exc.value)

    blocked = PluginRegistry(entry_points=dists.entry_points(), block=["tradekernel-paper"])
    with pytest.raises(PluginError, match="tradekernel-paper is blocked in \\[plugins\\] block"):
        blocked.spec("broker", "paper")


@pytest.mark.parametrize("block", ["tk-guarded", "TK_Guarded", "tk.guarded", "guarded-ep"])
def test_block_matches_distribution_or_entry_point_name(dists, uid, block) -> None:
    dists.add(
        "tk-guarded", f"tk_guarded_{uid}", VALID_GUARD.format(name="g1"), ep_name="guarded-ep"
    )
    registry = PluginRegistry(entry_points=dists.entry_points(), block=[block]).load()
    (info,) = [i for i in registry.infos if i.distribution == "tk-guarded"]
    assert info.status == "blocked"
    assert f"tk_guarded_{uid}" not in registry.pm.list_name_plugin()
    assert ("guard", "g1") not in registry.specs


def test_failing_register_hook_drops_the_plugin(dists, uid) -> None:
    dists.add(
        "tk-raises",
        f"tk_raises_{uid}",
        "from tradekernel import hookimpl\n\n"
        "@hookimpl\ndef register_guards(register):\n"
        "    register('half', lambda c, x: None)\n    raise RuntimeError('boom')\n",
    )
    registry = PluginRegistry(entry_points=dists.entry_points()).load()
    (info,) = [i for i in registry.infos if i.distribution == "tk-raises"]
    assert info.status == "error"
    assert info.error == "register_guards failed: RuntimeError: boom"
    assert ("guard", "half") not in registry.specs


def test_a_factory_that_breaks_its_protocol_is_refused(stub_config, dists, uid, cli) -> None:
    dists.add(
        "tk-noproto",
        f"tk_noproto_{uid}",
        "from tradekernel import hookimpl\n\n"
        "@hookimpl\ndef register_guards(register):\n    register('lazy', lambda c, x: object())\n",
    )
    stub_config('guards = ["lazy"]')
    code, _, err = cli("config", "check")
    assert code == 2
    assert "guard:lazy (tk-noproto)" in err
    assert "not a Guard (missing: check)" in err


def test_a_plugin_whose_registration_fails_is_unloaded_whole(tmp_path):
    """Its other components and its observers go too: an `error` plugin runs nothing."""
    from tradekernel import hookimpl
    from tradekernel.testing import KernelFactory

    class HalfBroken:
        seen: list = []

        @hookimpl
        def register_scanners(self, register):
            register("half", lambda config, ctx: object())

        @hookimpl
        def register_guards(self, register):
            raise RuntimeError("boom")

        @hookimpl
        def on_event(self, event):
            self.seen.append(event)

    plugin = HalfBroken()
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build("", plugins=[(plugin, "half-broken")])
        info = next(i for i in kernel.registry.infos if i.name == "half-broken")
        assert info.status == "error" and "boom" in info.error
        assert info.components == [] and ("scanner", "half") not in kernel.registry.specs
        kernel.emit("scan", "candidates", candidates=[], count=0)
        assert plugin.seen == []


def test_events_emitted_from_several_threads_all_reach_the_observers(tmp_path):
    import threading

    from tradekernel.testing import KernelFactory

    with KernelFactory(tmp_path) as factory:
        kernel, recorder = factory.build("[components]\nmetrics_sinks = []\n")

        def emit_many():
            for i in range(300):
                kernel.emit("scan", "candidates", candidates=[], count=i)

        threads = [threading.Thread(target=emit_many) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(recorder.of("scan", "candidates")) == 900
