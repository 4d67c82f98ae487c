"""Releases: content-addressed, signed, verified on use; activation is a journaled
compare-and-set; rollback restores the older release and the stage it earned."""

from __future__ import annotations

import json

import pytest
from tradekernel.api import RefusedError, Settings, Store, active_release, check_stage, stage_key
from tradekernel_deploy import activation, releases


def _created(result) -> str:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["id"]


def test_the_same_configuration_is_the_same_release(cli, write_config):
    first = _created(cli("release", "create", "--note", "one", "--json"))
    again = cli("release", "create", "--json")
    assert json.loads(again.stdout)["id"] == first and json.loads(again.stdout)["new"] is False
    write_config(watchlist=("AAA", "BBB"))
    second = _created(cli("release", "create", "--json"))
    assert second != first and len(second) == releases.ID_LENGTH
    listed = cli("release", "list", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)["releases"]] == [first, second]


def test_a_release_without_a_signing_key_is_not_written(cli, monkeypatch, state_dir):
    monkeypatch.delenv("TK_DEPLOY_TEST_KEY")
    result = cli("release", "create")
    assert result.exit_code == 2 and "hmac_key_env" in result.stderr
    assert not list(state_dir.glob("releases/*"))


def test_a_configuration_holding_a_secret_is_refused(cli, write_config, state_dir):
    write_config(
        extra='\n[notifier.webhook]\nurl = "http://127.0.0.1:9/x"\n'
        'headers = { Authorization = "Bearer s3cr3t-t0ken-value" }\n'
    )
    result = cli("release", "create")
    assert result.exit_code == 2, result.stderr
    assert "holds a secret value" in result.stderr and "s3cr3t" not in result.stderr
    assert not list(state_dir.glob("releases/*"))


def test_diff_names_what_changed(cli, write_config):
    a = _created(cli("release", "create", "--json"))
    write_config(watchlist=("AAA", "BBB"), extra="\n[strategist.sma-cross]\nfast = 3\n")
    b = _created(cli("release", "create", "--json"))
    rows = json.loads(cli("release", "diff", a, b, "--json").stdout)
    paths = {r["path"] for r in rows}
    assert "strategists.sma-cross.config.fast" in paths
    assert "strategists.sma-cross.config_digest" in paths
    added = [r["b"] for r in rows if r["path"] == "config.text:+"]
    assert any("BBB" in line for line in added)
    assert cli("release", "diff", a, a).stdout.strip() == "identical"


@pytest.mark.parametrize(
    ("target", "change", "why"),
    [
        ("plugins.toml", lambda t: t.replace("AAA", "ZZZ"), "does not match the signed bundle"),
        ("release.json", lambda t: t.replace("AAA", "ZZZ"), "does not match its id"),
        ("release.sig", lambda t: t.replace('"signature": "', '"signature": "AAAA'), "signature"),
        ("release.json", lambda t: t[: len(t) // 2], "unreadable"),
    ],
)
def test_an_altered_release_is_refused(cli, state_dir, target, change, why):
    rid = _created(cli("release", "create", "--json"))
    path = state_dir / "releases" / rid / target
    path.write_text(change(path.read_text()))
    result = cli("release", "activate", rid)
    assert result.exit_code == 3 and why in result.stderr, result.stderr
    assert "! " + rid in cli("release", "list").stdout


def test_a_release_signed_by_another_key_is_refused(cli, monkeypatch):
    rid = _created(cli("release", "create", "--json"))
    monkeypatch.setenv("TK_DEPLOY_TEST_KEY", "another-key-another-key-another")
    result = cli("release", "activate", rid)
    assert result.exit_code == 3 and "does not configure" in result.stderr


def test_a_release_whose_plugin_versions_are_not_installed_is_refused(cli, state_dir, monkeypatch):
    real = releases.plugins_in_use
    monkeypatch.setattr(
        releases, "plugins_in_use", lambda k: {**real(k), "tradekernel-rules": "0.0.1"}
    )
    rid = _created(cli("release", "create", "--json"))
    result = cli("release", "activate", rid)
    assert result.exit_code == 3
    assert "tradekernel-rules 0.0.1 (installed: 0.1.0)" in result.stderr
    with Store.open(state_dir) as store:
        assert active_release(store) is None
    settings = Settings.load(state_dir.parent / "plugins.toml")
    with pytest.raises(RefusedError, match="not installed"):
        releases.release_settings(settings, rid)


def _live(store: Store, release: str | None, stage: str = "live") -> None:
    store.set_control(
        stage_key("sma-cross"),
        {"stage": stage, "evidence": {"release": release, "config_digest": None}},
        actor="promoter",
    )


def test_activation_is_journaled_and_rollback_restores_release_and_stage(
    cli, write_config, state_dir
):
    r1 = _created(cli("release", "create", "--json"))
    write_config(watchlist=("AAA", "BBB"))
    r2 = _created(cli("release", "create", "--json"))
    assert cli("release", "activate", r1, "--by", "alice").exit_code == 0
    with Store.open(state_dir) as store:
        _live(store, r1)  # promoted under r1 (what `tradekernel promote` writes)
        check_stage(store, "sma-cross", "live", release=r1)
    out = cli("release", "activate", r2, "--by", "bob", "--json")
    assert json.loads(out.stdout) == {"release": r2, "previous": r1, "stages": {"sma-cross": None}}
    with Store.open(state_dir) as store:
        with pytest.raises(RefusedError, match="no promotion stage"):
            check_stage(store, "sma-cross", "live", release=r2)
        _live(store, r2, "paper")
    out = cli("release", "rollback", "--by", "carol", "--json")
    assert json.loads(out.stdout) == {
        "release": r1,
        "previous": r2,
        "stages": {"sma-cross": "live"},
    }
    with Store.open(state_dir) as store:
        assert active_release(store) == r1
        check_stage(store, "sma-cross", "live", release=r1)
        rows = store.journal_rows(entity="control:release")
        assert [r.actor for r in rows] == ["alice", "bob", "carol"]
        assert store.verify_journal().ok
    assert cli("release", "rollback").exit_code == 3  # nothing before r1
    assert json.loads(cli("release", "activate", r2, "--json").stdout)["stages"] == {
        "sma-cross": "paper"
    }


def test_a_stage_never_earned_under_the_active_release_does_not_count(tmp_path):
    with Store.open(tmp_path / "s") as store:
        _live(store, "aaaa")
        check_stage(store, "sma-cross", "live", release="aaaa")
        with pytest.raises(RefusedError, match="not earned under the active release bbbb"):
            check_stage(store, "sma-cross", "live", release="bbbb")
        check_stage(store, "sma-cross", "paper", release="bbbb")  # paper needs no stage


def test_activation_is_a_compare_and_set(cli, state_dir, monkeypatch):
    rid = _created(cli("release", "create", "--json"))
    settings = Settings.load(state_dir.parent / "plugins.toml")
    with Store.open(state_dir) as store:
        real = store.control_text

        def racing(key: str):  # another activation commits between read and write
            seen = real(key)
            if key == "release":
                store.set_control("release", {"id": "f" * 16, "history": []}, actor="racer")
            return seen

        monkeypatch.setattr(store, "control_text", racing)
        with pytest.raises(RefusedError, match="changed while activating"):
            activation.activate(settings, store, rid, actor="alice")
        assert active_release(store) == "f" * 16


def test_policy_files_are_part_of_the_bundle(kernel_factory, tmp_path):
    from tradekernel import hookimpl

    policy = tmp_path / "policy.toml"
    policy.write_text('version = "1"\n')
    signature = tmp_path / "policy.toml.sig"
    signature.write_text("sig-1\n")

    class PolicyGuard:
        @hookimpl
        def register_guards(self, register):
            import attrs

            @attrs.define
            class Config:
                file: str = ""
                signature_file: str = ""

            register("policy", lambda ctx: None, config_class=Config)

    kernel, _ = kernel_factory.build(
        f'[guard.policy]\nfile = "{policy}"\nsignature_file = "{signature}"\n',
        plugins=[(PolicyGuard(), "policy-double")],
    )
    bundle = releases.build_bundle(kernel)
    assert bundle["policy"]["file"]["text"] == 'version = "1"\n'
    assert bundle["policy"]["signature_file"]["text"] == "sig-1\n"
    before = releases.sha256(releases.canonical(bundle))
    signature.write_text("sig-2\n")
    assert releases.sha256(releases.canonical(releases.build_bundle(kernel))) != before


def test_creation_activation_and_rollback_are_events(cli, write_config, state_dir):
    r1 = _created(cli("release", "create", "--note", "first", "--json"))
    write_config(watchlist=("AAA", "BBB"))
    r2 = _created(cli("release", "create", "--json"))
    cli("release", "activate", r1, "--by", "alice")
    cli("release", "activate", r2, "--by", "bob")
    cli("release", "rollback", "--by", "carol", "--reason", "bad fills")
    cli("readiness", "--for", "paper")
    lines = "".join(p.read_text() for p in (state_dir / "events").glob("*.jsonl"))
    events = [json.loads(line) for line in lines.splitlines()]
    deploy = [(e["kind"], e["fields"]) for e in events if e["stage"] == "deploy"]
    assert [k for k, _ in deploy] == [
        "release_created",
        "release_created",
        "release_activated",
        "release_activated",
        "release_activated",
        "readiness",
    ]
    assert deploy[0][1] == {"release": r1, "note": "first", "actor": "operator"}
    last = deploy[4][1]
    assert (last["release"], last["previous"], last["rollback"]) == (r1, r2, True)
    assert (last["actor"], last["reason"]) == ("carol", "bad fills")
    assert deploy[5][1]["result"] == "failed" and "backup" in deploy[5][1]["failed"]
    assert cli("events", "validate").exit_code == 0


def test_a_note_with_terminal_escapes_is_shown_inert(cli):
    _created(cli("release", "create", "--note", "ok\x1b[2J\nApproved by risk", "--json"))
    listed = cli("release", "list").stdout
    assert "\x1b" not in listed and "ok\\x1b[2J\\nApproved by risk" in listed


CREDENTIAL_URLS = {
    "query_token": "https://hooks.example.com/x?token=abcDEF123456ghiJKL789",
    "query_api_key": "https://data.example.com/v1?symbol=AAA&api-key=abcDEF123456ghiJKL789",
    "slack": "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "discord": "https://discord.com/api/webhooks/123456/abcDEF123456ghiJKL789",
    "userinfo": "https://ops:Sup3rS3cretPw@hooks.example.com/x",
}


@pytest.mark.parametrize("url", CREDENTIAL_URLS.values(), ids=CREDENTIAL_URLS.keys())
def test_a_credential_bearing_url_is_refused_and_never_printed(cli, write_config, state_dir, url):
    write_config(extra=f'\n[notifier.webhook]\nurl = "{url}"\n')
    result = cli("release", "create")
    assert result.exit_code == 2, result.stderr
    assert "holds a" in result.stderr and "_env key" in result.stderr
    for secret in ("abcDEF123456", "XXXXXXXX", "Sup3rS3cretPw"):
        assert secret not in result.stderr
    assert not list(state_dir.glob("releases/*"))


def test_a_url_without_credentials_is_released(cli, write_config):
    write_config(extra='\n[notifier.webhook]\nurl = "https://hooks.example.com/x?channel=ops"\n')
    _created(cli("release", "create", "--json"))


def test_diff_never_prints_a_stored_credential_url(cli, write_config, monkeypatch):
    a = _created(cli("release", "create", "--json"))
    monkeypatch.setattr(releases, "credential_urls", lambda text: [])  # an older release
    write_config(extra=f'\n[notifier.webhook]\nurl = "{CREDENTIAL_URLS["query_token"]}"\n')
    b = _created(cli("release", "create", "--json"))
    for args in ((), ("--json",)):
        shown = cli("release", "diff", a, b, *args)
        assert shown.exit_code == 0, shown.stderr
        assert "hooks.example.com" in shown.stdout and "abcDEF123456" not in shown.stdout
