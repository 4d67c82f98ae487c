"""``tradekernel plugins new`` refuses a name whose distribution, package or entry point
is a first-party plugin's or already installed: its "pip install -e" step would replace
or clash with that plugin."""

from __future__ import annotations

import pytest
from tradekernel.plugins import KNOWN_COMMANDS, KNOWN_DISTRIBUTIONS
from tradekernel.testing import invoke

FIRST_PARTY = sorted({*KNOWN_DISTRIBUTIONS.values(), *KNOWN_COMMANDS.values()})


@pytest.mark.parametrize("dist", FIRST_PARTY)
def test_first_party_names_are_refused(tmp_path, dist):
    short = dist.removeprefix("tradekernel-")
    for name in (short, dist, short.replace("-", "_")):
        target = tmp_path / name
        result = invoke(["plugins", "new", name, "--kind", "guard", "--dir", str(target)])
        assert result.exit_code == 2, result.stdout
        assert result.stderr.count("\n") == 1 and result.stdout == ""
        assert f"{dist} is a first-party distribution" in result.stderr
        assert "choose another name" in result.stderr
        assert not target.exists()


def test_installed_entry_points_and_distributions_are_refused(tmp_path):
    # tradekernel-contrib-symbol-blocklist (contrib/) is installed with entry point
    # symbol-blocklist: neither its entry-point name nor its distribution name is free.
    cases = {
        "symbol-blocklist": "the tradekernel entry point 'symbol-blocklist' of "
        "tradekernel-contrib-symbol-blocklist is installed",
        "contrib-symbol-blocklist": "the distribution tradekernel-contrib-symbol-blocklist "
        "is installed",
    }
    for name, why in cases.items():
        result = invoke(["plugins", "new", name, "--kind", "guard", "--dir", str(tmp_path / name)])
        assert result.exit_code == 2 and why in result.stderr, result.stderr


def test_an_importable_package_of_the_same_name_is_refused(tmp_path, monkeypatch):
    (tmp_path / "lib" / "tradekernel_squatted").mkdir(parents=True)
    (tmp_path / "lib" / "tradekernel_squatted" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    result = invoke(["plugins", "new", "squatted", "--kind", "guard", "--dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "a package named tradekernel_squatted is already importable" in result.stderr


def test_a_free_name_is_written(tmp_path):
    result = invoke(
        ["plugins", "new", "my-guards", "--kind", "guard", "--dir", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.stderr
    assert 'my-guards = "tradekernel_my_guards"' in (tmp_path / "g" / "pyproject.toml").read_text()
