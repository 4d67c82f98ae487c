"""Text from outside made inert for a terminal or a log line.

An LLM rationale, an operator's ``--reason``/``--by``, a broker or provider message and
anything else the kernel did not write itself is stored exactly as given, but shown
only through :func:`inert`: every character a terminal or log reader would act on
instead of display (newlines, carriage returns, escape sequences, C1 controls, bidi
overrides, zero-width and other format characters) is replaced by a visible escape, so
such text cannot add a line, move the cursor, write the clipboard or reorder what an
operator reads. The escape is the one Python's ``repr`` uses, and a backslash is doubled,
so the shown text reads back to exactly what was stored (``\\n`` is a newline that was
there, ``\\\\n`` a backslash and an ``n`` someone typed).

Apply it once, where the text is shown (a CLI line, a log record, a text notification),
never to what is stored: escaping twice doubles the backslashes again.
"""

from __future__ import annotations

import re
import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
"""Unicode general categories escaped by :func:`inert`: controls (C0, DEL, C1 such as the
8-bit CSI U+009B), format characters (bidi overrides and isolates, zero-width
characters, tag characters), lone surrogates, line and paragraph separators, and
unassigned code points (a newer terminal may give them a meaning)."""

_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Printable ASCII except the backslash passes untouched without a per-character look-up.
_SUSPECT = re.compile(r"[^ -\[\]-~]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    if unicodedata.category(char) not in UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def inert(text: object) -> str:
    """``str(text)`` safe to print on a terminal or write as (part of) one log line.

    Controls, format characters and separators become visible escapes (``\\n``,
    ``\\r``, ``\\t``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``) and a backslash becomes
    ``\\\\``; everything else (printable text in any script) is unchanged. The result
    contains no character of :data:`UNSAFE_CATEGORIES`, never a line break, and different
    inputs give different results."""
    text = text if isinstance(text, str) else str(text)
    if _SUSPECT.search(text) is None:
        return text
    return _SUSPECT.sub(_escape, text)


def inert_json(data: object, **options: object) -> str:
    """``json.dumps(data)`` inert on a terminal: with ``ensure_ascii`` the text holds
    printable ASCII only, every control (DEL included), C1, bidi, separator and other
    non-ASCII character written as ``\\uXXXX``; the JSON value is exactly the same."""
    import json

    options.setdefault("default", str)
    return json.dumps(data, ensure_ascii=True, **options)


def is_inert(text: str) -> bool:
    """Whether ``text`` holds no character :func:`inert` would escape other than the
    backslash: text already made inert (a rendered notification) passes, so a log line
    need not escape it twice."""
    return not any(unicodedata.category(c) in UNSAFE_CATEGORIES for c in _SUSPECT.findall(text))


_TRACEBACK_FRAME = ("Traceback (most recent call last):", "  File ", "  [Previous line repeated")
_TRACEBACK_CHAIN = ("The above exception was", "During handling of the above exception")


def inert_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (and its causes) as Python prints it, except that each
    exception's message is one :func:`inert` line: a message carrying outside text cannot
    forge lines in a log or on a terminal. Frame lines keep their layout, their characters
    escaped the same way."""
    import traceback

    out = []
    for chunk in traceback.TracebackException.from_exception(exc).format():
        if chunk.startswith(_TRACEBACK_FRAME) or chunk.strip().startswith(_TRACEBACK_CHAIN):
            out.append("\n".join(inert(line) for line in chunk.split("\n")))
        else:
            out.append(inert(chunk.removesuffix("\n")) + "\n")
    return "".join(out)
