"""Compiling a policy file (TOML) into Python closures, with strict validation.

Nothing in a policy is ever evaluated as code: every operator is looked up in a fixed
table and bound into a closure once, at load. A policy that does not validate raises
:class:`PolicyError` with one line naming the file, the rule id and the key
(``policy.toml: rule big-orders: when.all[1].op: unknown operator '=>'``).
The language is documented in docs/policy.md.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import tomllib
from collections.abc import Callable
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import frozen

from .fields import BOOL, NUMBER, STR, TIME, Env, FieldError, field

MAX_DEPTH = 32
"""Deepest nesting of conditions and expressions."""
MAX_RULES = 1000
MAX_LIST = 10000
MAX_TEXT = 2000
MAX_APPROVALS = 100
MAX_BRANCHES = 1000
"""The most conditions one ``all`` or ``any`` holds."""
MAX_READS = 10000
"""The most field reads one rule's condition makes (bounds its size whatever its shape)."""
MAX_FILE_BYTES = 1024 * 1024
"""The largest policy file (1 MiB); a larger one is refused before it is parsed."""
RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
EFFECTS = ("deny", "allow", "require_approvals")
POLICY_ERROR = "policy_error"
"""The code of a deny when a rule cannot be evaluated (division by zero, overflow)."""
DEFAULT_DENY_CODE = "not_allowed_by_policy"

Value = Callable[[Env], Any]
Test = Callable[[Env], bool]


class PolicyError(ValueError):
    """A policy file that cannot be loaded: one line naming the file, rule and key."""


@frozen
class Rule:
    """One compiled rule."""

    id: str
    description: str
    effect: str
    code: str
    approvals: int
    test: Test
    fields: tuple[str, ...]
    """Every field the rule's condition may read."""
    trace_test: Test
    """The same condition with every field read through the evaluation's cache, so a
    trace sees each value read (``test`` reads some plain attributes directly)."""


@frozen
class Policy:
    """A compiled policy: its header, its rules by effect, and the file's digest."""

    name: str
    version: str
    default: str
    default_code: str
    timezone: str
    description: str
    rules: tuple[Rule, ...]
    sha256: str
    path: str = ""

    @property
    def label(self) -> str:
        """What verdicts record as the rules' version: ``<version>@<sha256[:12]>``."""
        return f"{self.version}@{self.sha256[:12]}"

    @property
    def codes(self) -> tuple[str, ...]:
        """Every deny code this policy can give."""
        from .fields import MISSING_CODES

        own = [r.code for r in self.rules if r.effect == "deny"]
        if self.default == "deny":
            own.append(self.default_code)
        return tuple(dict.fromkeys([*own, POLICY_ERROR, *MISSING_CODES]))


# -- loading ---------------------------------------------------------------------------


def load_file(path: str | Path) -> Policy:
    """Read and compile the policy file ``path`` (:class:`PolicyError` on any problem)."""
    path = Path(path)
    return compile_bytes(read_policy(path), str(path))


def read_policy(path: Path) -> bytes:
    """The bytes of the policy file ``path`` (:class:`PolicyError` when it cannot be read
    or is larger than :data:`MAX_FILE_BYTES`)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise PolicyError(f"{path}: the policy is larger than {MAX_FILE_BYTES} bytes")
    return data


def compile_bytes(data: bytes, where: str) -> Policy:
    """Compile the policy text ``data``; ``where`` names it in errors."""
    if len(data) > MAX_FILE_BYTES:
        raise PolicyError(f"{where}: the policy is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{where}: not UTF-8 text (offset {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: invalid TOML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{where}: invalid TOML: nested too deeply") from None
    policy = compile_policy(raw, where)
    return _with_digest(policy, hashlib.sha256(data).hexdigest(), where)


def _with_digest(policy: Policy, sha: str, path: str) -> Policy:
    import attrs

    return attrs.evolve(policy, sha256=sha, path=path)


def compile_policy(raw: Any, where: str = "<policy>") -> Policy:
    """Compile a parsed TOML document (a dict) into a :class:`Policy`."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a TOML document")
    _only(raw, ("policy", "rule"), f"{where}:")
    header = raw.get("policy")
    if not isinstance(header, dict):
        raise PolicyError(f"{where}: [policy]: missing; give name, version and default")
    at = f"{where}: [policy]"
    _only(header, ("name", "version", "default", "default_code", "timezone", "description"), at)
    name = _text(header, "name", at, required=True)
    version = _text(header, "version", at, required=True)
    if not RULE_ID.fullmatch(version):
        raise PolicyError(f"{at} version: expected letters, digits and . _ : - (at most 64)")
    default = _text(header, "default", at, required=True)
    if default not in ("allow", "deny"):
        raise PolicyError(f'{at} default: expected "allow" or "deny", got {default!r}')
    default_code = _code(header.get("default_code", DEFAULT_DENY_CODE), f"{at} default_code")
    tz_name = _text(header, "timezone", at) or "UTC"
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{at} timezone: unknown time zone {_show(tz_name)}") from None
    description = _text(header, "description", at)
    rules_raw = raw.get("rule", [])
    if not isinstance(rules_raw, list):
        raise PolicyError(f"{where}: rule: expected [[rule]] tables")
    if len(rules_raw) > MAX_RULES:
        raise PolicyError(f"{where}: rule: at most {MAX_RULES} rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, body in enumerate(rules_raw):
        rule = _rule(body, index, where)
        if rule.id in seen:
            raise PolicyError(f"{where}: rule {rule.id}: id: duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    return Policy(
        name=name,
        version=version,
        default=default,
        default_code=default_code,
        timezone=tz_name,
        description=description,
        rules=tuple(rules),
        sha256="",
    )


def _only(table: dict, keys: tuple[str, ...], at: str, sep: str = " ") -> None:
    for key in table:
        if key not in keys:
            raise PolicyError(
                f"{at}{sep}{_show(key)}: unknown key (expected one of {', '.join(keys)})"
            )


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:60] + ("..." if len(text) > 60 else "")


def _text(table: dict, key: str, at: str, *, required: bool = False) -> str:
    value = table.get(key)
    if value is None:
        if required:
            raise PolicyError(f"{at} {key}: missing")
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise PolicyError(f"{at} {key}: expected text (at most {MAX_TEXT} characters)")
    if any(not c.isprintable() for c in value):
        raise PolicyError(f"{at} {key}: control characters are not allowed")
    if required and not value.strip():
        raise PolicyError(f"{at} {key}: must not be empty")
    return value


def _code(value: Any, at: str) -> str:
    if not isinstance(value, str) or not CODE.fullmatch(value):
        raise PolicyError(f"{at}: expected a snake_case reason code, got {_show(value)}")
    return value


def _rule(body: Any, index: int, where: str) -> Rule:
    if not isinstance(body, dict):
        raise PolicyError(f"{where}: rule #{index + 1}: expected a table")
    rule_id = body.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
        raise PolicyError(
            f"{where}: rule #{index + 1}: id: expected letters, digits and . _ : - "
            f"(at most 64), got {_show(rule_id)}"
        )
    at = f"{where}: rule {rule_id}:"
    _only(body, ("id", "description", "effect", "code", "approvals", "when"), at)
    description = _text(body, "description", at)
    effect = body.get("effect")
    if effect not in EFFECTS:
        raise PolicyError(f"{at} effect: expected one of {', '.join(EFFECTS)}, got {_show(effect)}")
    if effect == "deny":
        if "code" not in body:
            raise PolicyError(f"{at} code: a deny rule needs its reason code")
        code = _code(body["code"], f"{at} code")
    else:
        code = _code(body.get("code", "ok"), f"{at} code")
    approvals = body.get("approvals")
    if effect == "require_approvals":
        if (
            not isinstance(approvals, int)
            or isinstance(approvals, bool)
            or not 1 <= approvals <= MAX_APPROVALS
        ):
            raise PolicyError(
                f"{at} approvals: expected a whole number 1..{MAX_APPROVALS}, got "
                f"{_show(approvals)}"
            )
    elif approvals is not None:
        raise PolicyError(f'{at} approvals: only for effect = "require_approvals"')
    reads: list[str] = []
    test = trace_test = _always
    if "when" in body:
        test = _condition(body["when"], f"{at} when", 0, reads)
        trace_test = _condition(body["when"], f"{at} when", 0, [], fast=False)
    return Rule(
        id=rule_id,
        description=description,
        effect=effect,
        code=code,
        approvals=approvals or 0,
        test=test,
        fields=tuple(dict.fromkeys(reads)),
        trace_test=trace_test,
    )


def _always(env: Env) -> bool:
    return True


# -- conditions ------------------------------------------------------------------------

_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_EQ_OPS: dict[str, Callable[[Any, Any], bool]] = {"==": operator.eq, "!=": operator.ne}
OPERATORS = (*_EQ_OPS, *_ORDER_OPS, "in", "not in")


def _condition(node: Any, at: str, depth: int, reads: list[str], *, fast: bool = True) -> Test:
    if depth > MAX_DEPTH:
        raise PolicyError(f"{at}: nested deeper than {MAX_DEPTH}")
    if not isinstance(node, dict):
        raise PolicyError(f"{at}: expected a condition table, got {_show(node)}")
    combinators = [k for k in ("all", "any", "not") if k in node]
    if combinators:
        if len(node) != 1:
            extra = next(k for k in node if k != combinators[0])
            raise PolicyError(f"{at}.{_show(extra)}: not allowed beside {combinators[0]}")
        key = combinators[0]
        if key == "not":
            inner = _condition(node["not"], f"{at}.not", depth + 1, reads, fast=fast)
            return lambda env: not inner(env)
        items = node[key]
        if not isinstance(items, list) or not items:
            raise PolicyError(f"{at}.{key}: expected a non-empty list of conditions")
        if len(items) > MAX_BRANCHES:
            raise PolicyError(f"{at}.{key}: at most {MAX_BRANCHES} conditions")
        tests = tuple(
            _condition(item, f"{at}.{key}[{i}]", depth + 1, reads, fast=fast)
            for i, item in enumerate(items)
        )
        return _all(tests) if key == "all" else _any(tests)
    return _comparison(node, at, depth, reads, fast)


# Conjunctions and disjunctions of one to three tests (most conditions) are plain
# ``and``/``or`` chains: no generator, no loop; longer ones loop. Both short-circuit.


def _all(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda env: a(env) and b(env)
    if len(tests) == 3:
        a, b, c = tests
        return lambda env: a(env) and b(env) and c(env)

    def every(env: Env) -> bool:
        for t in tests:  # noqa: SIM110 - a loop: all() of a generator costs more per call
            if not t(env):
                return False
        return True

    return every


def _any(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda env: a(env) or b(env)
    if len(tests) == 3:
        a, b, c = tests
        return lambda env: a(env) or b(env) or c(env)

    def some(env: Env) -> bool:
        for t in tests:  # noqa: SIM110 - a loop: any() of a generator costs more per call
            if t(env):
                return True
        return False

    return some


def _comparison(node: dict, at: str, depth: int, reads: list[str], fast: bool) -> Test:
    for key in node:
        if key not in ("field", "left", "op", "value"):
            raise PolicyError(
                f"{at}.{_show(key)}: unknown key (a condition has all, any, not, or "
                "field/left, op and value)"
            )
    if ("field" in node) == ("left" in node):
        raise PolicyError(f"{at}: give exactly one of field and left")
    op = node.get("op")
    if op not in OPERATORS:
        raise PolicyError(
            f"{at}.op: unknown operator {_show(op)} (expected one of {', '.join(OPERATORS)})"
        )
    if "value" not in node:
        raise PolicyError(f"{at}.value: missing")
    fused = None
    if "field" in node:
        left, left_type, left_const = _field_ref(node["field"], f"{at}.field", reads)
        fused = reads[-1]
    else:
        left, left_type, left_const = _expr(node["left"], f"{at}.left", depth + 1, reads)
    right, right_type, right_const = _expr(node["value"], f"{at}.value", depth + 1, reads)
    if op in ("in", "not in"):
        if not right_type.startswith("list[") or right_const is _NOT_CONST:
            raise PolicyError(f"{at}.value: '{op}' needs a list of literals")
        item_type = right_type[5:-1]
        if item_type == TIME and left_type == TIME:
            pass
        elif item_type != left_type and item_type != "any":
            raise PolicyError(f"{at}.value: a list of {item_type} cannot hold a {left_type}")
        members = frozenset(right_const)
        _check_domain(fused or _plain_field(node.get("left")), right_const, f"{at}.value")
        if fused is not None:
            return _fused_test(fused, op, members, fast)
        if op == "in":
            return lambda env: left(env) in members
        return lambda env: left(env) not in members
    left, left_type, right, right_type, right_const = _coerce_times(
        left, left_type, left_const, right, right_type, right_const, at
    )
    if left_type != right_type:
        raise PolicyError(f"{at}.value: cannot compare {left_type} with {right_type}")
    if left_type.startswith("list["):
        raise PolicyError(f"{at}.op: '{op}' does not compare lists (use 'in')")
    if op in _ORDER_OPS:
        if left_type not in (NUMBER, TIME):
            raise PolicyError(f"{at}.op: '{op}' needs numbers or times, not {left_type}")
        fn = _ORDER_OPS[op]
    else:
        fn = _EQ_OPS[op]
    if left_const is not _NOT_CONST:  # a literal on the left, a field as the value
        _check_domain(_plain_field(node.get("value")), left_const, f"{at}.left")
    if right_const is not _NOT_CONST:
        const = right_const
        _check_domain(fused or _plain_field(node.get("left")), const, f"{at}.value")
        if fused is not None:
            return _fused_test(fused, op, const, fast)
        return lambda env: fn(left(env), const)
    return lambda env: fn(left(env), right(env))


def _plain_field(node: Any) -> str | None:
    """The field an expression node is, when it is just one (``{ field = "..." }``)."""
    if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("field"), str):
        return node["field"]
    return None


def _check_domain(name: str | None, const: Any, at: str) -> None:
    """A text literal compared with a field that has a fixed set of values (or upper-case
    values) must be one the field can take: otherwise the rule could never match."""
    if name is None:
        return
    found = field(name)
    if found is None or not (found.choices or found.upper):
        return
    values = const if isinstance(const, list | tuple | frozenset | set) else (const,)
    for value in values:
        if not isinstance(value, str):
            continue
        if found.choices and value not in found.choices:
            raise PolicyError(
                f"{at}: {name} is never {_show(value)} (it is one of {', '.join(found.choices)})"
            )
        if found.upper and value != value.upper():
            raise PolicyError(
                f"{at}: {name} is upper case, so it is never {_show(value)} "
                f"(write {_show(value.upper())})"
            )


def _fused_test(name: str, op: str, const: Any, fast: bool = True) -> Test:
    """``field <op> constant`` as one closure: the field read (one dict lookup once
    computed) and the comparison inline, without a call per operand (the common leaf).
    With ``fast``, a field that is a plain attribute (``intent.symbol``) is read straight
    from the intent or context by a C attribute getter, without the cache."""
    found = field(name)
    if fast and found is not None and found.attr:
        return _DIRECT[op](operator.attrgetter(found.attr), const)
    return _FUSED[op](name, const)


_DIRECT: dict[str, Callable[[Callable[[Env], Any], Any], Test]] = {
    "<": lambda get, c: lambda env: get(env) < c,
    "<=": lambda get, c: lambda env: get(env) <= c,
    ">": lambda get, c: lambda env: get(env) > c,
    ">=": lambda get, c: lambda env: get(env) >= c,
    "==": lambda get, c: lambda env: get(env) == c,
    "!=": lambda get, c: lambda env: get(env) != c,
    "in": lambda get, c: lambda env: get(env) in c,
    "not in": lambda get, c: lambda env: get(env) not in c,
}


def _fused_lt(name: str, const: Any) -> Test:
    return lambda env: env[name] < const


def _fused_le(name: str, const: Any) -> Test:
    return lambda env: env[name] <= const


def _fused_gt(name: str, const: Any) -> Test:
    return lambda env: env[name] > const


def _fused_ge(name: str, const: Any) -> Test:
    return lambda env: env[name] >= const


def _fused_eq(name: str, const: Any) -> Test:
    return lambda env: env[name] == const


def _fused_ne(name: str, const: Any) -> Test:
    return lambda env: env[name] != const


def _fused_in(name: str, const: Any) -> Test:
    return lambda env: env[name] in const


def _fused_not_in(name: str, const: Any) -> Test:
    return lambda env: env[name] not in const


_FUSED: dict[str, Callable[..., Test]] = {
    "<": _fused_lt,
    "<=": _fused_le,
    ">": _fused_gt,
    ">=": _fused_ge,
    "==": _fused_eq,
    "!=": _fused_ne,
    "in": _fused_in,
    "not in": _fused_not_in,
}


def _coerce_times(
    left: Value,
    left_type: str,
    left_const: Any,
    right: Value,
    right_type: str,
    right_const: Any,
    at: str,
) -> tuple[Value, str, Value, str, Any]:
    """A text literal compared with a time field is read as a time (``"09:30"``)."""
    if left_type == TIME and right_type == STR and right_const is not _NOT_CONST:
        value = _parse_time(right_const, f"{at}.value")
        return left, TIME, (lambda env: value), TIME, value
    return left, left_type, right, right_type, right_const


def _parse_time(text: str, at: str) -> time:
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise PolicyError(f"{at}: expected a time like '09:30', got {_show(text)}") from None
    if parsed.tzinfo is not None:
        raise PolicyError(f"{at}: give a local time without offset (set timezone)")
    return parsed


# -- expressions -----------------------------------------------------------------------

_NOT_CONST = object()
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
_ALIASES = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
EXPRESSION_KEYS = ("field", *_ARITH, *_ALIASES, "abs", "min", "max")


def _field_ref(name: Any, at: str, reads: list[str]) -> tuple[Value, str, Any]:
    if not isinstance(name, str):
        raise PolicyError(f"{at}: expected a field name, got {_show(name)}")
    try:
        found = field(name)
    except FieldError as exc:
        raise PolicyError(f"{at}: {exc}") from None
    if found is None:
        raise PolicyError(f"{at}: unknown field {_show(name)} (docs/policy.md lists them)")
    if len(reads) >= MAX_READS:
        raise PolicyError(f"{at}: a rule reads at most {MAX_READS} fields")
    reads.append(found.name)
    key = found.name

    def value(env: Env) -> Any:
        return env[key]

    return value, found.type, _NOT_CONST


def _literal(value: Any, at: str) -> tuple[str, Any]:
    if isinstance(value, bool):
        return BOOL, value
    if isinstance(value, int):
        return NUMBER, Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PolicyError(f"{at}: NaN and infinite numbers are not allowed")
        return NUMBER, Decimal(repr(value))
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise PolicyError(f"{at}: text longer than {MAX_TEXT} characters")
        return STR, value
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise PolicyError(f"{at}: give a local time without offset (set timezone)")
        return TIME, value
    raise PolicyError(f"{at}: unsupported value {_show(value)}")


def _expr(node: Any, at: str, depth: int, reads: list[str]) -> tuple[Value, str, Any]:
    """A compiled expression: ``(closure, type, constant or _NOT_CONST)``."""
    if depth > MAX_DEPTH:
        raise PolicyError(f"{at}: nested deeper than {MAX_DEPTH}")
    if isinstance(node, list):
        if len(node) > MAX_LIST:
            raise PolicyError(f"{at}: a list holds at most {MAX_LIST} values")
        typed = [_literal(v, f"{at}[{i}]") for i, v in enumerate(node)]
        types = {t for t, _ in typed}
        if len(types) > 1:
            raise PolicyError(f"{at}: a list mixes {' and '.join(sorted(types))}")
        values = tuple(v for _, v in typed)
        kind = f"list[{types.pop() if types else 'any'}]"
        return (lambda env: values), kind, values
    if not isinstance(node, dict):
        kind, value = _literal(node, at)
        return (lambda env: value), kind, value
    if len(node) != 1:
        raise PolicyError(
            f"{at}: an expression table has exactly one key ({', '.join(EXPRESSION_KEYS)})"
        )
    ((key, arg),) = node.items()
    if key == "field":
        return _field_ref(arg, f"{at}.field", reads)
    if key == "abs":
        inner, kind, _ = _expr(arg, f"{at}.abs", depth + 1, reads)
        _need_number(kind, f"{at}.abs")
        return (lambda env: abs(inner(env))), NUMBER, _NOT_CONST
    if key in ("min", "max"):
        args = _args(arg, f"{at}.{key}", depth, reads, minimum=1)
        fn = min if key == "min" else max
        if len(args) == 2:
            a, b = args
            return (lambda env: fn(a(env), b(env))), NUMBER, _NOT_CONST
        if len(args) == 1:
            return args[0], NUMBER, _NOT_CONST
        return (lambda env: fn([a(env) for a in args])), NUMBER, _NOT_CONST
    symbol = _ALIASES.get(key, key)
    if symbol not in _ARITH:
        raise PolicyError(
            f"{at}.{_show(key)}: unknown operator (expected one of {', '.join(EXPRESSION_KEYS)})"
        )
    args = _args(arg, f"{at}.{key}", depth, reads, minimum=2)
    fn = _ARITH[symbol]
    first, rest = args[0], args[1:]
    if len(rest) == 1:
        second = rest[0]
        return (lambda env: fn(first(env), second(env))), NUMBER, _NOT_CONST

    def arith(env: Env) -> Any:
        value = first(env)
        for a in rest:
            value = fn(value, a(env))
        return value

    return arith, NUMBER, _NOT_CONST


def _args(arg: Any, at: str, depth: int, reads: list[str], *, minimum: int) -> tuple[Value, ...]:
    if not isinstance(arg, list) or len(arg) < minimum:
        raise PolicyError(f"{at}: expected a list of at least {minimum} number expressions")
    out = []
    for i, item in enumerate(arg):
        value, kind, _ = _expr(item, f"{at}[{i}]", depth + 1, reads)
        _need_number(kind, f"{at}[{i}]")
        out.append(value)
    return tuple(out)


def _need_number(kind: str, at: str) -> None:
    if kind != NUMBER:
        raise PolicyError(f"{at}: arithmetic needs numbers, not {kind}")


__all__ = [
    "DEFAULT_DENY_CODE",
    "OPERATORS",
    "POLICY_ERROR",
    "Policy",
    "PolicyError",
    "Rule",
    "compile_bytes",
    "compile_policy",
    "load_file",
]
