"""The public API is the only door into the kernel.

First-party plugins (``plugins/``) and contrib code (``contrib/``), code and tests, import
only ``tradekernel`` (``hookimpl``, ``__version__``), ``tradekernel.api`` and
``tradekernel.testing``: exactly what a third party can. The kernel never imports its own
outside face, ``tradekernel.api``. Every public name resolves and is documented.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import tradekernel
import tradekernel.api as api

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "kernel" / "tradekernel"
ALLOWED = {"tradekernel", "tradekernel.api", "tradekernel.testing"}
TOP_LEVEL_NAMES = {"hookimpl", "__version__"}
"""What ``from tradekernel import ...`` may name: the rest of the package is internal."""


def _python_files(*roots: Path) -> list[Path]:
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if not any(part.startswith(".") or part == "build" for part in path.parts)
    )


def internal_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: what`` for each import of an internal kernel module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []

    def internal(module: str) -> bool:
        return module.split(".")[0] == "tradekernel" and module not in ALLOWED

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if internal(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if internal(node.module):
                found.append((node.lineno, f"from {node.module} import ..."))
            elif node.module == "tradekernel":
                found += [
                    (node.lineno, f"from tradekernel import {a.name}")
                    for a in node.names
                    if a.name not in TOP_LEVEL_NAMES
                ]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and internal(first.value)
            ):
                found.append((node.lineno, f"{name}({first.value!r})"))
    return [f"{path.relative_to(root)}:{line}: {what}" for line, what in sorted(found)]


def test_plugins_and_contrib_import_only_the_public_api():
    files = _python_files(ROOT / "plugins", ROOT / "contrib")
    assert len(files) > 50  # the scan sees the first-party plugins
    bad = [line for path in files for line in internal_imports(path)]
    assert not bad, (
        "plugins and contrib may import only tradekernel (hookimpl, __version__), "
        "tradekernel.api and tradekernel.testing; add what they need to "
        "tradekernel.api (documented) instead:\n" + "\n".join(bad)
    )


def test_the_scan_finds_each_form_of_internal_import(tmp_path):
    sample = tmp_path / "plugins" / "x.py"
    sample.parent.mkdir()
    sample.write_text(
        "import tradekernel\n"
        "import tradekernel.api\n"
        "from tradekernel import hookimpl, __version__\n"
        "from tradekernel.api import Bar\n"
        "from tradekernel.testing import KernelFactory\n"
        "from tradekernel_paper import PaperBroker\n"
        "import tradekernel.store\n"
        "from tradekernel.models import Bar\n"
        "from tradekernel import models\n"
        "def f():\n"
        "    import importlib\n"
        "    from tradekernel.cli.context import pass_app\n"
        "    importlib.import_module('tradekernel.kernel')\n"
        "    return __import__('tradekernel.store.db')\n",
        encoding="utf-8",
    )
    assert internal_imports(sample, tmp_path) == [
        "plugins/x.py:7: import tradekernel.store",
        "plugins/x.py:8: from tradekernel.models import ...",
        "plugins/x.py:9: from tradekernel import models",
        "plugins/x.py:12: from tradekernel.cli.context import ...",
        "plugins/x.py:13: import_module('tradekernel.kernel')",
        "plugins/x.py:14: __import__('tradekernel.store.db')",
    ]


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` for each module (or ``from`` name) ``path`` imports, relative
    imports resolved against ``package``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def test_kernel_code_never_imports_the_public_api():
    bad = []
    for path in _python_files(KERNEL):
        if path == KERNEL / "api.py":
            continue
        package = ".".join(path.parent.relative_to(KERNEL.parent).parts)
        bad += [
            f"{path.relative_to(ROOT)}:{line}"
            for line, module in imported_modules(path, package)
            if module == "tradekernel.api"
        ]
    assert not bad, "kernel code imports tradekernel.api (the outside face):\n" + "\n".join(bad)


def test_relative_imports_are_resolved(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("from . import api\nfrom ..api import X\n", encoding="utf-8")
    assert (2, "tradekernel.api") in imported_modules(sample, "tradekernel.cli")
    assert (1, "tradekernel.api") in imported_modules(sample, "tradekernel")


def test_api_version_is_major_minor():
    assert re.fullmatch(r"\d+\.\d+", api.API_VERSION), api.API_VERSION


def test_every_public_name_resolves():
    for name in api.__all__:
        getattr(api, name)  # AttributeError or ImportError names the broken entry
    assert set(dir(api)) >= set(api.__all__)
    assert "tradekernel.api" not in {module for module, _ in api._WHERE.values()}


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        api.Nope  # noqa: B018


def test_top_level_names_stay_public():
    for name in TOP_LEVEL_NAMES:
        assert hasattr(tradekernel, name), name
