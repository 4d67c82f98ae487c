"""Fixtures for the portfolio tests: kernels built by the public test kit."""

from __future__ import annotations

from tradekernel.testing import kernel_factory  # noqa: F401 - a fixture
