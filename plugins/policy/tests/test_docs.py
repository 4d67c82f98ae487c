"""docs/policy.md: every policy block compiles, every block of cases passes against the
policy above it, every error line shown is what the compiler says, and the field table
lists every field with its type and missing-value code."""

from __future__ import annotations

import re
import tomllib

import pytest
from tradekernel_policy import Evaluator, PolicyError, compile_bytes
from tradekernel_policy.cases import parse_cases, run_cases
from tradekernel_policy.fields import FIELDS

from .conftest import REPO

DOC = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC, re.S)


def pairs() -> list[tuple[str, str]]:
    out, policy = [], None
    for block in BLOCKS:
        if block.lstrip().startswith("[policy]"):
            policy = block
        elif "[[case]]" in block:
            assert policy is not None, "a cases block before any policy block"
            out.append((policy, block))
    return out


def test_the_doc_has_policies_and_cases():
    assert sum(b.lstrip().startswith("[policy]") for b in BLOCKS) >= 3
    assert len(pairs()) >= 3


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lstrip().startswith("[policy]")])
def test_every_policy_block_compiles(block):
    compile_bytes(block.encode(), "docs/policy.md")


@pytest.mark.parametrize(("policy", "cases"), pairs())
def test_every_documented_case_passes(policy, cases):
    compiled = compile_bytes(policy.encode(), "docs/policy.md")
    parsed = parse_cases(tomllib.loads(cases), "docs/policy.md")
    assert run_cases(Evaluator(compiled), parsed) == []


def test_documented_errors_are_the_compilers():
    section = DOC[DOC.index("## Errors") :]
    lines = re.search(r"```\n(.*?)```", section, re.S).group(1).strip().splitlines()
    assert len(lines) >= 5
    base = (
        '[policy]\nname = "desk"\nversion = "1"\ndefault = "allow"\n[[rule]]\nid = "max-order"\n'
        'effect = "deny"\ncode = "c"\n'
    )
    variants = {
        "unknown field": base + 'when = { field = "intent.notionl", op = ">", value = 1 }\n',
        "unknown operator": base + 'when = { field = "intent.notional", op = "=>", value = 1 }\n',
        "cannot compare": base + 'when = { field = "intent.notional", op = ">", value = "x" }\n',
        "NaN": base + 'when = { field = "intent.notional", op = ">", value = nan }\n',
        "duplicate": base + '[[rule]]\nid = "max-order"\neffect = "allow"\n',
        "default": '[policy]\nname = "desk"\nversion = "1"\ndefault = "maybe"\n',
    }
    for key, text in variants.items():
        (line,) = [x for x in lines if key in x]
        with pytest.raises(PolicyError) as raised:
            compile_bytes(text.encode(), "desk.toml")
        assert str(raised.value) == line


def test_field_table_lists_every_field():
    rows = dict(re.findall(r"^\| `([a-z_.<>]+)` \| (\w+) \|", DOC, re.M))
    for name, f in FIELDS.items():
        if name.startswith("orders.within_"):
            continue  # made on demand; documented as orders.within_<n><unit>
        assert rows.get(name) == f.type, name
        row = re.search(rf"^\| `{re.escape(name)}` \| \w+ \| (`\w+`)? \|", DOC, re.M)
        assert row is not None, name
        assert (row.group(1) or "").strip("`") == f.missing, name
    assert "orders.within_<n><unit>" in rows


def test_configuration_blocks_load(tmp_path):
    from tradekernel.api import Settings
    from tradekernel_policy import PolicyGuardConfig

    blocks = [b for b in BLOCKS if b.lstrip().startswith("[components]")]
    assert blocks
    for block in blocks:
        path = tmp_path / "plugins.toml"
        path.write_text(block, encoding="utf-8")
        settings = Settings.load(path, environ={})
        assert settings.component_config("guard", "policy", PolicyGuardConfig).file
