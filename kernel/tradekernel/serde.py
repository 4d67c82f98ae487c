"""Strict conversion between domain objects and plain data, built on cattrs.

``structure`` refuses unknown keys, wrong types and bad values, and raises
:class:`ValidationError` whose message names the field path and the value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_mutable_sequence,
    is_sequence,
    list_structure_factory,
)
from cattrs.preconf.json import make_converter

T = TypeVar("T")


class ValidationError(ValueError):
    """Data that does not fit its schema. ``errors`` lists ``(path, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]], *, what: str = "") -> None:
        self.errors = errors
        prefix = f"{what}: " if what else ""
        super().__init__(prefix + "; ".join(f"{p}: {m}" if p else m for p, m in errors))


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected an ISO-8601 time, got {value!r}") from None
    else:
        raise ValueError(f"expected an ISO-8601 time, got {value!r}")
    return result if result.tzinfo else result.replace(tzinfo=UTC)


def _strict(kind: type, check: Any) -> Any:
    def hook(value: Any, cls: type) -> Any:
        # str/int enums (``class Side(StrEnum)``) dispatch here, as str subclasses.
        if cls is not kind and isinstance(cls, type) and issubclass(cls, enum.Enum):
            return _structure_enum(value, cls)
        if not check(value):
            raise ValueError(f"expected {kind.__name__}, got {value!r}")
        return value

    return hook


def _structure_path(value: Any, _: type) -> Path:
    # Path("") is the current directory: an empty value is a mistake, not a place.
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty path, got {value!r}")
    if "\x00" in value:  # the OS would refuse it later with "embedded null byte"
        raise ValueError(f"a path cannot contain a NUL character, got {value!r}")
    return Path(value)


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"expected one of {choices}, got {value!r}") from None


def _is_literal(cls: Any) -> bool:
    return get_origin(cls) is Literal


def _structure_literal(value: Any, cls: Any) -> Any:
    for choice in get_args(cls):
        if value == choice and type(value) is type(choice):
            return choice
    choices = ", ".join(repr(c) for c in get_args(cls))
    raise ValueError(f"expected one of {choices}, got {value!r}")


def _sequence_hook_factory(cls: Any, conv: cattrs.Converter) -> Any:
    """Lists and homogeneous tuples, refusing text and mappings: cattrs would otherwise
    turn ``symbols = "AAA"`` into ``["A", "A", "A"]``."""
    if is_mutable_sequence(cls):
        inner = list_structure_factory(cls, conv)
    else:
        inner = homogenous_tuple_structure_factory(cls, conv)

    def hook(value: Any, type_: Any) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise ValueError(f"expected a list, got {value!r}")
        return inner(value, type_)

    return hook


def make_strict_converter() -> cattrs.Converter:
    """A converter that forbids extra keys and never coerces between types silently."""
    conv = make_converter(forbid_extra_keys=True)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_structure_hook(Path, _structure_path)
    conv.register_unstructure_hook(Path, str)
    conv.register_structure_hook(str, _strict(str, lambda v: isinstance(v, str)))
    conv.register_structure_hook(
        int, _strict(int, lambda v: isinstance(v, int) and not isinstance(v, bool))
    )
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _strict(bool, lambda v: isinstance(v, bool)))
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
    )
    conv.register_structure_hook_factory(is_sequence, _sequence_hook_factory)
    conv.register_structure_hook_func(_is_literal, _structure_literal)
    conv.register_structure_hook_factory(_is_named_tables, _named_tables_hook)
    conv.register_structure_hook_factory(_is_named_values, _named_values_hook)
    return conv


def _is_named_values(t: Any) -> bool:
    """``dict[str, <not attrs>]``: a table of named values (``[budgets.brokers]``)."""
    args = get_args(t)
    return get_origin(t) is dict and len(args) == 2 and args[0] is str and not attrs.has(args[1])


def _named_values_hook(t: Any, conv: cattrs.Converter) -> Any:
    """A table (anything else: "expected a table"), each value structured on its own, so
    an error's path names its key."""
    value_type = get_args(t)[1]

    def hook(data: Any, _: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a table, got {type(data).__name__}")
        out = {}
        for name, value in data.items():
            if not isinstance(name, str):
                raise ValueError(f"expected a name, got {name!r}")
            try:
                out[name] = conv.structure(value, value_type)
            except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
                errors = _flatten(exc) or [("", str(exc))]
                key = name if _PLAIN_KEY.fullmatch(name) else ascii(name)  # no escapes
                raise ValidationError([(_join(key, p), m) for p, m in errors]) from None
        return out

    return hook


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _is_named_tables(t: Any) -> bool:
    """``dict[str, <attrs class>]``: named config tables (``[portfolio.budgets.<name>]``)."""
    args = get_args(t)
    return get_origin(t) is dict and len(args) == 2 and attrs.has(args[1])


def _named_tables_hook(t: Any, conv: cattrs.Converter) -> Any:
    """Structure each named table on its own, so an error's path names the table."""
    value_type = get_args(t)[1]

    def hook(data: Any, _: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a table, got {type(data).__name__}")
        out = {}
        for name, body in data.items():
            if not isinstance(name, str):
                raise ValueError(f"expected a name, got {name!r}")
            if not isinstance(body, Mapping):
                raise ValidationError([(name, f"expected a table, got {type(body).__name__}")])
            try:
                out[name] = conv.structure(body, value_type)
            except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
                errors = _flatten(exc) or [("", str(exc))]
                raise ValidationError([(_join(name, p), m) for p, m in errors]) from None
        return out

    return hook


def _join(name: str, path: str) -> str:
    return f"{name}.{path}" if path else name


converter = make_strict_converter()


def _intent_without_unset_sizing(conv: cattrs.Converter) -> None:
    """An intent's sizing fields (``target_weight``, ``stop_price``, ``sizing``) are left
    out of its data while unset, so an intent without them is stored and journaled
    byte for byte as before they existed (journal digests and golden records hold)."""
    from cattrs.gen import make_dict_unstructure_fn, override

    from .models import Intent

    omit = override(omit_if_default=True)
    conv.register_unstructure_hook(
        Intent,
        make_dict_unstructure_fn(Intent, conv, target_weight=omit, stop_price=omit, sizing=omit),
    )


_intent_without_unset_sizing(converter)


def _verdict_without_unset_rule(conv: cattrs.Converter) -> None:
    """A verdict's ``rule``, ``version`` and ``approvals`` are left out of its data while
    unset, so verdicts of guards that are not rule-based are stored as before."""
    from cattrs.gen import make_dict_unstructure_fn, override

    from .models import GuardVerdict

    omit = override(omit_if_default=True)
    conv.register_unstructure_hook(
        GuardVerdict,
        make_dict_unstructure_fn(GuardVerdict, conv, rule=omit, version=omit, approvals=omit),
    )


_verdict_without_unset_rule(converter)


def _flatten(exc: BaseException, path: str = "") -> list[tuple[str, str]]:
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        out: list[tuple[str, str]] = []
        for sub in exc.exceptions:
            note = next(iter(getattr(sub, "__notes__", []) or []), "")
            sub_path = path
            if hasattr(note, "name"):
                sub_path = f"{path}.{note.name}" if path else str(note.name)
            elif isinstance(getattr(note, "index", None), int):  # not str.index, a method
                sub_path = f"{path}[{note.index}]"
            out.extend(_flatten(sub, sub_path))
        return out
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [(f"{path}.{k}" if path else k, "unknown key") for k in sorted(exc.extra_fields)]
    if isinstance(exc, KeyError):
        return [(path, "required key is missing")]
    if isinstance(exc, ValidationError):  # a named table's, already with its paths
        return [(f"{path}.{p}" if path and p else path or p, m) for p, m in exc.errors]
    return [(path, str(exc))]


def structure(data: Any, cls: type[T], *, what: str = "") -> T:
    """Build ``cls`` from ``data`` or raise :class:`ValidationError` naming each bad field."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise ValidationError(_flatten(exc) or [("", str(exc))], what=what) from None


def unstructure(obj: Any) -> Any:
    """Plain JSON-able data for any domain object."""
    return converter.unstructure(obj)
