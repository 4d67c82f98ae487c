"""``tradekernel plugins new``: write a working plugin distribution from templates.

The templates are package data (``templates/``), not modules: ``{{key}}`` placeholders
filled by plain replacement, so nothing here runs code from them. A generated plugin
imports only ``tradekernel.api`` (``hookimpl`` included) and ``tradekernel.testing``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from ..errors import ConfigError

KINDS = (
    "guard",
    "broker",
    "notifier",
    "metrics_sink",
    "strategist",
    "scanner",
    "skill",
    "market_data",
    "llm_provider",
)
"""The kinds ``plugins new`` can write: every component kind."""

PREFIX = "tradekernel-"
NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*\Z")
MAX_NAME = 40


def check_name(name: str) -> str:
    """``name`` as the plugin's short name (without ``tradekernel-``), or a
    :class:`ConfigError` saying what a name may hold. A name whose distribution
    (``tradekernel-NAME``), package (``tradekernel_NAME``) or entry point (``NAME``) is
    a first-party plugin's or already installed is refused: installing the new plugin
    would replace or clash with that one."""
    short = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    if not NAME.match(short) or len(short) > MAX_NAME:
        raise ConfigError(
            f"plugin name {name!r}: use lower-case letters, digits and single '-' or '_' "
            f"between them, starting with a letter, at most {MAX_NAME} characters "
            "(e.g. 'symbol-blocklist')"
        )
    taken = _taken(short)
    if taken:
        raise ConfigError(
            f"plugin name {name!r}: {taken}; installing the new plugin would replace or "
            f"clash with it: choose another name (e.g. 'my-{short}')"
        )
    return short


def _taken(short: str) -> str | None:
    """What already uses the distribution, package or entry-point name of plugin
    ``short``: a first-party plugin, an installed entry point or distribution, an
    importable package; ``None`` when nothing does."""
    import importlib.util
    from importlib.metadata import distributions, entry_points

    from ..plugins import KNOWN_COMMANDS, KNOWN_DISTRIBUTIONS, _normalise

    dist = _normalise(PREFIX + short)
    package = "tradekernel_" + short.replace("-", "_")
    first_party = {_normalise(d) for d in (*KNOWN_DISTRIBUTIONS.values(), *KNOWN_COMMANDS.values())}
    if dist in first_party:
        return f"{dist} is a first-party distribution (package {package}, entry point {short})"
    for ep in entry_points(group="tradekernel"):
        if _normalise(ep.name) == _normalise(short):
            owner = ep.dist.name if ep.dist else "an installed distribution"
            return f"the tradekernel entry point {ep.name!r} of {owner} is installed"
    for installed in distributions():
        if _normalise(installed.metadata["Name"] or "") == dist:
            return f"the distribution {installed.metadata['Name']} is installed"
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        found = True
    if found:
        return f"a package named {package} is already importable"
    return None


def placeholders(kind: str, name: str) -> dict[str, str]:
    """The values of the templates' ``{{key}}`` placeholders for plugin ``name``."""
    short = check_name(name)
    snake = short.replace("-", "_")
    component = f"{snake}.fetch" if kind == "skill" else snake
    section_name = f'"{component}"' if "." in component else component
    values = {
        "name": short,
        "dist": PREFIX + short,
        "package": "tradekernel_" + snake,
        "component": component,
        "class": "".join(part.capitalize() for part in re.split(r"[-_]", short)),
        "kind": kind,
        "kind_words": kind.replace("_", " "),
        "env": snake.upper(),
        "section": f"[{kind}.{section_name}]",
    }
    section = values["section"]
    # as a Python string literal, quoted the way ruff format would quote it
    values["section_py"] = f"'{section}'" if '"' in section else f'"{section}"'
    return values


def _template(*parts: str) -> str:
    return resources.files(__package__).joinpath("templates", *parts).read_text("utf-8")


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every ``{{key}}`` replaced by ``values[key]``."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)


def render(kind: str, name: str) -> dict[str, str]:
    """Every file of the new distribution: relative path -> text."""
    if kind not in KINDS:
        raise ConfigError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    values = placeholders(kind, name)
    values["plugins_toml"] = fill(_template(kind, "plugins.toml.tmpl"), values).strip()
    package, snake = values["package"], values["component"].split(".")[0]
    return {
        "pyproject.toml": fill(_template("pyproject.toml.tmpl"), values),
        "README.md": fill(_template("README.md.tmpl"), values),
        f"{package}/__init__.py": fill(_template(kind, "plugin.py.tmpl"), values),
        "tests/conftest.py": fill(_template("conftest.py.tmpl"), values),
        f"tests/test_{snake}.py": fill(_template(kind, "test.py.tmpl"), values),
    }


def write(kind: str, name: str, directory: Path) -> list[Path]:
    """Write the distribution into ``directory``, which must not exist yet; returns the
    files written."""
    files = render(kind, name)
    try:
        directory.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise ConfigError(f"{directory}: already exists; choose another --dir") from None
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
