"""pytest fixtures for tests against PostgreSQL: a throwaway cluster per test session and a
fresh database per test (docs/scale-out.md, "Testing").

The cluster comes from the machine's own PostgreSQL binaries (``initdb`` and ``pg_ctl`` on
``PATH`` or under ``/usr/lib/postgresql/*/bin``), lives in a temporary directory, listens
on a Unix socket only and never fsyncs. ``initdb`` refuses to run as root, so as root the
cluster belongs to the ``postgres`` user and its commands run through ``runuser``. Without
the binaries, tests that use these fixtures skip and say why. Each test's database is
created and dropped by pytest-postgresql's ``DatabaseJanitor``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import attrs
import pytest

SOCKET_PORT = 5432
"""With no TCP listener the port only names the socket file (``.s.PGSQL.5432``)."""
_counter = itertools.count(1)


@attrs.frozen
class PostgresServer:
    """A running throwaway cluster: where its socket is and who may connect."""

    socket_dir: str
    user: str
    version: str
    port: int = SOCKET_PORT

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for ``dbname`` on this server."""
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str = "postgres") -> str:
        """The same as a ``postgresql://`` URL, the form tradekernel's settings take."""
        return f"postgresql://{self.user}@/{dbname}?host={self.socket_dir}&port={self.port}"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _runner() -> tuple[list[str], str] | str:
    """The command prefix to run PostgreSQL's tools with, and the user they run as; or why
    there is none."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "running as root and there is no postgres user to run initdb as"
    runuser = shutil.which("runuser")
    if runuser is None:
        return "running as root and runuser is missing"
    return [runuser, "-u", "postgres", "--"], "postgres"


def start_server(base: Path) -> tuple[PostgresServer, list[str], str]:
    """Initialise and start a cluster under ``base``; returns the server, the command
    prefix and ``pg_ctl``'s path (to stop it). Raises :class:`RuntimeError` with the reason
    when PostgreSQL is not available here."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl are not installed")
    runner = _runner()
    if isinstance(runner, str):
        raise RuntimeError(runner)
    prefix, user = runner
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir(parents=True)
    if prefix:
        owner = pwd.getpwnam("postgres")
        for path in (base, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    quiet = {"check": True, "capture_output": True, "text": True}
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8"],
        **quiet,
    )
    options = f"-k {sockets} -c listen_addresses='' -c fsync=off -c max_connections=200"
    log = str(base / "server.log")
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-l", log, "-w", "-o", options, "start"], **quiet
    )
    # "initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the third word is the version
    version = subprocess.run([initdb, "--version"], **quiet).stdout.split()[2]
    return PostgresServer(str(sockets), user, version), prefix, pg_ctl


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the test session (skips when unavailable)."""
    base = Path(tempfile.mkdtemp(prefix="tk-pg-"))
    try:
        server, prefix, pg_ctl = start_server(base)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        detail = getattr(exc, "stderr", None) or exc
        pytest.skip(f"no PostgreSQL to test against: {str(detail).strip()[:300]}")
    try:
        yield server
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(base / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's cluster for this test; yields its name."""
    from pytest_postgresql.janitor import DatabaseJanitor

    name = f"tk_test_{os.getpid()}_{next(_counter)}"
    janitor = DatabaseJanitor(
        user=postgres_server.user,
        host=postgres_server.socket_dir,
        port=postgres_server.port,
        dbname=name,
    )
    with janitor:
        yield name


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, postgres_database: str) -> str:
    """A ``postgresql://`` URL to this test's fresh database."""
    return postgres_server.url(postgres_database)
