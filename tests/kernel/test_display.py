"""``tradekernel.display.inert``: outside text shown on a terminal or in a log is inert.

Properties: the result holds no control, format or separator character (so no escape
sequence, no extra line, no bidi reordering); it reads back to exactly the input (so
different inputs stay distinguishable, and a backslash typed by someone is never taken
for an escaped control character); printable text passes unchanged.
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from tradekernel.display import UNSAFE_CATEGORIES, inert, inert_traceback

HOSTILE = [
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x07",
    "\x08",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\x9d",
    "\u061c",
    "\u200b",
    "\u200e",
    "\u202a",
    "\u202e",
    "\u2028",
    "\u2029",
    "\u2066",
    "\u2069",
    "\ufeff",
    "\udcff",
    "\U000e0041",
    "\\",
    "n",
    "x",
    "u",
    "1",
    "b",
    "[",
    "]",
    ";",
]
"""Controls, C1 (NEL, 8-bit CSI and OSC), bidi marks, overrides and isolates, separators,
zero-width and tag characters, a lone surrogate, and the characters escapes are made of."""

texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(HOSTILE),
        st.characters(exclude_categories=()),  # every code point, surrogates included
    ),
    max_size=40,
)

_ESCAPE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})|\\")


def read_back(shown: str) -> str:
    """The reader's side: what an operator reconstructs from the shown text."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code is None:
            raise AssertionError(f"a lone backslash in {shown!r}")
        return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(one, shown)


@given(texts)
def test_inert_text_has_no_control_or_format_character(text: str) -> None:
    shown = inert(text)
    assert not [c for c in shown if unicodedata.category(c) in UNSAFE_CATEGORIES]
    assert len(shown.splitlines()) <= 1
    assert "\x1b" not in shown and "\x9b" not in shown


@given(texts)
def test_inert_text_reads_back_to_the_input(text: str) -> None:
    assert read_back(inert(text)) == text


@given(texts, texts)
def test_different_texts_stay_distinguishable(a: str, b: str) -> None:
    assert (inert(a) == inert(b)) == (a == b)


@given(st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S"]), max_size=40))
def test_printable_text_is_unchanged(text: str) -> None:
    assert inert(text) == text.replace("\\", "\\\\")


def test_a_typed_backslash_n_is_not_an_escaped_newline() -> None:
    assert inert("a\nb") == "a\\nb"
    assert inert("a\\nb") == "a\\\\nb"  # what a user typed: backslash, n
    assert inert(r"C:\temp") == r"C:\\temp"


def test_the_escapes_are_the_ones_python_prints() -> None:
    hostile = "\n\nApproved by risk-officer\r\x1b]52;c;aGk=\x07\x1b[2J\x9b31m\u202eevil\u2066"
    assert inert(hostile) == repr(hostile)[1:-1]
    assert inert("\U000e0041\udcff\x7f") == "\\U000e0041\\udcff\\x7f"
    assert inert("prix → 12 € · 株 ok") == "prix → 12 € · 株 ok"
    assert inert(None) == "None" and inert(12) == "12"


def test_a_traceback_keeps_its_frames_and_each_message_on_one_inert_line() -> None:
    def fail() -> None:
        raise ValueError("broker said:\n\nApproved by risk-officer\x1b]52;c;aGk=\x07")

    try:
        try:
            fail()
        except ValueError as exc:
            raise RuntimeError("submit failed\r\x1b[2J") from exc
    except RuntimeError as exc:
        text = inert_traceback(exc)
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any(line.startswith("  File ") for line in lines)
    assert "ValueError: broker said:\\n\\nApproved by risk-officer\\x1b]52;c;aGk=\\x07" in lines
    assert "RuntimeError: submit failed\\r\\x1b[2J" in lines
    assert "The above exception was the direct cause of the following exception:" in lines
    assert not any(line.startswith("Approved") for line in lines)
    assert "\x1b" not in text and "\r" not in text


@given(st.recursive(texts, lambda inner: st.lists(inner) | st.dictionaries(texts, inner)))
def test_inert_json_is_printable_ascii_and_the_same_value(data) -> None:
    import json

    from tradekernel.display import inert_json

    shown = inert_json(data, indent=2)
    assert all(c == "\n" or " " <= c <= "~" for c in shown)
    assert json.loads(shown) == data


HOSTILE_LOG = "broker said: ok\n\nApproved by risk-officer\r\x1b]52;c;aGk=\x07\x9b2J\u202e"
SHOWN_LOG = "broker said: ok\\n\\nApproved by risk-officer\\r\\x1b]52;c;aGk=\\x07\\x9b2J\\u202e"


def test_a_log_record_is_one_inert_line(capsys) -> None:
    from loguru import logger
    from tradekernel.cli.context import configure_logging

    configure_logging(1)
    try:
        logger.warning("order failed: {}", HOSTILE_LOG)
        logger.bind(inert=True).warning("pre-escaped {} but raw \x1b[2J", "a\\nb")
        try:
            raise RuntimeError(HOSTILE_LOG)
        except RuntimeError as exc:
            logger.opt(exception=exc).warning("strategist raised: {}", exc)
    finally:
        logger.remove()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(f"WARNING order failed: {SHOWN_LOG}")
    # bind(inert=True) is trusted only when nothing is left to escape
    assert lines[1].endswith("WARNING pre-escaped a\\\\nb but raw \\x1b[2J")
    assert lines[2].endswith(f"WARNING strategist raised: {SHOWN_LOG}")
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == f"RuntimeError: {SHOWN_LOG}"
    assert not any(line.startswith("Approved") for line in lines)
    assert not [c for c in "".join(lines) if unicodedata.category(c) in UNSAFE_CATEGORIES]


def test_the_cli_logs_outside_text_as_one_line(tmp_path) -> None:
    """A real ``tradekernel`` process: the log notifier's record of an operator's
    hostile ``--by``/``--reason`` is one stderr line, escaped once."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "plugins.toml").write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n')
    tk = Path(sys.executable).with_name("tradekernel")
    by = "eve\n\nApproved by risk-officer\x1b[1A"
    done = subprocess.run(
        [str(tk), "-v", "control", "pause", "--by", by, "--reason", HOSTILE_LOG],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "paused by eve\\n\\nApproved by risk-officer\\x1b[1A\n"
    (line,) = done.stderr.splitlines()
    assert line.endswith(
        "[control.paused] Trading paused by eve\\n\\nApproved by risk-officer\\x1b[1A: "
        f"Paused by eve\\n\\nApproved by risk-officer\\x1b[1A: {SHOWN_LOG}."
    )
