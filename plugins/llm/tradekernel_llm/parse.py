"""Find the JSON answer in whatever text a model produced.

Accepted, in order: the whole text as JSON; the body of a fenced code block
(```json ... ``` or ``` ... ```); the first balanced JSON object embedded in prose.
Numbers are parsed as :class:`~decimal.Decimal` (no float noise in prices).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

MAX_CONTENT_CHARS = 200_000
"""Longer answers are refused outright (``content_too_long``)."""
MAX_OBJECT_STARTS = 200
"""How many ``{`` positions the prose scan tries before giving up."""

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n?(.*?)```", re.S)
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)


class ParseFailure(Exception):
    """The content holds no usable JSON object; ``error_type`` says why."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _loads(text: str) -> Any:
    value, end = _DECODER.raw_decode(text)
    if text[end:].strip():
        raise ValueError("trailing text")
    return value


def _try(text: str) -> tuple[bool, Any]:
    try:
        return True, _loads(text.strip())
    except (ValueError, RecursionError):
        return False, None


def extract_json(content: str | None) -> Any:
    """The JSON value in ``content``; raises :class:`ParseFailure` (``empty_content``,
    ``content_too_long`` or ``invalid_json``)."""
    if content is None or not content.strip():
        raise ParseFailure("empty_content", "the model returned no content")
    if len(content) > MAX_CONTENT_CHARS:
        raise ParseFailure("content_too_long", f"answer is {len(content)} characters long")
    ok, value = _try(content)
    if ok:
        return value
    for match in _FENCE.finditer(content):
        ok, value = _try(match.group(2))
        if ok:
            return value
    start = content.find("{")
    tries = 0
    while start != -1 and tries < MAX_OBJECT_STARTS:
        tries += 1
        try:
            value, _ = _DECODER.raw_decode(content, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = content.find("{", start + 1)
    raise ParseFailure("invalid_json", "no JSON object found in the answer")
