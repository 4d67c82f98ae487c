"""Releases: immutable, content-addressed, signed bundles of what decides trading.

A release is a directory ``<[deploy] release_dir>/<id>/`` holding ``release.json`` (the
bundle and its metadata), ``release.sig`` (the audit key's signature over it) and
``plugins.toml`` (the configuration file as it was). The id is the first 16 hex digits
of the SHA-256 of the canonical bundle, so the same configuration, policy, prompts,
strategist parameters and plugin versions always make the same release. The bundle:

* ``config``: the configuration file's text and its SHA-256;
* ``strategists``: each selected strategist's effective parameters and their digest
  (what promotion evidence is tied to); ``prompts``: each one's ``prompt_version``;
* ``plugins``: the distribution and version of every selected component's plugin and
  of the kernel;
* ``policy``: when ``[guard.policy]`` names files (``file``, ``*_file``), each file's
  text and SHA-256.

Activation (:mod:`.activation`) makes one of them the agent's configuration.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import frozen
from tradekernel.api import (
    KINDS,
    ConfigError,
    NotFoundError,
    RefusedError,
    Settings,
    __version__,
    current_digest,
    make_dir,
    unstructure,
    utcnow,
)

from .credentials import credential_urls
from .safefile import BUNDLE_LIMIT, SMALL_LIMIT, UnsafeFile, read_small, read_text

SCHEMA = "release.v1"
BUNDLE = "release.json"
SIGNATURE = "release.sig"
CONFIG = "plugins.toml"
ID_LENGTH = 16


@frozen
class Release:
    """A stored release: its id, bundle, metadata and directory."""

    id: str
    sha256: str
    bundle: dict[str, Any]
    meta: dict[str, Any]
    path: Path
    signature: dict[str, Any]


def release_dir(settings: Settings) -> Path:
    """``[deploy] release_dir``, under ``[kernel] state_dir`` when relative."""
    path = Path(settings.deploy.release_dir)
    return path if path.is_absolute() else Path(settings.state_dir) / path


def canonical(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes hashed and signed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- building a bundle ---------------------------------------------------------------


def _config_text(settings: Settings) -> str:
    path = settings.config_path
    if path is None or not Path(path).exists():
        return ""
    try:
        return read_text(Path(path), BUNDLE_LIMIT)
    except OSError as exc:
        raise ConfigError(str(exc) if isinstance(exc, UnsafeFile) else f"{path}: {exc}") from None


def config_sha256(settings: Settings) -> str:
    """The SHA-256 of the configuration ``settings`` were loaded from, as a release's
    bundle records it (``config.sha256``): what a readiness report is bound to. The
    digest taken when they were loaded: a file edited since does not change it."""
    return settings.config_sha256 or sha256(_config_text(settings).encode())


def _secret_free(settings: Settings, text: str, what: str) -> None:
    """A release is stored in the state directory: it must not hold a secret value, nor
    a URL that carries one (:mod:`.credentials`)."""
    if settings.redact(text) != text:
        raise ConfigError(
            f"{what}: holds a secret value; a release is stored on disk, so name the secret "
            "with a *_env key instead; no release was created"
        )
    found = credential_urls(text)
    if found:
        line, why = found[0]
        raise ConfigError(
            f"{what}: line {line} holds a URL with {why}; a release is stored on disk, so "
            "put the URL in the environment (a *_env key) instead; no release was created"
        )


def _distribution_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


def plugins_in_use(kernel: Any) -> dict[str, str]:
    """Distribution -> version of every selected component's plugin, and the kernel."""
    found = {"tradekernel": __version__}
    registry = kernel.registry
    for kind in KINDS:
        for name in kernel.selected(kind):
            spec = registry.spec(kind, kernel.settings.component_use(kind, name))
            if spec.distribution and not spec.distribution.startswith("("):
                found[spec.distribution] = _distribution_version(spec.distribution) or spec.version
    return dict(sorted(found.items()))


def _strategists(kernel: Any) -> tuple[dict[str, Any], dict[str, str]]:
    settings, registry = kernel.settings, kernel.registry
    params: dict[str, Any] = {}
    prompts: dict[str, str] = {}
    for name in kernel.selected("strategist"):
        spec = registry.spec("strategist", settings.component_use("strategist", name))
        config = settings.component_config("strategist", name, spec.config_class)
        data = unstructure(config) if config is not None else None
        params[name] = {
            "component": spec.name,
            "config_digest": current_digest(settings, registry, name),
            "config": data,
        }
        if isinstance(data, dict) and isinstance(data.get("prompt_version"), str):
            prompts[name] = data["prompt_version"]
    return params, prompts


def policy_files(settings: Settings) -> dict[str, Path]:
    """The files ``[guard.policy]`` names (keys ``file`` and ``*_file``), by key."""
    section = settings.component_sections.get("guard", {}).get("policy") or {}
    return {
        key: Path(value)
        for key, value in sorted(section.items())
        if (key == "file" or key.endswith("_file")) and isinstance(value, str) and value
    }


def _policy(settings: Settings) -> dict[str, Any] | None:
    files = policy_files(settings)
    if not files:
        return None
    out: dict[str, Any] = {}
    for key, path in files.items():
        try:
            data = read_small(path, BUNDLE_LIMIT)
        except UnsafeFile as exc:
            raise ConfigError(f"[guard.policy] {key}: {exc}; no release was created") from None
        except OSError as exc:
            raise ConfigError(
                f"[guard.policy] {key}: {path}: cannot read ({exc.strerror}); "
                "no release was created"
            ) from None
        text = data.decode("utf-8", errors="replace")
        _secret_free(settings, text, f"[guard.policy] {key} ({path})")
        out[key] = {"path": str(path), "sha256": sha256(data), "text": text}
    return out


def build_bundle(kernel: Any) -> dict[str, Any]:
    """The bundle of what decides trading under ``kernel``'s settings."""
    settings = kernel.settings
    text = _config_text(settings)
    _secret_free(settings, text, str(settings.config_path or "configuration"))
    strategists, prompts = _strategists(kernel)
    return {
        "schema": SCHEMA,
        "config": {"sha256": sha256(text.encode()), "text": text},
        "strategists": strategists,
        "prompts": prompts,
        "plugins": plugins_in_use(kernel),
        "policy": _policy(settings),
    }


# -- signing and storing ---------------------------------------------------------------


def _document(release_id: str, digest: str, bundle: dict, meta: dict) -> dict[str, Any]:
    return {"id": release_id, "sha256": digest, "bundle": bundle, "meta": meta}


def create(
    kernel: Any, *, note: str = "", actor: str = "operator", now: datetime | None = None
) -> tuple[Release, bool]:
    """Build, sign and store the release of the current configuration. Returns it and
    whether it is new (the same bundle again returns the stored release unchanged)."""
    from tradekernel_audit import signer_from_settings

    settings = kernel.settings
    bundle = build_bundle(kernel)
    digest = sha256(canonical(bundle))
    release_id = digest[:ID_LENGTH]
    root = release_dir(settings)
    target = root / release_id
    if target.exists():
        return load(settings, release_id), False
    signer = signer_from_settings(settings)  # no key: ConfigError, nothing written
    meta = {"created": (now or utcnow()).isoformat(), "created_by": actor, "note": note}
    document = _document(release_id, digest, bundle, meta)
    body = canonical(document)
    signature = {
        "algorithm": signer.algorithm,
        "key_id": signer.key_id,
        "signature": base64.b64encode(signer.sign(body)).decode(),
    }
    make_dir(root)
    scratch = Path(tempfile.mkdtemp(prefix=f".{release_id}-", dir=root))
    try:
        (scratch / BUNDLE).write_bytes(body)
        (scratch / SIGNATURE).write_text(json.dumps(signature, sort_keys=True) + "\n")
        (scratch / CONFIG).write_text(bundle["config"]["text"], encoding="utf-8")
        scratch.rename(target)  # a release appears whole or not at all
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return load(settings, release_id), True


def _bad(release_id: str, why: str) -> RefusedError:
    return RefusedError(f"release {release_id}: {why}; it may not be used")


def load(settings: Settings, release_id: str, *, verify: bool = True) -> Release:
    """The stored release ``release_id`` (a unique prefix of at least 6 digits is
    enough), its signature and content checked: a release that does not verify is
    refused (:class:`RefusedError`)."""
    path = _find(settings, release_id)
    release_id = path.name
    try:
        body = read_small(path / BUNDLE, BUNDLE_LIMIT)
        document = json.loads(body)
        signature = json.loads(read_small(path / SIGNATURE, SMALL_LIMIT))
    except UnsafeFile as exc:
        raise _bad(release_id, str(exc)) from None
    except (OSError, ValueError) as exc:
        raise _bad(release_id, f"unreadable ({type(exc).__name__})") from None
    if not isinstance(document, dict) or not isinstance(signature, dict):
        raise _bad(release_id, "not a release")
    bundle, meta = document.get("bundle"), document.get("meta")
    if not isinstance(bundle, dict) or not isinstance(meta, dict):
        raise _bad(release_id, "not a release")
    digest = sha256(canonical(bundle))
    if document.get("sha256") != digest or digest[:ID_LENGTH] != release_id:
        raise _bad(release_id, "its content does not match its id (altered)")
    if document.get("id") != release_id:
        raise _bad(release_id, "its id does not match its directory")
    if verify:
        _verify(settings, release_id, body, signature)
        config = path / CONFIG
        try:
            text = read_small(config, BUNDLE_LIMIT).decode("utf-8")
        except UnsafeFile as exc:
            raise _bad(release_id, str(exc)) from None
        except (OSError, ValueError):
            raise _bad(release_id, f"{CONFIG} is unreadable") from None
        if sha256(text.encode()) != bundle.get("config", {}).get("sha256"):
            raise _bad(release_id, f"{CONFIG} does not match the signed bundle (altered)")
    return Release(release_id, digest, bundle, meta, path, signature)


def _verify(settings: Settings, release_id: str, body: bytes, signature: dict) -> None:
    from tradekernel_audit import verifiers_from_settings

    try:
        raw = base64.b64decode(str(signature.get("signature", "")), validate=True)
    except ValueError:
        raise _bad(release_id, "its signature is not base64") from None
    for verifier in verifiers_from_settings(settings):
        if verifier.algorithm == signature.get("algorithm") and verifier.key_id == signature.get(
            "key_id"
        ):
            if verifier.verify(body, raw):
                return
            raise _bad(release_id, "its signature does not verify (altered or wrong key)")
    raise _bad(
        release_id,
        f"signed with key {signature.get('key_id')!s:.40} that [audit] does not configure",
    )


def signature_ok(settings: Settings, release_id: str) -> tuple[bool, str]:
    """Whether release ``release_id`` verifies, and the reason when it does not."""
    try:
        release = load(settings, release_id)
    except (RefusedError, NotFoundError, ConfigError) as exc:
        return False, str(exc)
    return True, f"signed with {release.signature.get('key_id')}"


def _find(settings: Settings, release_id: str) -> Path:
    root = release_dir(settings)
    text = release_id.strip().lower()
    if len(text) < 6 or not all(c in "0123456789abcdef" for c in text):
        # a malformed argument is a usage error (exit 2), an unknown id is not found (1)
        raise ConfigError(
            f"release {release_id!r}: not a release id (expected at least 6 hex digits)"
        )
    if (root / text).is_dir():
        return root / text
    matches = [p for p in _dirs(root) if p.name.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise NotFoundError(f"release {release_id}: ambiguous, matches {len(matches)} releases")
    raise NotFoundError(f"release {release_id}: no such release under {root}")


def _dirs(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return iter(())
    return (p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_releases(settings: Settings) -> list[Release]:
    """Every stored release, oldest first; one that does not verify is left out (see
    :func:`problems` for why)."""
    found = []
    for path in _dirs(release_dir(settings)):
        try:
            found.append(load(settings, path.name))
        except (RefusedError, NotFoundError, ConfigError):
            continue
    return sorted(found, key=lambda r: (str(r.meta.get("created", "")), r.id))


def problems(settings: Settings) -> dict[str, str]:
    """Stored releases that do not verify, and why."""
    out = {}
    for path in _dirs(release_dir(settings)):
        try:
            load(settings, path.name)
        except (RefusedError, NotFoundError, ConfigError) as exc:
            out[path.name] = str(exc)
    return out


# -- comparing and using -----------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def diff(a: Release, b: Release) -> list[tuple[str, Any, Any]]:
    """What differs from ``a`` to ``b``: ``(path, value in a, value in b)``; the
    configuration and policy texts compare line by line (``config.text:+line``)."""
    out: list[tuple[str, Any, Any]] = []
    flat_a, flat_b = _flatten(_without_texts(a.bundle)), _flatten(_without_texts(b.bundle))
    for key in sorted(set(flat_a) | set(flat_b)):
        if flat_a.get(key) != flat_b.get(key):
            out.append((key, flat_a.get(key), flat_b.get(key)))
    for key, text_a, text_b in _texts(a.bundle, b.bundle):
        import difflib

        lines = difflib.unified_diff(text_a.splitlines(), text_b.splitlines(), lineterm="", n=0)
        for line in lines:
            if line.startswith(("---", "+++", "@@")):
                continue
            out.append(
                (
                    f"{key}:{line[0]}",
                    line[1:] if line[0] == "-" else None,
                    line[1:] if line[0] == "+" else None,
                )
            )
    return out


def _without_texts(bundle: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(bundle))
    copy.get("config", {}).pop("text", None)
    for entry in (copy.get("policy") or {}).values():
        if isinstance(entry, dict):
            entry.pop("text", None)
    return copy


def _texts(a: dict[str, Any], b: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    yield (
        "config.text",
        str(a.get("config", {}).get("text", "")),
        str(b.get("config", {}).get("text", "")),
    )
    pa, pb = a.get("policy") or {}, b.get("policy") or {}
    for key in sorted(set(pa) | set(pb)):
        yield (
            f"policy.{key}.text",
            str((pa.get(key) or {}).get("text", "")),
            str((pb.get(key) or {}).get("text", "")),
        )


def not_installed(release: Release) -> list[str]:
    """The release's plugin versions that are not installed here, one line each."""
    out = []
    for dist, version in sorted((release.bundle.get("plugins") or {}).items()):
        have = __version__ if dist == "tradekernel" else _distribution_version(dist)
        if have != version:
            out.append(f"{dist} {version} (installed: {have or 'none'})")
    return out


def release_settings(settings: Settings, release_id: str) -> Settings:
    """The settings an agent runs while ``release_id`` is active: its signed
    configuration, with the environment of this process. Refused when it does not
    verify, its plugin versions are not installed, or a policy file changed since."""
    release = load(settings, release_id)
    missing = not_installed(release)
    if missing:
        raise RefusedError(
            f"release {release.id} needs plugin versions that are not installed: "
            + ", ".join(missing)
        )
    loaded = Settings.load(release.path / CONFIG)
    if Path(loaded.state_dir).resolve() != Path(settings.state_dir).resolve():
        raise RefusedError(
            f"release {release.id}: its [kernel] state_dir {loaded.state_dir} is not this "
            f"agent's ({settings.state_dir})"
        )
    for key, entry in (release.bundle.get("policy") or {}).items():
        path = Path(entry["path"])
        try:
            now = sha256(read_small(path, BUNDLE_LIMIT))
        except OSError:
            now = "unreadable"
        if now != entry.get("sha256"):
            raise RefusedError(
                f"release {release.id}: [guard.policy] {key} {path} changed since the "
                "release was created; create a release of the policy in force"
            )
    return loaded
