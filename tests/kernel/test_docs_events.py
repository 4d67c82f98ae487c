"""docs/events.md documents every stage, kind and field of ``event_schema.CATALOGUE``.

The doc's catalogue section has one ``### `stage` `` heading per stage; under it, each
``Kinds: `a`, `b` (...)`` paragraph is followed by a field table shared by those kinds.
Text in parentheses is commentary, not a kind. The test fails when the doc lacks a stage,
a kind or a field, or gives a field another type or required flag than the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tradekernel.event_schema import CATALOGUE, ENVELOPE

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
_TICKED = re.compile(r"`([^`]+)`")
_PARENS = re.compile(r"\([^()]*\)")
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|")
_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")

Documented = dict[str, dict[str, dict[str, tuple[str, bool]]]]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def _strip_parens(text: str) -> str:
    while True:
        stripped = _PARENS.sub("", text)
        if stripped == text:
            return text
        text = stripped


def parse_catalogue(text: str) -> Documented:
    """stage -> kind -> field -> (type, required), as docs/events.md states them."""
    doc: Documented = {}
    section = _section(text, "\n## The catalogue")
    for block in re.split(r"\n### ", section)[1:]:
        heading, _, body = block.partition("\n")
        stage = _TICKED.search(heading).group(1)
        kinds_doc = doc.setdefault(stage, {})
        kinds: list[str] = []
        paragraph: list[str] | None = None
        for line in body.splitlines():
            if line.startswith("Kinds:"):
                paragraph, kinds = [line[len("Kinds:") :]], []
            elif paragraph is not None and line.strip() and not line.startswith("|"):
                paragraph.append(line)
            elif paragraph is not None:
                kinds = _TICKED.findall(_strip_parens(" ".join(paragraph)))
                for kind in kinds:
                    kinds_doc.setdefault(kind, {})
                paragraph = None
            if (row := _ROW.match(line)) and kinds:
                field, type_, _unit, req = (part.strip() for part in row.groups())
                for kind in kinds:
                    kinds_doc[kind][field] = (type_, req == "yes")
    return doc


def _cases() -> list[tuple[str, str]]:
    return [(stage, kind) for stage, kinds in CATALOGUE.items() for kind in kinds]


@pytest.fixture(scope="module")
def documented() -> Documented:
    return parse_catalogue(DOC.read_text(encoding="utf-8"))


def test_every_stage_is_documented(documented: Documented) -> None:
    assert sorted(set(CATALOGUE) - set(documented)) == []


@pytest.mark.parametrize(("stage", "kind"), _cases())
def test_kind_and_fields_are_documented(documented: Documented, stage: str, kind: str) -> None:
    kinds = documented.get(stage, {})
    assert kind in kinds, f"docs/events.md: kind {stage}.{kind} is not documented"
    wanted = {name: (spec.type, spec.required) for name, spec in CATALOGUE[stage][kind].items()}
    missing = sorted(set(wanted) - set(kinds[kind]))
    assert missing == [], f"docs/events.md: {stage}.{kind} lacks fields {missing}"
    wrong = {f: (kinds[kind][f], want) for f, want in wanted.items() if kinds[kind][f] != want}
    assert wrong == {}, f"docs/events.md: {stage}.{kind} (doc, code) type/req differ: {wrong}"


def test_no_documented_kind_is_unknown(documented: Documented) -> None:
    extra = [
        f"{stage}.{kind}"
        for stage, kinds in documented.items()
        for kind in kinds
        if kind not in CATALOGUE.get(stage, {})
    ]
    assert extra == []


def test_envelope_is_documented() -> None:
    envelope = _section(DOC.read_text(encoding="utf-8"), "\n## The envelope")
    keys = {m.group(1) for line in envelope.splitlines() if (m := _KEY.match(line))}
    assert sorted(set(ENVELOPE) - keys) == []


def test_parser_detects_a_missing_field() -> None:
    """The parser really reads the tables: dropping a row loses that field."""
    text = DOC.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `scope` |"))
    parsed = parse_catalogue(text.replace(row + "\n", ""))
    assert "scope" not in parsed["budget"]["exhausted"]
    assert "used" in parsed["budget"]["exhausted"]
