"""``config show`` masks header values and every secret-looking key at any depth, in
text and in ``--json``; names of variables (``*_env``) and numbers stay readable."""

from __future__ import annotations

import json

import pytest

BEARER = "Bearer hdr7Yt5Ui3Op9As1Df"
CONFIG = f"""
[notifier.webhook]
url_env = "HOOK_URL"
headers = {{ Authorization = "{BEARER}", X-Api-Key = "xak-4f8e2a9c77", X-Team = "ops-team-blue" }}

[notifier.custom]
endpoint.auth.nested.password = "pw-deep-81c3f0"
endpoint.auth.nested.token = "tok-deeper-5d2e"
endpoint.auth.nested.key = "k-9a8b7c6d"
clients = [{{ name = "a", client_secret = "cs-list-33aa44bb" }}]

[strategist.custom]
budget_daily_tokens = 200000
api_key_env = "SOME_KEY"
"""
HIDDEN = (
    "hdr7Yt5Ui3Op9As1Df",
    "xak-4f8e2a9c77",
    "ops-team-blue",
    "pw-deep-81c3f0",
    "tok-deeper-5d2e",
    "k-9a8b7c6d",
    "cs-list-33aa44bb",
)


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_masks_secrets_at_any_depth(tmp_path, cli, as_json) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(CONFIG, encoding="utf-8")
    code, out, err = cli(
        "--config", str(config), "config", "show", *(["--json"] if as_json else [])
    )
    assert code == 0, err
    for value in HIDDEN:
        assert value.lower() not in (out + err).lower(), value
    if as_json:
        rows = {row["key"]: row["value"] for row in json.loads(out)["settings"]}
    else:
        rows = dict(line.split("  # ")[0].split(" = ", 1) for line in out.splitlines()[1:])
        rows = {k: v.strip("'") for k, v in rows.items()}
    assert rows["notifier.webhook.headers.Authorization"] == "********"
    assert rows["notifier.custom.endpoint.auth.nested.password"] == "********"
    assert rows["notifier.custom.endpoint.auth.nested.key"] == "********"
    assert rows["notifier.webhook.url_env"] == "HOOK_URL (not set)"
    assert str(rows["strategist.custom.budget_daily_tokens"]) == "200000"  # a number


def test_config_show_masks_url_credentials_and_query_values(tmp_path, cli) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[llm_provider.custom]\n"
        'base_url = "http://ops:pw-url-7c1d9e@llm.example:8080/v1?code=qc-4b6a2f&x="\n'
        'author = "Ada Lovelace"\n',
        encoding="utf-8",
    )
    code, out, err = cli("--config", str(config), "config", "show", "--json")
    assert code == 0, err
    rows = {row["key"]: row["value"] for row in json.loads(out)["settings"]}
    assert rows["llm_provider.custom.base_url"] == (
        "http://********@llm.example:8080/v1?code=********&x="
    )
    assert rows["llm_provider.custom.author"] == "Ada Lovelace"  # "auth" is not in "author"
    for value in ("pw-url-7c1d9e", "qc-4b6a2f", "ops:"):
        assert value not in out + err
