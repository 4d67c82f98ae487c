"""Generate ``docs/api.md`` from the docstrings of ``tradekernel.api`` and ``tradekernel.testing``.

    scripts/apidoc            print the document
    scripts/apidoc --write    write docs/api.md
    scripts/apidoc --check    exit 1 when docs/api.md is not what the code says

The document is a pure function of the code: names in a fixed order, signatures with
their annotations as written, attrs fields with the attribute docstrings under them
(``x: int`` followed by a string literal), constants with theirs. A constant or alias
is documented by such an attribute docstring where it is assigned; a class or function
by its own ``__doc__``. :func:`undocumented` lists what lacks one.
"""

from __future__ import annotations

import argparse
import ast
import enum
import functools
import importlib
import inspect
import itertools
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
COMMAND = "scripts/apidoc --write"
TESTING = "tradekernel.testing"


# -- reading the source ----------------------------------------------------------------


def clean(text: str | None) -> str:
    """A docstring as Markdown: dedented, Sphinx roles and literals as code spans."""
    text = inspect.cleandoc(text or "")
    text = re.sub(r":pep:`(\d+)`", r"PEP \1", text)
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    return re.sub(r"::$", ":", text, flags=re.M)


def attribute_docs(body: list[ast.stmt]) -> dict[str, str]:
    """``name -> docstring`` for each ``name = ...`` / ``name: T`` followed by a string."""
    docs: dict[str, str] = {}
    for stmt, following in itertools.pairwise(body):
        if not (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            continue
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        for target in targets:
            if isinstance(target, ast.Name):
                docs[target.id] = following.value.value
            elif isinstance(target, ast.Attribute):  # self.x = ... in __init__
                docs[target.attr] = following.value.value
    return docs


@functools.cache
def module_tree(module: str) -> ast.Module:
    return ast.parse(inspect.getsource(importlib.import_module(module)))


def constant_doc(module: str, name: str) -> str:
    """The attribute docstring of module-level ``name`` in ``module`` (or ``""``)."""
    return attribute_docs(module_tree(module).body).get(name, "")


def class_attribute_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of ``cls``'s body (and ``self.x`` ones in ``__init__``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    node = tree.body[0]
    if not isinstance(node, ast.ClassDef):
        return {}
    docs = attribute_docs(node.body)
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            docs = {**attribute_docs(item.body), **docs}
    return docs


def doc_of(module: str, attr: str, obj: Any) -> str:
    """``obj``'s own docstring, a click command's help, else the attribute docstring
    under ``attr``'s assignment in ``module`` (constants, aliases, decorator objects)."""
    return own_doc(obj) or getattr(obj, "help", None) or constant_doc(module, attr)


def source_annotations(cls: type) -> dict[str, str]:
    """Annotations of ``cls`` and its bases as written in the source: ``attrs`` fields'
    ``type`` becomes the evaluated type once anything resolves them (cattrs does)."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            node = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0]
        except (OSError, TypeError, SyntaxError):
            continue
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    found[stmt.target.id] = ast.unparse(stmt.annotation)
    return found


def own_doc(obj: Any) -> str:
    """The docstring ``obj`` defines itself (not one inherited from its class or base)."""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__") or ""
    if inspect.isroutine(obj) or isinstance(obj, property):
        return getattr(obj, "__doc__", None) or ""
    return ""


# -- the public names ----------------------------------------------------------------


class _Annotation(str):
    """An annotation kept as written (``from __future__ import annotations``)."""

    def __repr__(self) -> str:
        return str(self)


def signature(obj: Callable[..., Any], *, drop_self: bool = False) -> str:
    """``(params) -> return`` with annotations as written in the source."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"

    def ann(value: Any) -> Any:
        if value is inspect.Parameter.empty:
            return value
        return _Annotation(value if isinstance(value, str) else inspect.formatannotation(value))

    def default(value: Any) -> Any:
        if inspect.isroutine(value):  # a function's repr holds its address
            return _Annotation(getattr(value, "__qualname__", "function"))
        if isinstance(value, enum.Enum):
            return _Annotation(short_repr(value))
        return value

    params = [
        p.replace(annotation=ann(p.annotation), default=default(p.default))
        for p in sig.parameters.values()
    ]
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return str(sig.replace(parameters=params, return_annotation=ann(sig.return_annotation)))


def public_names() -> list[tuple[str, str, str]]:
    """``(public name, internal module, internal name)`` for every ``tradekernel.api`` name."""
    api = importlib.import_module("tradekernel.api")
    rows = [("API_VERSION", "tradekernel", "API_VERSION")]
    rows += [(name, *api._WHERE[name]) for name in api.__all__ if name != "API_VERSION"]
    return rows


def testing_names() -> list[tuple[str, str, str]]:
    """``(name, defining module, name)`` for every name in ``tradekernel.testing.__all__``
    (wherever it is defined: the contract classes and helpers live in
    ``tradekernel.contracts``, the HTTP receiver in ``tradekernel.testing_http``), plus
    the helpers it imports on first use (``_ELSEWHERE``)."""
    testing = importlib.import_module(TESTING)
    rows = []
    for name in testing.__all__:
        value = getattr(testing, name)
        module = getattr(value, "__module__", None)
        if not (inspect.isclass(value) or inspect.isroutine(value)) or not module:
            module = next(
                (m for m in (TESTING, *TESTING_SOURCES) if constant_doc(m, name)), TESTING
            )
        rows.append((name, module, name))
    for name, module in getattr(testing, "_ELSEWHERE", {}).items():
        rows.append((name, module, name))
    return sorted(set(rows))


TESTING_SOURCES = ("tradekernel.contracts", "tradekernel.testing_http")
"""Where ``tradekernel.testing`` imports its constants from (for their docstrings)."""


def resolve(module: str, attr: str) -> Any:
    return getattr(importlib.import_module(module), attr)


def is_protocol(obj: Any) -> bool:
    return inspect.isclass(obj) and bool(getattr(obj, "_is_protocol", False))


def is_exception(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseException)


SECTIONS: list[tuple[str, str, Callable[[str, str, Any], bool]]] = [
    (
        "Hooks",
        "Mark each hook implementation with `hookimpl`; the hooks are listed under "
        "[Hook specifications](#hook-specifications).",
        lambda name, module, obj: module == "tradekernel.hookspecs",
    ),
    (
        "Component protocols",
        "What each kind of component must provide. Protocols are structural: no base "
        "class is required; the kernel checks the methods when it builds the component.",
        lambda name, module, obj: is_protocol(obj),
    ),
    (
        "Contexts and component values",
        "What the kernel hands components, and what some of them return.",
        lambda name, module, obj: module == "tradekernel.components" and not is_exception(obj),
    ),
    (
        "Errors and outcomes",
        "Exceptions a component raises or a command maps to an exit code.",
        lambda name, module, obj: is_exception(obj) or module == "tradekernel.errors",
    ),
    (
        "Models",
        "Frozen attrs classes; money, prices and quantities are `Decimal`, times are "
        "timezone-aware UTC `datetime`s.",
        lambda name, module, obj: module in ("tradekernel.models", "tradekernel.llm"),
    ),
    (
        "Config validators",
        "For the attrs config classes components declare (`register(..., config=Cls)`).",
        lambda name, module, obj: module == "tradekernel.sections",
    ),
    (
        "Events and the event log",
        "Reading and writing the recorded events (`event.v1`, docs/events.md).",
        lambda name, module, obj: module in ("tradekernel.eventlog", "tradekernel.event_schema"),
    ),
    (
        "Kernel, state and settings",
        "Read access to the running kernel, its settings and its state database.",
        lambda name, module, obj: (
            module in ("tradekernel.kernel", "tradekernel.settings", "tradekernel.plugins")
            or module.startswith("tradekernel.store")
            or module == "tradekernel.risk"
        ),
    ),
    (
        "Notifier delivery helpers",
        "HTTP delivery with retries, shared by the notifier plugins.",
        lambda name, module, obj: module.startswith("tradekernel.notify"),
    ),
    (
        "Commands",
        "For `register_commands(cli)`: the application context and JSON output.",
        lambda name, module, obj: module.startswith("tradekernel.cli"),
    ),
    ("Helpers", "", lambda name, module, obj: True),
]


def section_of(name: str, module: str, obj: Any) -> str:
    return next(title for title, _, test in SECTIONS if test(name, module, obj))


# -- rendering -----------------------------------------------------------------------


def short_repr(value: Any, limit: int = 90) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    text = repr(value)
    if isinstance(value, frozenset | set):
        text = "{" + ", ".join(repr(v) for v in sorted(value, key=repr)) + "}"
    if len(text) > limit:
        text = f"{type(value).__name__} of {len(value)}" if hasattr(value, "__len__") else "..."
    if re.search(r" at 0x[0-9a-f]+", text):
        text = f"<{type(value).__name__}>"
    return text


def field_default(a: attrs.Attribute) -> str:
    if a.default is attrs.NOTHING:
        return "required"
    if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
        factory = a.default.factory
        return f"`{getattr(factory, '__name__', 'factory')}()`"
    return f"`{short_repr(a.default)}`"


def table_cell(text: str) -> str:
    return " ".join(clean(text).split()).replace("|", "\\|")


def render_fields(cls: type) -> list[str]:
    docs = class_attribute_docs(cls)
    written = source_annotations(cls)
    lines = ["", "| field | type | default | description |", "|---|---|---|---|"]
    for a in attrs.fields(cls):
        if a.name.startswith("_"):
            continue
        kind = written.get(a.name) or inspect.formatannotation(a.type)
        lines.append(
            f"| `{a.name}` | `{table_cell(kind)}` | {field_default(a)} "
            f"| {table_cell(docs.get(a.name, ''))} |"
        )
    return lines


def members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties ``cls`` defines itself, in source order."""
    for name, value in cls.__dict__.items():
        if name.startswith("_"):
            continue
        func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        if inspect.isfunction(func) or isinstance(value, property):
            yield name, value


def render_member(name: str, value: Any) -> list[str]:
    if isinstance(value, property):
        ret = value.fget.__annotations__.get("return", "") if value.fget else ""
        head = f"- `{name}` (property{', ' + ret if ret else ''})"
        doc = own_doc(value.fget) if value.fget else ""
    else:
        func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        prefix = "classmethod " if isinstance(value, classmethod) else ""
        prefix = "staticmethod " if isinstance(value, staticmethod) else prefix
        head = f"- {prefix}`{name}{signature(func, drop_self=not prefix.startswith('static'))}`"
        doc = own_doc(func)
    body = clean(doc)
    if not body:
        return [head]
    return [head + ":", *("  " + line if line else "" for line in body.splitlines())]


def render_class(name: str, cls: type) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object and b.__name__ != "Generic"]
    lines = [f"### `{name}`", ""]
    if not attrs.has(cls) and not issubclass(cls, enum.Enum):
        init = cls.__dict__.get("__init__")
        sig = signature(init, drop_self=True) if inspect.isfunction(init) else ""
        if is_protocol(cls):
            lines += [f"protocol `{name}`", ""]
        else:
            base = f", a subclass of `{'`, `'.join(bases)}`" if bases else ""
            lines += [f"class `{name}{sig}`{base}", ""]
    lines.append(clean(own_doc(cls)) or "*(undocumented)*")
    if attrs.has(cls):
        lines += render_fields(cls)
    elif issubclass(cls, enum.Enum):
        lines += ["", "| member | value |", "|---|---|"]
        lines += [f"| `{m.name}` | `{m.value!r}` |" for m in cls]
    attributes = class_attribute_docs(cls)
    own_annotations = {
        name: kind
        for name, kind in source_annotations(cls).items()
        if name in inspect.get_annotations(cls)
    }
    extra = [
        a
        for a in attributes
        if not attrs.has(cls) and (a in own_annotations or is_exception(cls) or is_protocol(cls))
    ]
    extra += [a for a in own_annotations if a not in extra and not attrs.has(cls)]
    methods = list(members(cls))
    if extra or methods:
        lines.append("")
    for attr in extra:
        kind = own_annotations.get(attr, "")
        head = f"- `{attr}`" + (f": `{kind}`" if kind else "")
        doc = table_cell(attributes.get(attr, ""))
        lines.append(head + (f": {doc}" if doc else ""))
    for member, value in methods:
        lines += render_member(member, value)
    return lines


def render(name: str, module: str, attr: str) -> list[str]:
    obj = resolve(module, attr)
    alias = f" (defined as `{attr}`)" if attr != name else ""
    if inspect.isclass(obj):
        lines = render_class(name, obj)
        if alias:
            lines[0] += alias
        return lines
    doc = clean(doc_of(module, attr, obj))
    if inspect.isroutine(obj):
        ours = getattr(obj, "__module__", "").split(".")[0] == "tradekernel"
        # a function another library made (click's pass decorator): its signature is
        # that library's typing, which changes with its version
        sig = f"`{name}{signature(obj)}`" if ours else f"`{name}`"
        return [f"### `{name}`{alias}", "", sig, "", doc]
    return [f"### `{name}`{alias}", "", f"`{name} = {short_repr(obj)}`", "", doc]


def render_hookspecs() -> list[str]:
    hookspecs = importlib.import_module("tradekernel.hookspecs")
    lines = ["## Hook specifications", "", clean(hookspecs.__doc__), ""]
    for name, func in vars(hookspecs).items():
        if inspect.isfunction(func) and hasattr(func, "tradekernel_spec"):
            lines += [f"### `{name}{signature(func)}`", "", clean(func.__doc__), ""]
    return lines


def render_policy() -> list[str]:
    api = importlib.import_module("tradekernel.api")
    return ["## The API and its compatibility policy", "", clean(api.__doc__), ""]


def document() -> str:
    """The whole of ``docs/api.md``."""
    api = importlib.import_module("tradekernel.api")
    lines = [
        "# The plugin API (`tradekernel.api`)",
        "",
        f"<!-- Generated from the docstrings by `{COMMAND}`: edit the code, not this file. -->",
        "",
        f"API version **{api.API_VERSION}**. A plugin imports only `tradekernel.api` "
        "(and `tradekernel.testing` in its tests); every other `tradekernel` module is "
        "internal. `tests/kernel/test_public_api.py` holds the first-party plugins to "
        "that. How to write a plugin: [plugin-authoring.md](plugin-authoring.md).",
        "",
    ]
    grouped: dict[str, list[tuple[str, str, str]]] = {title: [] for title, _, _ in SECTIONS}
    for row in public_names():
        name, module, attr = row
        grouped[section_of(name, module, resolve(module, attr))].append(row)
    lines += ["## Contents", ""]
    lines += [f"- [{title}](#{anchor(title)})" for title, _, _ in SECTIONS if grouped[title]]
    lines += [
        "- [Hook specifications](#hook-specifications)",
        "- [Test helpers: `tradekernel.testing`](#test-helpers-tradekerneltesting)",
        "",
    ]
    lines += render_policy()
    for title, intro, _ in SECTIONS:
        if not grouped[title]:
            continue
        lines += [f"## {title}", ""] + ([intro, ""] if intro else [])
        for row in sorted(
            grouped[title], key=lambda r: (not inspect.isclass(resolve(*r[1:])), r[0].lower())
        ):
            lines += [*render(*row), ""]
    lines += render_hookspecs()
    testing = importlib.import_module(TESTING)
    lines += ["## Test helpers: `tradekernel.testing`", "", clean(testing.__doc__), ""]
    for row in testing_names():
        lines += [*render(*row), ""]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.rstrip() + "\n"


def anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


# -- what lacks a docstring ----------------------------------------------------------


def undocumented() -> list[str]:
    """Public names, protocol methods and model fields without a docstring."""
    missing = []
    for _name, module, attr in [*public_names(), *testing_names()]:
        obj = resolve(module, attr)
        where = f"{module}.{attr}"
        if not doc_of(module, attr, obj).strip():
            missing.append(where)
        if is_protocol(obj):
            missing += [
                f"{where}.{member}"
                for member, value in members(obj)
                if not own_doc(value.fget if isinstance(value, property) else value).strip()
            ]
        if inspect.isclass(obj) and attrs.has(obj) and module in FIELD_DOCS_REQUIRED:
            docs = class_attribute_docs(obj)
            missing += [f"{where}.{a.name}" for a in attrs.fields(obj) if not docs.get(a.name)]
    return missing


FIELD_DOCS_REQUIRED = ("tradekernel.models", "tradekernel.components", "tradekernel.llm")
"""The modules whose public attrs classes document every field (the contracts)."""


API_SOURCE = ROOT / "kernel" / "tradekernel" / "api.py"
TYPE_CHECKING_LINE = "if TYPE_CHECKING:  # what static checkers and editors see, from _PUBLIC\n"


def type_checking_block() -> str:
    """``api.py``'s re-exports for static checkers, one import per public name, made from
    ``_PUBLIC`` so that the map is the one place a public name is added."""
    api = importlib.import_module("tradekernel.api")
    lines = []
    for name, (module, attr) in sorted(api._WHERE.items(), key=lambda i: (i[1], i[0])):
        source = "." + module.removeprefix("tradekernel").lstrip(".")
        alias = f" as {name}" if attr != name else ""
        lines.append(f"    from {source} import {attr}{alias}\n")
    return TYPE_CHECKING_LINE + "".join(lines)


def api_source() -> str:
    """``api.py`` with its ``TYPE_CHECKING`` block as :func:`type_checking_block` makes it."""
    text = API_SOURCE.read_text(encoding="utf-8")
    head = text.split("\nif TYPE_CHECKING:", 1)[0]
    return head + "\n" + type_checking_block()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/apidoc", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="exit 1 when it differs")
    args = parser.parse_args(argv)
    text = document()
    source = api_source()
    if args.write:
        API_SOURCE.write_text(source, encoding="utf-8")
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)} and the re-exports of {API_SOURCE.name}")
        return 0
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        stale = [DOC] if current != text else []
        if API_SOURCE.read_text(encoding="utf-8") != source:
            stale.append(API_SOURCE)
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run {COMMAND}", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
