"""docs/api.md is generated from the docstrings (scripts/apidoc) and matches the code;
every public name, protocol method and contract field has a docstring."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "apidoc.py"


@pytest.fixture(scope="module")
def apidoc():
    spec = importlib.util.spec_from_file_location("apidoc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["apidoc"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("apidoc", None)


@pytest.fixture(scope="module")
def generated(apidoc):
    return apidoc.document()


def test_docs_api_md_matches_the_code(apidoc, generated):
    current = apidoc.DOC.read_text(encoding="utf-8")
    assert current == generated, f"docs/api.md is out of date: run {apidoc.COMMAND}"


def test_every_public_name_is_documented(apidoc):
    missing = apidoc.undocumented()
    assert not missing, (
        "public names without a docstring (a class or function: its own docstring; a "
        "constant: a string literal right under its assignment):\n" + "\n".join(missing)
    )


def test_the_document_is_deterministic(apidoc, generated):
    import attrs
    import tradekernel.api as api

    for name in api.__all__:  # what cattrs does to the classes it structures
        value = getattr(api, name)
        if isinstance(value, type) and attrs.has(value):
            attrs.resolve_types(value)
    assert apidoc.document() == generated
    assert not re.search(r" at 0x[0-9a-f]+", generated)


def test_the_document_covers_the_contracts(generated):
    for protocol in (
        "Broker",
        "MarketData",
        "Strategist",
        "Scanner",
        "Skill",
        "Guard",
        "Notifier",
        "MetricsSink",
        "LLMProvider",
    ):
        assert f"### `{protocol}`\n\nprotocol `{protocol}`" in generated, protocol
    assert "- `submit(request: OrderRequest) -> Order`:" in generated
    for context in ("ComponentContext", "GuardContext", "StrategyInput"):
        assert f"### `{context}`" in generated, context
    assert "| `last` | `Decimal` | required |" in generated  # fields with types
    assert "### `register_guards(register)`" in generated  # the hookspecs
    assert "### `KernelFactory`" in generated  # tradekernel.testing
    assert 'TRADEKERNEL_API = ">=1.0,<2"' in generated  # the policy


def test_check_mode_fails_on_drift(apidoc, tmp_path, monkeypatch, capsys):
    stale = tmp_path / "api.md"
    stale.write_text("# stale\n", encoding="utf-8")
    monkeypatch.setattr(apidoc, "DOC", stale)
    monkeypatch.setattr(apidoc, "ROOT", tmp_path)
    assert apidoc.main(["--check"]) == 1
    assert "run scripts/apidoc --write" in capsys.readouterr().err
    assert apidoc.main(["--write"]) == 0
    assert apidoc.main(["--check"]) == 0


def test_attribute_docstrings_are_read(apidoc):
    import ast

    tree = ast.parse('A = 1\n"""about A"""\nB: int = 2\nC = 3\n"""about C"""\n')
    assert apidoc.attribute_docs(tree.body) == {"A": "about A", "C": "about C"}


def test_every_testing_name_has_a_section(generated):
    """Every name a plugin's test may import from tradekernel.testing is documented."""
    import tradekernel.testing as testing

    headings = set(re.findall(r"^### `([^`]+)`$", generated, re.M))
    missing = [name for name in testing.__all__ if name not in headings]
    assert not missing, f"tradekernel.testing names missing from docs/api.md: {missing}"
