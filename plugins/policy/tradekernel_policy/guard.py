"""The ``policy`` guard: evaluates the active policy file on every intent.

Loading verifies the file's signature first (when ``[policy] require_signature``, and
whenever a signature file is present), then compiles the very bytes that verified. A
load is journaled (control ``policy:<guard>``: name, version, sha256, signer) and emits
``policy.loaded``. At each cycle boundary the guard looks at the file again: a changed
file replaces the policy only once it verifies and compiles; otherwise the old policy
stays and ``policy.load_failed`` (severity ``error``) is emitted once per bad version.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from attrs import field, frozen
from tradekernel.api import (
    ConfigError,
    GuardContext,
    GuardVerdict,
    Intent,
    RefusedError,
    current_cycle_id,
    utcnow,
)

from .config import PolicyGuardConfig
from .evaluate import Evaluator
from .language import Policy, PolicyError, compile_bytes, read_policy
from .signing import SignatureProblem, Signed, signature_path, verify_bytes

CONTROL_PREFIX = "policy:"
"""The control key a load is journaled under: ``policy:<guard name>``."""
RECORD_FAILED = "policy_record_failed"
"""The deny code when the evaluation cannot be recorded in ``policy.db`` (``record``)."""


@frozen
class Loaded:
    """A policy that loaded: compiled, and its signature when it had one."""

    policy: Policy
    signed: Signed | None
    data: bytes = field(default=b"", eq=False, repr=False)
    """The policy file's bytes, as verified and compiled."""
    signature: bytes | None = field(default=None, eq=False, repr=False)
    """The signature file's bytes, when signed."""

    @property
    def signer(self) -> str:
        return self.signed.signer if self.signed is not None else "unsigned"

    def control_value(self, path: Path) -> dict[str, Any]:
        """What the journal keeps about this load."""
        p = self.policy
        return {
            "name": p.name,
            "version": p.version,
            "label": p.label,
            "sha256": p.sha256,
            "signer": self.signer,
            "key_id": self.signed.key_id if self.signed else "",
            "file": str(path),
        }


def requires_signature(settings: Any) -> bool:
    """``[policy] require_signature``; unset: true whenever live trading is possible."""
    chosen = settings.policy.require_signature
    if chosen is not None:
        return bool(chosen)
    return settings.kernel.mode == "live" or bool(settings.kernel.live_acknowledged)


def policy_path(settings: Any, file: str) -> Path:
    """``file`` itself when absolute, else relative to the configuration file's directory
    (the current directory when there is no configuration file)."""
    path = Path(file).expanduser()
    if path.is_absolute():
        return path
    base = settings.config_path.parent if settings.config_path is not None else Path.cwd()
    return base / path


def load(settings: Any, path: Path, *, require: bool) -> Loaded:
    """Verify (when required or signed) and compile the policy at ``path``.

    Raises :class:`SignatureProblem` for an unsigned (when required) or tampered policy,
    :class:`PolicyError` for one that does not compile."""
    data = read_policy(path)
    signed = signature = None
    if require or signature_path(path).exists():
        signed = verify_bytes(settings, path, data)
        try:
            signature = signature_path(path).read_bytes()
        except OSError:
            signature = None
    return Loaded(compile_bytes(data, str(path)), signed, data, signature)


COPIES_DIR = "policies"
"""Under ``[kernel] state_dir``: a copy of every policy loaded, ``<sha256>.toml`` (and
``<sha256>.toml.sig`` when signed), so the audit archive of a day holds the policies in
force that day whatever became of the live file."""


def keep_copy(state_dir: Path, loaded: Loaded) -> None:
    """Write the content-addressed copy of ``loaded`` (once per content)."""
    folder = Path(state_dir) / COPIES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (
        (f"{loaded.policy.sha256}.toml", loaded.data),
        (f"{loaded.policy.sha256}.toml.sig", loaded.signature),
    ):
        target = folder / name
        if data is None or (target.exists() and target.read_bytes() == data):
            continue
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, target)


def _stamp(path: Path) -> tuple[Any, ...]:
    out: list[Any] = []
    for p in (path, signature_path(path)):
        try:
            st = os.stat(p)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class PolicyGuard:
    """Denies or allows each intent as the active policy decides; the verdict names the
    rule (``rule``) and the policy's version (``version``), and carries the approvals a
    ``require_approvals`` rule asks for."""

    def __init__(self, config: PolicyGuardConfig, ctx: Any) -> None:
        self.name = ctx.name or "policy"
        self.settings = ctx.settings
        self.emit = ctx.emit
        self.state_dir = Path(ctx.state_dir)
        self.path = policy_path(ctx.settings, config.file)
        self.require = requires_signature(ctx.settings)
        self.check_only = ctx.check_only
        stamp = _stamp(self.path)  # before reading: a change made meanwhile is seen later
        try:
            loaded = load(self.settings, self.path, require=self.require)
        except SignatureProblem as exc:
            raise RefusedError(f"[guard.{self.name}] file: refusing the policy: {exc}") from None
        except PolicyError as exc:
            raise ConfigError(f"[guard.{self.name}] file: {exc}") from None
        self._use(loaded)
        self._stamp = stamp
        self._failed: tuple[Any, ...] | None = None
        self._cycle: str | None = None
        self._record_failed: str | None = None  # the cycle whose records failed
        self.recorder = None
        if not self.check_only:
            self._journal(loaded, reload=False)
            if config.record:
                from .records import Recorder

                self.recorder = Recorder(self.state_dir, redact=self.settings.redact)

    @property
    def codes(self) -> tuple[str, ...]:
        """The deny codes the active policy can give (and :data:`RECORD_FAILED`)."""
        return (*self.loaded.policy.codes, RECORD_FAILED)

    def _use(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.evaluator = Evaluator(loaded.policy)

    def _journal(self, loaded: Loaded, *, reload: bool, emit: Any = None) -> None:
        from tradekernel.api import open_store

        value = loaded.control_value(self.path)
        keep_copy(self.state_dir, loaded)
        store = open_store(self.settings, redact=self.settings.redact)
        try:
            store.set_control(
                CONTROL_PREFIX + self.name,
                value,
                actor="policy",
                reason="policy reloaded" if reload else "policy loaded",
            )
        finally:
            store.close()
        (emit or self.emit)(
            "policy", "loaded", severity="info", guard=self.name, reload=reload, **value
        )

    def reload_if_changed(self, *, emit: Any = None) -> bool:
        """Look at the file again: swap in a changed policy once it verifies and compiles
        (journaled, ``policy.loaded``); keep the old one and emit ``policy.load_failed``
        otherwise. Returns whether a new policy is now active. ``emit`` replaces the
        component's own for these events (an observer's bus)."""
        if self.check_only:
            return False
        emit = emit or self.emit
        stamp = _stamp(self.path)
        if stamp == self._stamp or stamp == self._failed:
            return False
        try:
            loaded = load(self.settings, self.path, require=self.require)
        except (SignatureProblem, PolicyError) as exc:
            self._failed = stamp
            emit(
                "policy",
                "load_failed",
                severity="error",
                guard=self.name,
                file=str(self.path),
                error=str(exc),
                kept=self.loaded.policy.label,
            )
            return False
        if (
            loaded.policy.sha256 == self.loaded.policy.sha256
            and loaded.signed == self.loaded.signed
        ):
            self._stamp = stamp
            self._failed = None
            return False
        # Journal first, then swap: the journal never names another policy than the
        # one enforced. A failed write keeps the old policy and the old stamp, so the
        # next cycle boundary tries again.
        try:
            self._journal(loaded, reload=True, emit=emit)
        except Exception as exc:  # any store failure keeps the old policy
            emit(
                "policy",
                "load_failed",
                severity="error",
                guard=self.name,
                file=str(self.path),
                error=f"cannot journal the new policy: {type(exc).__name__}: {exc}",
                kept=self.loaded.policy.label,
            )
            return False
        previous = self.loaded
        self._use(loaded)
        self._stamp = stamp
        self._failed = None
        if loaded.signed is None and previous.signed is not None:
            # allowed (signatures are not required here), but never silently
            emit(
                "policy",
                "signature_dropped",
                severity="warning",
                guard=self.name,
                file=str(self.path),
                was=previous.signer,
                label=loaded.policy.label,
            )
        return True

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        cycle = current_cycle_id()
        if cycle != self._cycle:  # a cycle boundary: the only place a policy changes
            self._cycle = cycle
            self.reload_if_changed()
        verdict = self.evaluator.verdict(self.name, intent, ctx)
        if self.recorder is not None:
            return self._recorded(intent, ctx, verdict, cycle)
        return verdict

    def _recorded(
        self, intent: Intent, ctx: GuardContext, verdict: GuardVerdict, cycle: str | None
    ) -> GuardVerdict:
        """``verdict`` once recorded; a deny (:data:`RECORD_FAILED`) when it cannot be.
        After a failure the rest of the cycle is denied at once (no wait on a lock per
        intent), with one warning event; the next cycle tries again."""
        import sqlite3

        if self._record_failed is None or self._record_failed != cycle:
            try:
                self.recorder.record(self.name, intent, ctx, verdict, utcnow())
                self._record_failed = None
                return verdict
            except (sqlite3.Error, OSError) as exc:
                self._record_failed = cycle
                self.emit(
                    "policy",
                    "record_failed",
                    severity="warning",
                    guard=self.name,
                    file=str(self.recorder.path),
                    error=f"{type(exc).__name__}: {exc}",
                )
        return GuardVerdict(
            guard=self.name,
            allow=False,
            code=RECORD_FAILED,
            detail=f"{self.recorder.path}: the evaluation cannot be recorded; denied",
            rule=verdict.rule,
            version=verdict.version,
        )

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
