"""Find the JSON answer(s) in whatever text a model produced.

Accepted, in order: the whole text as JSON; else every JSON object, or array of
objects, found in the text (in fenced code blocks such as ```json ... ``` or in prose).
All of them are returned, so that the caller can refuse an answer that says two
different things ("Draft: {...} Final answer: {...}"). A bracketed part that is not
valid JSON (or a JSON value that is not an answer) is harmless prose unless it
mentions an answer's words (``decision``, ``intents``, ``symbol``, ``hold``, ``trade``):
then it may be a hold the model wrote carelessly (``{'decision': 'hold'}``, a trailing
comma, a comment, an unquoted key), and the whole answer is ``ambiguous_answer``,
whatever else it holds. JSON nested too deeply to decode is ``invalid_json``, never
skipped. An object with a duplicate key
whose values differ, at any depth, is ambiguous (``ambiguous_answer``): JSON parsers
silently keep the last value. Numbers are parsed as :class:`~decimal.Decimal` (no float
noise in prices).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

MAX_CONTENT_CHARS = 200_000
"""Longer answers are refused outright (``content_too_long``)."""
MAX_OBJECT_STARTS = 200
"""How many bracketed parts that are not an answer the prose scan accepts (more:
``invalid_json``, the rest of the text is not read)."""
MAX_ANSWERS = 20
"""More JSON values than this in one answer is ``ambiguous_answer`` without looking."""

_START = re.compile(r"[{\[]")
_ANSWER_WORD = re.compile(r"(?<![a-z])(?:decision|intents?|symbol|hold|trade)(?![a-z])", re.I)
"""Words that make a bracketed part that is not an answer look like one."""


def looks_like_answer(text: str) -> bool:
    """``text`` mentions a word of an answer (``decision``, ``intents``, ``symbol``,
    ``hold``, ``trade``; any case, as a whole word)."""
    return _ANSWER_WORD.search(text) is not None


class ParseFailure(Exception):
    """The content holds no usable JSON answer; ``error_type`` says why."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _DuplicateKey(Exception):
    """Not a ValueError on purpose: a conflicting object must stop the whole search,
    not send it on to the objects nested inside it."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result and result[key] != value:
            raise _DuplicateKey(key)
        result[key] = value
    return result


_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=Decimal, object_pairs_hook=_unique_keys
)


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


def _is_answer(value: Any) -> bool:
    """An object, or a non-empty array of objects (a bare list of intents)."""
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _region_end(content: str, start: int) -> int | None:
    """The index after the bracket that closes the one at ``start`` (brackets inside
    double-quoted strings do not count), or ``None`` when it is never closed."""
    depth = 0
    in_string = escaped = False
    for index in range(start, len(content)):
        char = content[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _embedded(content: str) -> list[Any]:
    """Every top-level JSON object (or array of objects) in prose, left to right.

    A bracketed part that is not JSON (``{I think}``) is skipped whole: nothing nested
    in it is used, so the inner object of a broken wrapper never becomes the answer;
    when it reads like an answer (:func:`looks_like_answer`) the whole answer is
    ``ambiguous_answer``. A bracket that is never closed means the text is cut or
    garbled, and JSON too deep to decode cannot be read (both ``invalid_json``).
    """
    found: list[Any] = []
    misses = 0
    position = 0
    while len(found) <= MAX_ANSWERS:
        if misses >= MAX_OBJECT_STARTS:
            raise ParseFailure("invalid_json", f"over {MAX_OBJECT_STARTS} bracketed parts")
        match = _START.search(content, position)
        if match is None:
            break
        start = match.start()
        try:
            value, position = _DECODER.raw_decode(content, start)
        except RecursionError:
            raise ParseFailure(
                "invalid_json", f"the JSON at character {start} is nested too deeply"
            ) from None
        except ValueError:
            misses += 1
            end = _region_end(content, start)
            if end is None:
                raise ParseFailure(
                    "invalid_json", f"a bracket at character {start} is never closed"
                ) from None
            if looks_like_answer(content[start:end]):
                raise ParseFailure(
                    "ambiguous_answer",
                    f"the part at character {start} reads like an answer but is not valid JSON",
                ) from None
            position = end
            continue
        if _is_answer(value):
            found.append(value)
        elif looks_like_answer(content[start:position]):
            raise ParseFailure(
                "ambiguous_answer",
                f"the JSON value at character {start} reads like an answer but is not one",
            )
        else:
            misses += 1
    return found


def extract_answers(content: str | None) -> list[Any]:
    """Every JSON value ``content`` offers as its answer (at least one).

    Raises :class:`ParseFailure`: ``empty_content``, ``content_too_long``,
    ``invalid_json`` (nothing found, or an unclosed bracket) or ``ambiguous_answer``
    (a duplicate key with different values, or more than :data:`MAX_ANSWERS` values)."""
    if content is None or not content.strip():
        raise ParseFailure("empty_content", "the model returned no content")
    if len(content) > MAX_CONTENT_CHARS:
        raise ParseFailure("content_too_long", f"answer is {len(content)} characters long")
    try:
        ok, value = _try(content)
        answers = [value] if ok else _embedded(content)
    except _DuplicateKey as exc:
        raise ParseFailure(
            "ambiguous_answer", f"key {str(exc)[:40]!r} is given twice with different values"
        ) from None
    if not answers:
        raise ParseFailure("invalid_json", "no JSON object found in the answer")
    if len(answers) > MAX_ANSWERS:
        raise ParseFailure("ambiguous_answer", f"more than {MAX_ANSWERS} JSON values")
    return answers


def extract_json(content: str | None) -> Any:
    """The one JSON value in ``content``; raises :class:`ParseFailure` as
    :func:`extract_answers` does, and ``ambiguous_answer`` when it holds several
    different values."""
    first, *others = extract_answers(content)
    if any(other != first for other in others):
        raise ParseFailure("ambiguous_answer", "the answer holds several different JSON values")
    return first
