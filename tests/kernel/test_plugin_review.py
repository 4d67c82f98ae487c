"""The lazy plugin registry against an adversarial review: observers a manifest hides,
two distributions with one entry-point name, clashes the manifest cannot hide, secrets
in load errors, command clashes, install hints and API version ranges."""

from __future__ import annotations

import json
import sys

import pytest

SECRET = "sk-or-SECRET-1234567890abcdef"

LEAKY_REPORT = """
import os
raise ImportError("report needs 'jinja9' (token=%s)" % os.environ.get("OPENROUTER_API_KEY"))
"""

SECRET_CONFIG = """
[llm_provider.openrouter]
api_key_env = "OPENROUTER_API_KEY"
model = "openai/gpt-4o-mini"
"""


# -- H4: a configured secret in a plugin's load error is never printed ----------------------


def test_a_secret_in_a_load_error_is_masked_everywhere(tk, dists, tmp_path):
    # The installed tradekernel-report entry point now imports a module that fails,
    # quoting a configured secret.
    (dists.root / "tradekernel_report.py").write_text(LEAKY_REPORT)
    (tmp_path / "plugins.toml").write_text(SECRET_CONFIG)
    env = {"OPENROUTER_API_KEY": SECRET}
    refused = tk("report", pythonpath=dists.root, env=env)
    assert refused.returncode == 2, refused.stderr
    assert "failed to load" in refused.stderr and SECRET not in refused.stderr
    verbose = tk("-v", "report", pythonpath=dists.root, env=env)
    assert "failed to load" in verbose.stderr and SECRET[:12] not in verbose.stderr
    listed = tk("plugins", "list", pythonpath=dists.root, env=env)
    assert "token=" in listed.stdout and SECRET[:12] not in listed.stdout + listed.stderr
    as_json = tk("plugins", "list", "--json", pythonpath=dists.root, env=env)
    errors = [i["error"] for i in json.loads(as_json.stdout) if i["error"]]
    assert any("token=" in e for e in errors) and not any(SECRET[:12] in e for e in errors)


def test_the_registry_masks_what_it_stores(dists, uid):
    from tradekernel.plugins import PluginRegistry

    dists.add("tk-leaky", f"tk_leaky_{uid}", f"raise ImportError('token={SECRET}')")
    registry = PluginRegistry(
        entry_points=dists.entry_points(),
        defaults=(),
        redact=lambda text: text.replace(SECRET, "********"),
    ).load()
    (info,) = registry.infos
    assert info.status == "error" and "token=********" in info.error


# -- L2: partial versions mean the same thing whatever the operator; ~= ----------------------


@pytest.mark.parametrize(
    ("declared", "ok"),
    [
        ("==1", True),
        ("<=1", True),  # any 1.x, as ==1 is (not <=1.0)
        ("<=1.0", False),
        (">1", False),  # above major 1: 2.0 and later
        (">=1", True),
        ("<2", True),
        ("!=1", False),
        ("~=1.2", True),
        ("~=1.3", True),
        ("~=1.4", False),
        ("~=0.9", False),  # another major
    ],
)
def test_partial_versions_compare_on_the_major_whatever_the_operator(declared, ok):
    from tradekernel.plugins import api_problem

    assert (api_problem(declared, "1.3") is None) == ok


def test_a_compatible_release_without_a_minor_is_refused_clearly():
    from tradekernel.plugins import api_problem

    assert "~= needs MAJOR.MINOR" in api_problem("~=1", "1.3")


# -- M3: a command two plugins add runs neither ---------------------------------------------

SQUAT = """
import click
from tradekernel import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command("report")
    def report():
        click.echo("SQUATTED REPORT")
"""


def test_a_command_two_plugins_add_is_refused_naming_both(tk, dists, uid):
    dists.add("tk-squat", f"tk_squat_{uid}", SQUAT)
    for _ in range(2):  # cold, then with the manifest written
        result = tk("report", "--help", pythonpath=dists.root)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "SQUATTED" not in result.stdout
        assert "'report' command is added by two plugins" in result.stderr
        assert "report" in result.stderr and "tk-squat" in result.stderr
    listed = tk("plugins", "list", pythonpath=dists.root)
    assert listed.stdout.count("conflicts:  command:report") == 2, listed.stdout


# -- M4: a plugin whose register_commands fails is named with the reason ---------------------

BROKEN_OPS = """
from tradekernel import hookimpl


@hookimpl
def register_commands(cli):
    raise ModuleNotFoundError("No module named 'croniter'")
"""


def test_a_failing_register_commands_is_named_not_pip_install(tk, dists):
    (dists.root / "tradekernel_ops.py").write_text(BROKEN_OPS)
    result = tk("ops", pythonpath=dists.root)
    assert result.returncode == 2
    assert "whose register_commands failed" in result.stderr
    assert "No module named 'croniter'" in result.stderr
    assert "pip install tradekernel-ops" not in result.stderr


# -- L1: install hints come from fresh entries or the plugin itself --------------------------

HINTED = """
from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("h", lambda config, ctx: None, install="pip install 'tk-hinty[old]'")
"""


def test_a_stale_entry_gives_no_install_hint(dists, uid, tmp_path):
    from tradekernel.errors import PluginError
    from tradekernel.plugins import PluginRegistry

    module = f"tk_hinty_{uid}"
    dists.add("tk-hinty", module, HINTED)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "cache" / "plugins.json"

    def build() -> PluginRegistry:
        return PluginRegistry(entry_points=dists.entry_points(), defaults=(), manifest=path)

    assert build().spec("guard", "h").install == "pip install 'tk-hinty[old]'"
    (dists.root / f"{module}.py").write_text("raise ImportError('needs something else now')\n")
    dists.forget()
    for _ in range(2):  # the stale entry, then the failed one written over it
        with pytest.raises(PluginError, match="failed to load") as raised:
            build().spec("guard", "h")
        assert "tk-hinty[old]" not in str(raised.value)


# -- H1: the stamp covers the whole package, the record and every installed distribution -----

PACKAGE_INIT = """
from .impl import *  # noqa: F403 (its hooks live in the submodule)
"""

PACKAGE_IMPL = """
from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("pg", lambda config, ctx: None)
"""

LATER_OBSERVER = """

@hookimpl
def on_event(event):
    pass
"""


@pytest.fixture
def packaged(dists, uid, tmp_path):
    """Plugin ``tk-pkg``, a package whose hooks live in a submodule, and a registry
    builder over a manifest warmed with it."""
    package = f"tk_pkg_{uid}"
    dists.add("tk-pkg", package, "")
    (dists.root / f"{package}.py").unlink()
    (dists.root / package).mkdir()
    (dists.root / package / "__init__.py").write_text(PACKAGE_INIT)
    (dists.root / package / "impl.py").write_text(PACKAGE_IMPL)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "cache" / "plugins.json"

    def build():
        from tradekernel.plugins import PluginRegistry

        return PluginRegistry(entry_points=dists.entry_points(), defaults=(), manifest=path).load()

    assert build().pm.get_plugin("tk-pkg") is not None  # cold
    _forget(package)
    assert build().pm.get_plugin("tk-pkg") is None  # warm: deferred
    build.package = dists.root / package
    return build


def test_a_hook_added_in_a_submodule_makes_the_entry_stale(packaged):
    impl = packaged.package / "impl.py"
    impl.write_text(impl.read_text() + LATER_OBSERVER)
    _forget(packaged.package.name)
    registry = packaged()
    assert registry.pm.get_plugin("tk-pkg") is not None  # an observer now: imported
    assert "on_event" in next(i for i in registry.infos if i.name == "tk-pkg").hooks


def test_installing_any_distribution_makes_every_entry_stale(packaged, dists):
    info = dists.root / "some_optional_dep-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: some-optional-dep\nVersion: 2.0\n")
    assert packaged().pm.get_plugin("tk-pkg") is not None


# -- H3: a guard clash is not hidden by an entry that no longer describes its plugin --------

OTHER_GUARD = """
from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("other", lambda config, ctx: None)
"""

CLASHING_GUARD = (
    OTHER_GUARD
    + """
    register("g", lambda config, ctx: None)
"""
)


GUARD_G = """
from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("g", lambda config, ctx: None)
"""


def test_a_plugin_changed_since_load_is_imported_before_a_guard_is_built(dists, uid, tmp_path):
    from tradekernel.errors import PluginError
    from tradekernel.plugins import PluginRegistry

    module = f"tk_other_{uid}"
    dists.add("tk-g", f"tk_g_{uid}", GUARD_G)
    dists.add("tk-other", module, OTHER_GUARD)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "cache" / "plugins.json"

    def lazy() -> PluginRegistry:
        return PluginRegistry(entry_points=dists.entry_points(), defaults=(), manifest=path).load()

    lazy()  # warm for both
    dists.forget()
    registry = lazy()
    assert registry.pm.get_plugin("tk-other") is None  # fresh, no guard g: deferred
    (dists.root / f"{module}.py").write_text(CLASHING_GUARD)  # now registers g too
    with pytest.raises(PluginError, match="guard:g is registered twice"):
        registry.spec("guard", "g")


# -- H2: two distributions with one entry-point name both load; what both register clashes --

DUP_A = """
from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("same", lambda config, ctx: None)
    register("only_{tag}", lambda config, ctx: None)
"""


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_one_entry_point_name_in_two_distributions_is_a_clash(dists, uid, tmp_path, lazy):
    from tradekernel.errors import PluginError
    from tradekernel.plugins import PluginRegistry

    for tag in ("a", "b"):
        dists.add(f"tk-dup-{tag}", f"tk_dup_{tag}_{uid}", DUP_A.format(tag=tag), ep_name="dup")
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "cache" / "plugins.json" if lazy else None

    def build() -> PluginRegistry:
        dists.forget()  # as a new process: lazy loading defers what is fresh
        return PluginRegistry(entry_points=dists.entry_points(), defaults=(), manifest=path).load()

    build()  # cold (warms the manifest when lazy)
    for _ in range(2):
        registry = build()
        assert lazy == (registry.pm.get_plugin("tk-dup-b:dup") is None)
        assert registry.spec("guard", "only_a").distribution == "tk-dup-a"
        assert registry.spec("guard", "only_b").distribution == "tk-dup-b"
        with pytest.raises(PluginError, match="guard:same is registered twice"):
            registry.spec("guard", "same")
    listed = {i.distribution: i for i in build().listing()}
    assert {i.status for i in listed.values()} == {"enabled"}
    assert all("entry-point:dup" in i.conflicts for i in listed.values())


def test_plugins_list_shows_an_entry_point_name_clash(tk, dists, uid):
    for tag in ("a", "b"):
        dists.add(f"tk-dup-{tag}", f"tk_dup_{tag}_{uid}", DUP_A.format(tag=tag), ep_name="dup")
    listed = tk("plugins", "list", pythonpath=dists.root)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("conflicts:  entry-point:dup") == 2
    assert "tk-dup-a:dup  (tk-dup-a 1.0)  [enabled]" in listed.stdout


# -- H1: a plugin imported for any reason is checked against its entry ----------------------

OBSERVER_GUARD = """
from tradekernel import hookimpl


@hookimpl
def register_guards(register):
    register("watched", lambda config, ctx: None)


@hookimpl
def on_event(event):
    pass
"""


def test_an_entry_hiding_observer_hooks_is_corrected_once_the_module_is_imported(
    dists, uid, tmp_path
):
    import importlib

    from tradekernel import __version__, plugin_manifest
    from tradekernel.plugins import PluginRegistry

    module = f"tk_watch_{uid}"
    dists.add("tk-watch", module, OBSERVER_GUARD)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "cache" / "plugins.json"

    def build() -> PluginRegistry:
        return PluginRegistry(entry_points=dists.entry_points(), defaults=(), manifest=path).load()

    build()
    data = json.loads(path.read_text())
    data["entries"]["tk-watch"]["hooks"] = ["register_guards"]  # on_event hidden
    path.write_text(json.dumps(data))
    dists.forget()
    assert build().pm.get_plugin("tk-watch") is None  # believed: deferred, observer off
    importlib.import_module(module)  # imported for another reason (a dependent plugin)
    registry = build()
    assert registry.pm.get_plugin("tk-watch") is not None
    assert registry.observers("on_event")
    entry = plugin_manifest.read(path, __version__)["tk-watch"]
    assert "on_event" in entry["hooks"]  # corrected


def _forget(package: str) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == package]:
        del sys.modules[name]
