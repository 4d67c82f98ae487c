"""``tradekernel console``: safe binding, the password helper, a real uvicorn server, and
imports only when it runs."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import sys

import httpx
import pytest
from tradekernel.testing import invoke, modules_imported_by

from .conftest import load

HEAVY = ("starlette", "jinja2", "uvicorn", "itsdangerous", "multipart", "python_multipart")


@pytest.mark.parametrize(
    "args", [("--help",), ("plugins", "list"), ("console", "--help"), ("intents", "list")]
)
def test_other_commands_do_not_import_the_web_stack(tmp_path, args):
    modules = modules_imported_by(args, tmp_path)
    assert "tradekernel.cli" in modules
    heavy = {m for m in modules if m.split(".")[0] in HEAVY}
    assert not heavy, heavy


def test_registering_the_plugin_imports_no_web_stack():
    code = f"import sys, tradekernel_console; print(any(m in sys.modules for m in {HEAVY!r}))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_a_remote_host_needs_tls_or_the_acknowledgement(config, host):
    done = invoke(["--config", str(config), "console", "--host", host, "--port", "0"])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--certfile" in lines[0] and "--insecure-remote" in lines[0]


def test_half_a_tls_configuration_is_refused(config, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    done = invoke(["--config", str(config), "console", "--certfile", str(cert)])
    assert done.exit_code == 2 and "--keyfile" in done.stderr


def test_a_bad_certificate_or_key_is_one_line_exit_2_before_any_token(config, tmp_path):
    garbage = tmp_path / "bad.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    done = invoke(
        [
            *("--config", str(config), "console", "--port", "0"),
            *("--certfile", str(garbage), "--keyfile", str(garbage)),
        ]
    )
    assert done.exit_code == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(garbage) in lines[0] and "unexpected" not in lines[0]
    assert "token" not in done.stdout and "console on" not in done.stdout


@pytest.mark.parametrize(
    ("encoded", "problem"),
    [
        ("plaintext", "not a password hash"),
        ("scrypt$1048576$32$16$" + "A" * 22 + "$" + "A" * 43, "256 MiB"),
    ],
)
def test_a_bad_password_hash_is_a_config_error(config, encoded, problem):
    config.write_text(config.read_text() + f'\n[console.users]\nalice = "{encoded}"\n')
    done = invoke(["--config", str(config), "console", "--port", "0"])
    assert done.exit_code == 2
    assert "[console] users" in done.stderr and "alice" in done.stderr
    assert problem in done.stderr


def test_allowed_hosts():
    from tradekernel_console.commands import allowed_hosts

    assert allowed_hosts("127.0.0.1", ()) == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts("::1", ()) == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts("192.168.1.5", ("Console.Example:443",)) == {
        "192.168.1.5",
        "console.example",
    }


def test_no_token_needs_users(config):
    done = invoke(["--config", str(config), "console", "--no-token", "--port", "0"])
    assert done.exit_code == 2 and "[console] users" in done.stderr


def test_hash_password_round_trips():
    from tradekernel_console.auth import verify_password

    done = invoke(["console", "hash-password"], input="hunter2hunter2\nhunter2hunter2\n")
    assert done.exit_code == 0, done.stderr
    encoded = done.stdout.strip().splitlines()[-1]
    assert encoded.startswith("scrypt$") and "hunter2" not in encoded
    assert verify_password("hunter2hunter2", encoded)
    assert not verify_password("hunter2hunter3", encoded)
    named = invoke(["console", "hash-password", "--name", "ann"], input="pw12345678\npw12345678\n")
    assert '"ann" = "scrypt$' in named.stdout
    short = invoke(["console", "hash-password"], input="short\nshort\n")
    assert short.exit_code == 2


def test_pbkdf2_hashes_are_accepted():
    import base64
    import hashlib

    from tradekernel_console.auth import hash_problem, verify_password

    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 200_000)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    encoded = f"pbkdf2_sha256$200000${b64(salt)}${b64(digest)}"
    assert hash_problem(encoded) is None and verify_password("pw", encoded)
    assert hash_problem("pbkdf2_sha256$10$abc$def") is not None
    assert hash_problem("scrypt$1048577$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAA") is not None


def test_a_real_server_on_loopback(config):
    """``tradekernel console --port 0`` binds 127.0.0.1, prints the address and the token,
    and serves the login page with its headers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekernel", "--config", str(config), "console", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", first).group(1)
        token = second.rsplit(" ", 1)[-1].strip()
        assert len(token) >= 24
        with httpx.Client(base_url=url, timeout=10) as http:
            login = http.get("/login")
            assert login.status_code == 200
            assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
            assert "server" not in login.headers
            assert http.get("/pending").status_code == 403
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
            done = http.post("/login", data={"csrf": csrf, "name": "ann", "password": token})
            assert done.status_code == 303
            assert http.get("/pending").status_code == 200
        with httpx.Client(base_url=url, timeout=10) as mallory:  # forwarded-for is not trusted
            codes = []
            for n in range(6):
                page = mallory.get("/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                codes.append(
                    mallory.post(
                        "/login",
                        data={"csrf": csrf, "name": f"m{n}", "password": "guess"},
                        headers={"x-forwarded-for": f"10.0.0.{n}"},
                    ).status_code
                )
            assert codes == [403] * 5 + [429]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    from tradekernel.api import read_events, utcnow

    settings = load(config)
    started = list(read_events(settings, date=utcnow().date(), stage="console", kind="started"))
    assert [(e.fields["address"], e.fields["tls"]) for e in started] == [(url, False)]


def test_tls(config, tmp_path):
    """With --certfile/--keyfile the console serves HTTPS and its cookies are Secure."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "tradekernel", "--config", str(config), "console"),
            *("--port", "0", "--certfile", str(cert), "--keyfile", str(key)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"(https://127\.0\.0\.1:\d+/)", proc.stdout.readline()).group(1)
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=url, verify=trust, timeout=10) as http:
            login = http.get("/login")
            assert login.status_code == 200
            assert "secure" in login.headers["set-cookie"].lower()
        with pytest.raises(httpx.TransportError):  # no plain HTTP on that port
            httpx.get(url.replace("https://", "http://") + "login", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
