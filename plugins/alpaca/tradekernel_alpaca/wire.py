"""Reading Alpaca's JSON as hostile input.

Every body is parsed with :func:`parse_json` (numbers as ``Decimal``, ``NaN`` and
``Infinity`` refused, a size cap) and every field is read through one of the readers
below, which check the type and range and raise :class:`BadResponse` with the field's
name. A bad body is a clear error; it never becomes an order, a fill or a position."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_BODY = 8 * 1024 * 1024
"""The largest body read (bytes): a longer one is a bad response."""
MAX_NUMBER = Decimal("1e15")
"""The largest magnitude of any number accepted (prices, quantities, cash)."""
_TEXT_MAX = 256
_ID = re.compile(r"^[A-Za-z0-9_.:/@+=-]{1,128}\Z")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,31}\Z")
_FRACTION = re.compile(r"\.(\d+)")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?")
"""A number as text: ASCII digits, no sign but ``-``, no ``_``, no spaces, a 2-digit exponent."""
MIN_EXPONENT = -20
"""The smallest power of ten a non-zero number may have (``1e-999999999`` is refused)."""


class BadResponse(ValueError):
    """The venue answered something that is not what its API promises."""


def _constant(name: str) -> Any:
    raise BadResponse(f"non-finite number {name} in the response")


def parse_json(content: bytes | str) -> Any:
    """The JSON value of ``content``: numbers as ``Decimal``; ``NaN``, ``Infinity``,
    over-long bodies and invalid UTF-8 raise :class:`BadResponse`."""
    if len(content) > MAX_BODY:
        raise BadResponse(f"response body over {MAX_BODY} bytes")
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_constant)
    except BadResponse:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadResponse(f"response body is not valid JSON ({type(exc).__name__})") from None


def obj(value: Any, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object."""
    if not isinstance(value, dict):
        raise BadResponse(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def array(value: Any, what: str) -> list[Any]:
    """``value`` when it is a JSON array."""
    if not isinstance(value, list):
        raise BadResponse(f"{what}: expected a JSON array, got {type(value).__name__}")
    return value


def decimal(
    data: dict[str, Any],
    key: str,
    *,
    required: bool = True,
    positive: bool = False,
    signed: bool = False,
) -> Decimal | None:
    """A number, sent as a decimal string (Alpaca's way) or a JSON number: finite, below
    :data:`MAX_NUMBER` in magnitude, zero or more unless ``signed``, above zero when
    ``positive``. Missing or null: ``None``, or :class:`BadResponse` when ``required``."""
    value = data.get(key)
    if value is None:
        if required:
            raise BadResponse(f"{key}: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise BadResponse(f"{key}: expected a number, got {type(value).__name__}")
    if isinstance(value, str):
        if len(value) > 64:
            raise BadResponse(f"{key}: number text too long")
        if not _NUMBER.fullmatch(value):
            raise BadResponse(f"{key}: not a number")
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise BadResponse(f"{key}: not a number") from None
    number = Decimal(value)
    if not number.is_finite() or abs(number) > MAX_NUMBER:
        raise BadResponse(f"{key}: out of range")
    if number.is_zero():
        number = number.copy_abs()  # -0 is 0
    elif number.adjusted() < MIN_EXPONENT:
        raise BadResponse(f"{key}: out of range")
    if number < 0 and not signed:
        raise BadResponse(f"{key}: negative")
    if positive and number <= 0:
        raise BadResponse(f"{key}: expected a positive number")
    return number


def text(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """A short string (an enum value such as a status or a side)."""
    value = data.get(key)
    if value is None:
        if required:
            raise BadResponse(f"{key}: missing")
        return None
    if not isinstance(value, str) or len(value) > _TEXT_MAX:
        raise BadResponse(f"{key}: expected a short string")
    return value


def ident(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """An identifier (order id, client order id, activity id): 1..128 safe characters."""
    value = text(data, key, required=required)
    if value is not None and not _ID.match(value):
        raise BadResponse(f"{key}: not a valid identifier")
    return value


def symbol(data: dict[str, Any], key: str = "symbol") -> str:
    """An upper-case ticker (``AAPL``, ``BRK.B``, ``BTC/USD``)."""
    value = text(data, key)
    assert value is not None
    if not _SYMBOL.match(value):
        raise BadResponse(f"{key}: not a valid symbol")
    return value


def timestamp(data: dict[str, Any], key: str, *, required: bool = True) -> datetime | None:
    """An RFC 3339 time (Alpaca sends up to nanoseconds, ``Z`` or an offset), as UTC."""
    value = text(data, key, required=required)
    if value is None:
        return None
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    raw = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), raw, count=1)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise BadResponse(f"{key}: not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise BadResponse(f"{key}: time without a UTC offset")
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise BadResponse(f"{key}: time out of range") from None


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` of an Alpaca error body ``{"code": 40010001, "message": ...}``,
    each ``None`` when absent or malformed. The message is the venue's text: make it
    inert and redact it before showing it anywhere."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    if isinstance(code, Decimal) and code == code.to_integral_value() and abs(code) < 10**12:
        code_text: str | None = str(int(code))
    elif isinstance(code, str) and code.isdigit() and len(code) < 13:
        code_text = code
    else:
        code_text = None
    message = body.get("message")
    return code_text, message[:_TEXT_MAX] if isinstance(message, str) else None
