"""Approver identity (docs/state.md, "Quorum"): one normalised name per approver, look-alike,
control, format and reserved names refused everywhere an approver decides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.api import RESERVED_ACTORS, approver_name
from tradekernel.errors import RefusedError

SAME_AS_ALICE = ["alice", "Alice", " alice ", "ALICE", "\uff41lice"]  # fullwidth a
REFUSED = {
    "cyrillic a": "\u0430lice",
    "zero width space": "alice\u200b",
    "nul": "alice\x00",
    "soft hyphen": "al\u00adice",
    "escape": "alice\x1b[0m",
    "combining accent": "alic\u0301e",
    "newline": "alice\nFAKE: ok",
    "bidi override": "\u202eecila",
    "space inside": "alice smith",
    "empty": "   ",
    "too long": "a" * 65,
    "leading dot": ".alice",
}


@pytest.mark.parametrize("alias", SAME_AS_ALICE)
def test_spellings_of_one_name_are_one_approver(alias):
    assert approver_name(alias) == "alice"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_look_alike_control_and_malformed_names_are_refused_without_echo(case):
    with pytest.raises(RefusedError) as exc:
        approver_name(REFUSED[case])
    message = str(exc.value)
    assert exc.value.exit_code == 3 and "\n" not in message
    assert not any(ord(c) < 32 or ord(c) >= 0x7F for c in message)


@pytest.mark.parametrize("name", sorted(RESERVED_ACTORS))
def test_the_kernels_own_actors_are_reserved(name):
    with pytest.raises(RefusedError, match="reserved"):
        approver_name(name.upper())


def test_reserved_actors_include_every_actor_the_kernel_journals():
    assert {"auto", "system", "commander", "guards", "executor", "reconcile", "monitor"} <= (
        RESERVED_ACTORS
    )
    assert {"kernel", "console", "shadow", "runtime"} <= RESERVED_ACTORS


@given(st.text(max_size=80))
def test_any_text_is_a_valid_ascii_name_or_a_one_line_refusal(text):
    try:
        name = approver_name(text)
    except RefusedError as exc:
        assert "\n" not in str(exc) and str(exc).isprintable()
        return
    assert name.isascii() and name == name.strip() and name == approver_name(name)
    assert name not in RESERVED_ACTORS
