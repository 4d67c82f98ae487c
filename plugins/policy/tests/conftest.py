from __future__ import annotations

from pathlib import Path

from tradekernel.testing import kernel_factory  # noqa: F401 - a fixture

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "policy" / "default.toml"
HMAC_ENV = "TK_TEST_POLICY_KEY"
HMAC_KEY = "policy-test-key-0123456789abcdef"

POLICY_HEAD = """
[policy]
name = "t"
version = "1"
default = "allow"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
