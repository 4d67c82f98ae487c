"""Lazy plugin loading: a command imports only the plugins it uses, decided by the
plugin manifest (``tradekernel.plugin_manifest``), which is hostile input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tradekernel import __version__, plugin_manifest
from tradekernel.errors import PluginError
from tradekernel.plugins import PluginRegistry

MARKED_GUARD = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")

from tradekernel import hookimpl
from tradekernel.models import GuardVerdict


class AllowAll:
    def check(self, intent, ctx):
        return GuardVerdict.allowed("{name}")


@hookimpl
def register_guards(register):
    register("{name}", lambda config, ctx: AllowAll())
"""

MARKED_OBSERVER = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")

from tradekernel import hookimpl

SEEN = []


@hookimpl
def on_event(event):
    SEEN.append(event.kind)
"""

MARKED_COMMAND = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")

import click
from tradekernel import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command("{command}")
    def hello():
        click.echo("hello from {command}")
"""


def _add(dists, uid, dist, template, marker: Path, **fields) -> str:
    module = f"{dist.replace('-', '_')}_{uid}"
    dists.add(dist, module, template.format(marker=str(marker), **fields))
    return module


# -- what each command imports (real console script, real entry points) ------------------


def test_an_unselected_plugin_is_not_imported_by_run_or_intents_list(tk, dists, uid, tmp_path):
    marker = tmp_path / "unused-imported"
    _add(dists, uid, "tk-unused", MARKED_GUARD, marker, name="unused_guard")

    first = tk("run", "--once", pythonpath=dists.root)
    assert first.returncode == 0, first.stderr
    manifest = tmp_path / ".tradekernel" / "cache" / "plugins.json"
    entries = plugin_manifest.read(manifest, __version__)
    assert entries["tk-unused"]["components"][0]["name"] == "unused_guard"
    marker.unlink()  # the first run built the manifest by importing everything

    for args in (("run", "--once"), ("intents", "list")):
        result = tk(*args, pythonpath=dists.root)
        assert result.returncode == 0, result.stderr
        assert not marker.exists(), args

    listed = tk("plugins", "list", pythonpath=dists.root)
    assert listed.returncode == 0 and "guard:unused_guard" in listed.stdout
    assert marker.exists()


def test_selecting_a_component_imports_its_plugin(tk, dists, uid, tmp_path):
    marker = tmp_path / "used-imported"
    _add(dists, uid, "tk-used", MARKED_GUARD, marker, name="used_guard")
    assert tk("run", "--once", pythonpath=dists.root).returncode == 0
    marker.unlink()
    (tmp_path / "plugins.toml").write_text('[components]\nguards = ["used_guard"]\n')
    result = tk("run", "--once", pythonpath=dists.root)
    assert result.returncode == 0, result.stderr
    assert marker.exists()


def test_an_instance_imports_only_the_plugin_of_the_component_it_uses(tk, dists, uid, tmp_path):
    used, other = tmp_path / "used-imported", tmp_path / "other-imported"
    _add(dists, uid, "tk-inst-used", MARKED_GUARD, used, name="used_guard")
    _add(dists, uid, "tk-inst-other", MARKED_GUARD, other, name="other_guard")
    assert tk("run", "--once", pythonpath=dists.root).returncode == 0
    used.unlink()
    other.unlink()
    (tmp_path / "plugins.toml").write_text(
        '[components]\nguards = ["strict"]\n[guard.strict]\nuse = "used_guard"\n'
    )
    result = tk("run", "--once", pythonpath=dists.root)
    assert result.returncode == 0, result.stderr
    assert used.exists() and not other.exists()


def test_observer_plugins_are_always_imported(tk, dists, uid, tmp_path):
    marker = tmp_path / "observer-imported"
    _add(dists, uid, "tk-watcher", MARKED_OBSERVER, marker)
    assert tk("run", "--once", pythonpath=dists.root).returncode == 0
    marker.unlink()
    assert tk("run", "--once", pythonpath=dists.root).returncode == 0
    assert marker.exists()


def test_a_plugin_command_imports_its_provider_only(tk, dists, uid, tmp_path):
    marker_a, marker_b = tmp_path / "a-imported", tmp_path / "b-imported"
    _add(dists, uid, "tk-cmd-a", MARKED_COMMAND, marker_a, command="hello-a")
    _add(dists, uid, "tk-cmd-b", MARKED_COMMAND, marker_b, command="hello-b")
    (tmp_path / ".tradekernel").mkdir()
    listed = tk("plugins", "list", "--json", pythonpath=dists.root)
    assert {i["name"]: i["commands"] for i in json.loads(listed.stdout)}["tk-cmd-a"] == ["hello-a"]
    marker_a.unlink()
    marker_b.unlink()

    result = tk("hello-a", pythonpath=dists.root)
    assert (result.returncode, result.stdout) == (0, "hello from hello-a\n")
    assert marker_a.exists() and not marker_b.exists()
    marker_a.unlink()
    assert tk("control", "status", pythonpath=dists.root).returncode == 0
    assert not marker_a.exists() and not marker_b.exists()


def test_the_state_dir_is_not_created_for_the_cache(tk, tmp_path):
    assert tk("plugins", "list").returncode == 0
    assert not (tmp_path / ".tradekernel").exists()


# -- the manifest is hostile input -------------------------------------------------------

GOOD_GUARD = """
from tradekernel import hookimpl

@hookimpl
def register_guards(register):
    register("g", lambda config, ctx: None, description="the real one")
"""


@pytest.fixture
def lazy(dists, uid, tmp_path):
    """A warm manifest for one plugin ``tk-lazy`` registering guard ``g``; ``build()``
    returns a fresh lazy registry over it (the kernel defaults left out)."""
    module = f"tk_lazy_{uid}"
    dists.add("tk-lazy", module, GOOD_GUARD)
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "cache" / "plugins.json"

    def build(**kwargs) -> PluginRegistry:
        return PluginRegistry(
            entry_points=dists.entry_points(), defaults=(), manifest=path, **kwargs
        ).load()

    def fresh(**kwargs) -> PluginRegistry:
        dists.forget()  # each registry as in a new process
        return build(**kwargs)

    warm = fresh()
    assert warm.pm.get_plugin("tk-lazy") is not None  # cold: imported to build the entry
    assert path.exists()
    fresh.path = path
    fresh.module = module
    return fresh


def test_a_warm_manifest_defers_the_plugin_until_it_is_asked_for(lazy):
    registry = lazy()
    assert registry.pm.get_plugin("tk-lazy") is None and not registry.complete
    assert registry.spec("guard", "g").description == "the real one"
    assert registry.pm.get_plugin("tk-lazy") is not None


def _entries(path: Path) -> dict:
    return json.loads(path.read_text())["entries"]


def _rewrite(path: Path, mutate) -> None:
    data = json.loads(path.read_text())
    mutate(data["entries"]["tk-lazy"])
    path.write_text(json.dumps(data))


HOSTILE = {
    "empty": b"",
    "truncated": None,  # filled in from the real file
    "not json": b"\x00\xff{garbage",
    "a list": b"[1, 2, 3]",
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "other format": json.dumps({"format": 99, "kernel": __version__, "entries": {}}).encode(),
    "other kernel": json.dumps({"format": 1, "kernel": "0.0.0", "entries": {}}).encode(),
    "entries not a dict": json.dumps({"format": 1, "kernel": __version__, "entries": []}).encode(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_corrupt_manifest_is_rebuilt(lazy, case):
    text = lazy.path.read_bytes()
    lazy.path.write_bytes(HOSTILE[case] if HOSTILE[case] is not None else text[: len(text) // 2])
    registry = lazy()
    assert registry.pm.get_plugin("tk-lazy") is not None  # nothing trusted: imported
    assert registry.spec("guard", "g").description == "the real one"
    assert _entries(lazy.path)["tk-lazy"]["components"][0]["name"] == "g"  # rewritten


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(components="guard:g"),
        lambda e: e.update(hooks=[1]),
        lambda e: e.update(commands=None),
        lambda e: e.update(install=["pip"]),
        lambda e: e.update(failed="no"),
        lambda e: e["stamp"].update(mtime_ns=1.5),
        lambda e: e["stamp"].pop("size"),
        lambda e: e["components"][0].update(kind=None),
        lambda e: e["components"][0].update(extra="x"),
        lambda e: e.update(components=[["guard", "g"]]),
    ],
    ids=[
        "components-str",
        "hooks-int",
        "commands-none",
        "install-list",
        "failed-str",
        "mtime-float",
        "stamp-missing",
        "kind-none",
        "extra-key",
        "component-list",
    ],
)
def test_a_malformed_entry_is_rebuilt(lazy, mutate):
    _rewrite(lazy.path, mutate)
    registry = lazy()
    assert registry.pm.get_plugin("tk-lazy") is not None
    assert registry.spec("guard", "g").description == "the real one"
    assert plugin_manifest.read(lazy.path, __version__)["tk-lazy"]["hooks"] == ["register_guards"]


def test_a_manifest_that_hides_a_component_is_not_believed(lazy):
    _rewrite(lazy.path, lambda e: e.update(components=[]))
    registry = lazy()
    assert registry.pm.get_plugin("tk-lazy") is None  # trusted to choose: deferred
    assert registry.spec("guard", "g").description == "the real one"  # found anyway
    assert registry.complete


def test_a_manifest_that_invents_a_component_falls_back_to_everything(lazy):
    _rewrite(
        lazy.path,
        lambda e: e["components"].append(
            dict(e["components"][0], name="ghost", description="made up")
        ),
    )
    registry = lazy()
    with pytest.raises(PluginError, match="guard 'ghost' is not available"):
        registry.spec("guard", "ghost")
    assert registry.complete  # what registered was the truth; everything was loaded
    assert [c["name"] for c in _entries(lazy.path)["tk-lazy"]["components"]] == ["g"]


def test_an_edited_manifest_cannot_load_a_blocked_plugin(lazy):
    registry = lazy(block=["tk-lazy"])
    with pytest.raises(PluginError, match="blocked"):
        registry.spec("guard", "g")
    assert registry.pm.get_plugin("tk-lazy") is None


def test_an_edited_module_file_makes_its_entry_stale(lazy, dists):
    module_file = dists.root / f"{lazy.module}.py"
    module_file.write_text(module_file.read_text() + "\n# edited in place\n")
    registry = lazy()
    assert registry.pm.get_plugin("tk-lazy") is not None  # stamp changed: re-imported


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_manifest_that_is_not_a_regular_file_is_ignored(lazy, kind):
    lazy.path.unlink()
    if kind == "fifo":
        os.mkfifo(lazy.path)  # opening it for reading would block
    else:
        lazy.path.symlink_to("/dev/zero")  # reading it would never end
    registry = lazy()
    assert registry.pm.get_plugin("tk-lazy") is not None
    assert registry.spec("guard", "g").description == "the real one"
    assert plugin_manifest.read(lazy.path, __version__)  # replaced by a regular file


def test_an_unwritable_manifest_location_is_ignored(lazy):
    lazy.path.unlink()
    lazy.path.mkdir()  # a directory where the file should be
    registry = lazy()
    assert registry.spec("guard", "g").description == "the real one"


def test_module_files_are_found_without_importing(tmp_path, monkeypatch):
    package = tmp_path / f"tk_pkg_{os.getpid()}"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    name = package.name
    assert plugin_manifest.module_file(f"{name}.sub.mod") == str(package / "sub" / "mod.py")
    assert plugin_manifest.module_file(name) == str(package / "__init__.py")
    assert plugin_manifest.module_file(f"{name}.missing") is None
    assert name not in sys.modules


WRITER = """
import sys
from pathlib import Path
from tradekernel import plugin_manifest

path, tag = Path(sys.argv[1]), sys.argv[2]
entry = {
    "stamp": {"name": tag, "value": tag, "distribution": tag, "version": "1",
              "file": None, "mtime_ns": None, "size": None, "tree": None, "record": None},
    "components": [], "hooks": ["register_guards"] * 200, "commands": [], "install": None,
}
for i in range(150):
    assert plugin_manifest.write(path, "v", {tag: entry, "n": dict(entry, commands=[str(i)])})
"""


def test_two_processes_writing_at_once_leave_a_whole_file(tmp_path):
    path = tmp_path / "state" / "cache" / "plugins.json"
    (tmp_path / "state").mkdir()
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    writers = [
        subprocess.Popen([sys.executable, str(script), str(path), tag]) for tag in ("a", "b")
    ]
    seen = set()
    while any(w.poll() is None for w in writers):
        existed = path.exists()
        entries = plugin_manifest.read(path, "v")
        if existed:
            assert entries, "a reader saw a partial manifest"
            seen.update(k for k in entries if k != "n")
    assert [w.wait() for w in writers] == [0, 0]
    assert set(plugin_manifest.read(path, "v")) in ({"a", "n"}, {"b", "n"})
    assert seen


def test_a_blocked_third_party_plugin_is_named_from_the_manifest(lazy):
    for _ in range(2):  # the entry is kept while blocked, so every run can name it
        registry = lazy(block=["tk-lazy"])
        with pytest.raises(PluginError) as exc:
            registry.spec("guard", "g")
        assert "its distribution tk-lazy is blocked in [plugins] block" in str(exc.value)
        assert registry.pm.get_plugin("tk-lazy") is None
    registry = lazy(allow=[])
    with pytest.raises(PluginError, match="tk-lazy is not listed in \\[plugins\\] load"):
        registry.spec("guard", "g")
