"""``[components] store`` and ``[store] url``: the default, the environment, validation
and masking (the URL may carry a password)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.errors import ConfigError
from tradekernel.settings import Settings
from tradekernel.store import open_store


def _load(tmp_path, text="", env=None):
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return Settings.load(path, environ=env or {})


def test_the_default_store_is_sqlite_without_a_url(tmp_path):
    s = _load(tmp_path)
    assert (s.components.store, s.store.url) == ("sqlite", None)


def test_the_url_comes_from_tk_store_url_over_the_file(tmp_path):
    text = '[store]\nurl = "postgresql://file@h/db"\n'
    s = _load(tmp_path, text, {"TK_STORE_URL": "postgresql://env@h/db"})
    assert s.store.url == "postgresql://env@h/db"
    assert s.sources[("store", "url")] == "env:TK_STORE_URL"
    both = {"TK_STORE_URL": "postgresql://a@h/db", "TRADEKERNEL_STORE__URL": "postgresql://b@h/db"}
    assert _load(tmp_path, text, both).store.url == "postgresql://b@h/db"


def test_a_bad_url_names_the_key_and_not_the_password(tmp_path):
    with pytest.raises(ConfigError, match=r"\[store\] url") as exc:
        _load(tmp_path, env={"TK_STORE_URL": "http://u:Hunter2-Secret@h/db"})
    assert "Hunter2-Secret" not in str(exc.value)


def test_a_missing_store_plugin_says_what_to_install(tmp_path, monkeypatch):
    from tradekernel.plugins import PluginRegistry

    s = _load(tmp_path, '[components]\nstore = "nosuch"\n')
    with pytest.raises(ConfigError, match="store 'nosuch' is not available"):
        open_store(s, registry=PluginRegistry(entry_points=[]).load())


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["postgresql", "postgres", "mysql", "", "postgresql:"]),
    password=st.text(alphabet=st.characters(codec="utf-8"), min_size=8, max_size=20),
    rest=st.text(max_size=30),
)
def test_any_url_loads_or_is_one_config_error_without_its_password(
    tmp_path_factory, scheme, password, rest
):
    url = f"{scheme}://user:{password}@{rest}"
    tmp = tmp_path_factory.mktemp("fuzz")
    try:
        s = _load(tmp, env={"TK_STORE_URL": url})
    except ConfigError as exc:
        assert "[store] url" in str(exc)
        assert password not in str(exc)
        return
    assert s.store.url == url
    masked = s.redact(f"failed: {url}")
    if "@" in rest or "/" in password or "?" in password or "#" in password:
        return  # a userinfo the URL parser reads otherwise: its own secret rules apply
    assert password not in masked
