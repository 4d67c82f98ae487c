"""deploy/systemd: every unit passes ``systemd-analyze verify`` and every timer's
calendar parses (``systemd-analyze calendar``); the agent unit is hardened.

``verify`` needs the binaries a unit runs to exist, so it checks a copy whose
``/opt/tradekernel/bin/tradekernel`` is this checkout's installed ``tradekernel``: the
units themselves are checked, only that path is replaced."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/tradekernel/bin/tradekernel"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def _copy(tmp_path: Path, text_of: dict[str, str] | None = None) -> list[Path]:
    tradekernel = Path(sys.executable).with_name("tradekernel")
    assert tradekernel.exists(), tradekernel
    out = []
    for path in sorted(UNITS.iterdir()):
        text = (text_of or {}).get(path.name, path.read_text())
        target = tmp_path / path.name
        target.write_text(text.replace(INSTALLED, str(tradekernel)))
        out.append(target)
    return out


def _verify(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ANALYZE, "verify", *map(str, paths)], capture_output=True, text=True, timeout=120
    )


@needs_analyze
def test_every_unit_verifies_without_a_warning(tmp_path):
    paths = _copy(tmp_path)
    assert {p.suffix for p in paths} == {".service", ".timer"}
    result = _verify(paths)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_analyze
@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda t: t.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"), "Unknown key"),
        (lambda t: t.replace(INSTALLED + " run", "/nonexistent/tradekernel run"), "not executable"),
    ],
)
def test_verify_finds_a_broken_unit(tmp_path, change, complaint):
    agent = "tradekernel-agent.service"
    result = _verify(_copy(tmp_path, {agent: change((UNITS / agent).read_text())}))
    assert complaint in result.stderr


@needs_analyze
def test_every_timer_calendar_parses_and_has_its_service():
    timers = sorted(UNITS.glob("*.timer"))
    assert [t.stem for t in timers] == [
        "tradekernel-audit",
        "tradekernel-backup",
        "tradekernel-ops",
    ]
    for timer in timers:
        assert (UNITS / f"{timer.stem}.service").exists()
        calendar = _unit(timer.name)["Timer"]["OnCalendar"]
        result = subprocess.run(
            [ANALYZE, "calendar", calendar], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and "Next elapse" in result.stdout, (calendar, result)
    bad = subprocess.run([ANALYZE, "calendar", "*:0/61x"], capture_output=True, timeout=60)
    assert bad.returncode != 0


def test_the_agent_unit_checks_the_configuration_and_is_hardened():
    unit = _unit("tradekernel-agent.service")
    service = unit["Service"]
    assert service["ExecStartPre"] == f"{INSTALLED} config check"
    assert service["ExecStart"].startswith(f"{INSTALLED} run --every ")
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == service["WorkingDirectory"] == "/var/lib/tradekernel"
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert service["RestartPreventExitStatus"] == "2 3"
    assert int(unit["Unit"]["StartLimitBurst"]) > 0 and unit["Unit"]["StartLimitIntervalSec"]
    for name in ("ops", "backup", "audit"):
        oneshot = _unit(f"tradekernel-{name}.service")["Service"]
        assert oneshot["Type"] == "oneshot" and oneshot["ProtectSystem"] == "strict"
        assert oneshot["ReadWritePaths"] == "/var/lib/tradekernel"


SERVICES = ["agent", "ops", "backup", "audit"]
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateMounts": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictRealtime": "yes",
    "RestrictNamespaces": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "LockPersonality": "yes",
    "RemoveIPC": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "CapabilityBoundingSet": "",
}


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_is_hardened_alike(name):
    service = _unit(f"tradekernel-{name}.service")["Service"]
    assert {k: service.get(k) for k in HARDENING} == HARDENING
    assert "ProtectProc" not in service  # `tradekernel health` reads /proc/locks


@needs_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_every_service_scores_ok_in_systemd_analyze_security(name):
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(UNITS / f"tradekernel-{name}.service")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    if found is None:
        pytest.skip(f"this systemd-analyze has no offline security check: {result.stderr[:80]}")
    assert float(found.group(1)) <= 3.5, result.stdout[-400:]
