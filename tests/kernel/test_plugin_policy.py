"""What may load and what a failure says: ``[plugins] load``, name clashes, declared API
ranges, install hints, plugin tracebacks under ``-v`` and commands in ``plugins list``."""

from __future__ import annotations

import json

import pytest
from tradekernel.errors import PluginError
from tradekernel.plugins import KNOWN_COMMANDS, PluginRegistry, api_problem

GUARDS = """
{header}
from tradekernel import hookimpl
from tradekernel.models import GuardVerdict


class AllowAll:
    def check(self, intent, ctx):
        return GuardVerdict.allowed("x")


@hookimpl
def register_guards(register):
{body}
"""


def _guards(*names: str, header: str = "", install: str | None = None) -> str:
    extra = f", install={install!r}" if install else ""
    body = "\n".join(f"    register({n!r}, lambda config, ctx: AllowAll(){extra})" for n in names)
    return GUARDS.format(header=header, body=body or "    pass")


def _infos(registry: PluginRegistry) -> dict:
    return {i.name: i for i in registry.infos}


# -- [plugins] load: an allowlist beside block ----------------------------------------------


def test_load_allowlist_imports_only_the_listed_plugins(dists, uid):
    dists.add("tk-wanted", f"tk_wanted_{uid}", _guards("wanted"))
    dists.add("tk-other", f"tk_other_{uid}", _guards("other"), ep_name="other-ep")
    registry = PluginRegistry(entry_points=dists.entry_points(), allow=["TK_Wanted"]).load()
    infos = _infos(registry)
    assert infos["tk-wanted"].status == "enabled"
    assert (infos["other-ep"].status, infos["other-ep"].error) == (
        "blocked",
        "not listed in [plugins] load",
    )
    assert registry.pm.get_plugin("other-ep") is None
    with pytest.raises(PluginError, match=r"left out of \[plugins\] load: other-ep \(tk-other\)"):
        registry.spec("guard", "other")
    # the entry-point name works too, and the kernel defaults always load
    by_ep = PluginRegistry(entry_points=dists.entry_points(), allow=["other-ep"]).load()
    assert _infos(by_ep)["other-ep"].status == "enabled"
    assert _infos(by_ep)["tradekernel.defaults.scanner"].status == "default"


def test_an_empty_allowlist_loads_no_plugin_and_an_unknown_name_warns(dists, uid, capsys):
    dists.add("tk-any", f"tk_any_{uid}", _guards("any"))
    registry = PluginRegistry(entry_points=dists.entry_points(), allow=[]).load()
    assert _infos(registry)["tk-any"].status == "blocked"
    PluginRegistry(entry_points=dists.entry_points(), allow=["tk-nope"]).load()
    assert "[plugins] load: no installed plugin is named 'tk-nope'" in capsys.readouterr().err


def test_load_allowlist_from_the_config_file(cli, dists, uid, tmp_path):
    dists.add("tk-listed", f"tk_listed_{uid}", _guards("listed"))
    dists.add("tk-unlisted", f"tk_unlisted_{uid}", _guards("unlisted"))
    (tmp_path / "plugins.toml").write_text('[plugins]\nload = ["tk-listed"]\n')
    code, out, _ = cli("plugins", "list", "--json")
    assert code == 0
    infos = {i["name"]: i for i in json.loads(out)}
    assert infos["tk-listed"]["status"] == "enabled"
    assert infos["tk-unlisted"]["status"] == "blocked"
    assert infos["symbol-blocklist"]["error"] == "not listed in [plugins] load"


@pytest.mark.parametrize(
    ("value", "expected"),
    [('"tk-a"', "plugins.toml: [plugins] load"), ('[""]', "an empty name names no plugin")],
)
def test_a_malformed_allowlist_is_a_one_line_config_error(cli, tmp_path, value, expected):
    (tmp_path / "plugins.toml").write_text(f"[plugins]\nload = {value}\n")
    code, out, err = cli("config", "check")
    assert (code, out) == (2, "")
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert expected in err


# -- a clash knocks out the clashing component only ------------------------------------------


def test_a_squatter_knocks_out_only_the_clashing_component(dists, uid):
    dists.add("aaa-dup", f"aaa_dup_{uid}", _guards("x"))
    dists.add("tk-victim", f"tk_victim_{uid}", _guards("x", "y", "z"))
    registry = PluginRegistry(entry_points=dists.entry_points()).load()
    victim = _infos(registry)["tk-victim"]
    assert (victim.status, victim.error) == ("enabled", None)
    assert [c.key for c in victim.components] == ["guard:y", "guard:z"]
    assert victim.conflicts == ["guard:x"]
    assert registry.spec("guard", "y").distribution == "tk-victim"
    with pytest.raises(PluginError, match=r"guard:x is registered twice: by aaa-dup \(aaa-dup\)"):
        registry.spec("guard", "x")


def test_a_clash_still_fails_closed_when_both_are_deferred(dists, uid, tmp_path):
    dists.add("aaa-dup", f"aaa_dup_{uid}", _guards("x"))
    dists.add("tk-victim", f"tk_victim_{uid}", _guards("x", "y"))
    (tmp_path / "state").mkdir()
    manifest = tmp_path / "state" / "cache" / "plugins.json"
    PluginRegistry(entry_points=dists.entry_points(), manifest=manifest).load()
    dists.forget()  # as a new process
    registry = PluginRegistry(entry_points=dists.entry_points(), manifest=manifest).load()
    assert registry.pm.get_plugin("aaa-dup") is None  # deferred
    with pytest.raises(PluginError, match="registered twice"):
        registry.spec("guard", "x")
    assert registry.spec("guard", "y").distribution == "tk-victim"


def test_plugins_list_text_shows_a_conflict(tk, dists, uid):
    dists.add("aaa-dup", f"aaa_dup_{uid}", _guards("x"))
    dists.add("tk-victim", f"tk_victim_{uid}", _guards("x", "y"))
    result = tk("plugins", "list", pythonpath=dists.root)
    assert result.returncode == 0
    assert "conflicts:  guard:x (registered twice: neither loads)" in result.stdout


# -- declared API ranges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "ok"),
    [
        (None, True),
        (">=1.0,<2", True),
        (">=1.0, <2.0", True),
        ("==1", True),
        ("==1.0", True),
        (">1.0", False),
        ("<1", False),
        (">=2", False),
        ("!=1", False),
        ("<=0.9", False),
    ],
)
def test_api_ranges(declared, ok):
    problem = api_problem(declared, "1.0")
    assert (problem is None) == ok
    if not ok:
        assert problem == f"built for tradekernel API {declared} but this kernel provides API 1.0"


@pytest.mark.parametrize("declared", ["1.0", ">=1.0;<2", "~=1", ">=1.x", "", ">=1.0,", ">=1.0.0"])
def test_a_malformed_api_range_is_refused(declared):
    assert api_problem(declared, "1.0").startswith(f"malformed TRADEKERNEL_API {declared!r}")


def test_a_non_string_api_range_is_refused():
    assert "must be a string" in api_problem(1.0, "1.0")


@pytest.mark.parametrize(
    ("declared", "status", "error"),
    [
        ('">=1.0,<2"', "enabled", None),
        ('">=2.0,<3"', "error", "built for tradekernel API >=2.0,<3 but this kernel provides API"),
        ('"one point oh"', "error", "malformed TRADEKERNEL_API 'one point oh'"),
    ],
)
def test_a_plugin_built_for_another_api_is_listed_as_error(tk, dists, uid, declared, status, error):
    dists.add("tk-api", f"tk_api_{uid}", _guards("api", header=f"TRADEKERNEL_API = {declared}"))
    result = tk("plugins", "list", "--json", pythonpath=dists.root)
    info = {i["name"]: i for i in json.loads(result.stdout)}["tk-api"]
    assert info["status"] == status
    if error is None:
        assert [c["name"] for c in info["components"]] == ["api"]
    else:
        assert error in info["error"] and info["components"] == []
        assert "tk_api" not in " ".join(info["hooks"])


# -- install hints --------------------------------------------------------------------------


def test_a_third_party_install_hint_names_what_to_install(tk, dists, uid, tmp_path):
    """The plugin declares TRADEKERNEL_INSTALL; later its optional dependency is gone:
    selecting its guard names the plugin, the import error and the hint."""
    dep = dists.root / f"tk_fast_dep_{uid}.py"
    dep.write_text("")
    header = f"TRADEKERNEL_INSTALL = \"pip install 'tk-fast[speed]'\"\nimport tk_fast_dep_{uid}"
    dists.add("tk-fast", f"tk_fast_{uid}", _guards("fast", header=header))
    assert tk("run", "--once", pythonpath=dists.root).returncode == 0  # warm manifest
    listed = tk("plugins", "list", pythonpath=dists.root)
    assert "install:    pip install 'tk-fast[speed]'" in listed.stdout

    dep.unlink()
    (tmp_path / "plugins.toml").write_text('[components]\nguards = ["fast"]\n')
    result = tk("config", "check", pythonpath=dists.root)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "guard 'fast' is not available: its plugin tk-fast (tk-fast) failed to load" in last
    assert f"No module named 'tk_fast_dep_{uid}'" in last
    assert last.endswith("to install what it needs: pip install 'tk-fast[speed]'")


def test_a_component_install_hint_is_shown_when_its_factory_lacks_a_module(
    cli, dists, uid, tmp_path
):
    source = (
        "from tradekernel import hookimpl\n\n"
        "def build(config, ctx):\n    import tk_no_such_extra_xyz\n\n"
        "@hookimpl\ndef register_guards(register):\n"
        "    register('extra', build, install=\"pip install 'tk-extra[x]'\")\n"
    )
    dists.add("tk-extra", f"tk_extra_{uid}", source)
    (tmp_path / "plugins.toml").write_text('[components]\nguards = ["extra"]\n')
    code, _, err = cli("config", "check")
    assert code == 2
    assert "guard:extra (tk-extra) could not start: ModuleNotFoundError" in err
    assert err.strip().endswith("to install what it needs: pip install 'tk-extra[x]'")


def test_a_bad_install_hint_is_a_registration_error(dists, uid):
    source = (
        "from tradekernel import hookimpl\n\n"
        "@hookimpl\ndef register_guards(register):\n"
        "    register('bad', lambda c, x: None, install=['pip'])\n"
    )
    dists.add("tk-badhint", f"tk_badhint_{uid}", source)
    registry = PluginRegistry(entry_points=dists.entry_points()).load()
    assert "install must be a string" in _infos(registry)["tk-badhint"].error


@pytest.mark.parametrize("command", sorted(KNOWN_COMMANDS))
def test_a_first_party_command_without_its_plugin_names_the_distribution(monkeypatch, command):
    """A registry that lacks every plugin: the moved command names its distribution."""
    from click.testing import CliRunner
    from tradekernel.cli import cli as group
    from tradekernel.cli.context import AppContext

    app = AppContext(registry=PluginRegistry(entry_points=[]).load())
    result = CliRunner().invoke(group, [command, "--help"], obj=app)
    dist = KNOWN_COMMANDS[command]
    assert result.exit_code == 2
    assert result.output == (
        f"Error: the {command!r} command is provided by {dist}: pip install {dist}\n"
    )


def test_the_console_script_prints_the_same_one_line(cli, monkeypatch, tmp_path):

    (tmp_path / "plugins.toml").write_text("[plugins]\nload = []\n")  # no plugin adds it
    code, out, err = cli("report", "daily")
    assert (code, out) == (2, "")
    assert err == (  # installed here, so the line says why it is not loaded
        "Error: the 'report' command is provided by tradekernel-report, "
        "which is not listed in [plugins] load\n"
    )


def test_an_unknown_command_is_still_a_usage_error(cli):
    code, _, err = cli("no-such-command")
    assert code == 2 and "No such command 'no-such-command'" in err


# -- -v shows the plugin's own traceback ------------------------------------------------------


def test_verbose_shows_the_plugins_own_traceback_inert(tk, dists, uid, tmp_path):
    module = f"tk_tb_{uid}"
    dists.add("tk-tb", module, "import os\n\nraise RuntimeError('broke \\x1b[31m here')\n")
    (tmp_path / "plugins.toml").write_text('[components]\nguards = ["tb_guard"]\n')
    result = tk("-v", "config", "check", pythonpath=dists.root)
    assert result.returncode == 2
    assert f'File "{dists.root / module}.py", line 3, in <module>' in result.stderr
    assert "RuntimeError: broke \\x1b[31m here" in result.stderr
    assert "\x1b" not in result.stderr
    quiet = tk("config", "check", pythonpath=dists.root)
    assert f"{module}.py" not in quiet.stderr


# -- plugins list names the commands a plugin adds ---------------------------------------------


def test_plugins_list_shows_commands(cli):
    code, out, _ = cli("plugins", "list", "--json")
    assert code == 0
    info = {i["name"]: i for i in json.loads(out)}["symbol-blocklist"]
    assert info["commands"] == ["blocklist"]
    code, out, _ = cli("plugins", "list")
    assert "    commands:   blocklist\n" in out


@pytest.mark.parametrize(
    ("config", "source", "expected"),
    [
        ('block = ["tradekernel-report"]', "", "which is blocked in [plugins] block"),
        ("load = []", "", "which is not listed in [plugins] load"),
        ("", "import tk_no_such_dependency_xyz\n", "which failed to load: import failed"),
    ],
)
def test_an_installed_but_unloaded_command_plugin_says_why(
    cli, dists, uid, monkeypatch, tmp_path, config, source, expected
):

    commands = (
        "import click\nfrom tradekernel import hookimpl\n\n"
        "@hookimpl\ndef register_commands(cli):\n"
        "    cli.add_command(click.Command('report', callback=lambda: None))\n"
    )
    dists.add("tradekernel-report", f"tk_fake_report_{uid}", source or commands, ep_name="report")
    (tmp_path / "plugins.toml").write_text(f"[plugins]\n{config}\n")
    code, out, err = cli("report")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].startswith(
        f"Error: the 'report' command is provided by tradekernel-report, {expected}"
    )
