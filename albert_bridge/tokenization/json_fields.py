"""Checking a tokenizer JSON file against a declared table of the keys we read and the type each must have (the
table is `files.FILE_FIELDS`). A known key of the wrong type is an error naming the file and the field; an unknown
key is kept as it is (transformers writes many we do not use).

Specs are small: a leaf (`STR`, `BOOL`, `INT`, `ID`, `NUMBER`), `Obj` (an object with known fields),
`ListOf`, `MapOf` (an object whose keys are data: ids, token contents), `Pair` (a fixed-length list), `Either`,
`OneOf` (one of some values). None is accepted wherever a file may leave a value unset (`Optional`).
"""

from __future__ import annotations

import math
import pathlib
import re
from dataclasses import dataclass
from typing import Any

from albert_bridge.errors import BridgeError

MAX_ID = 2**31 - 1  # token ids are int32 in sentencepiece and tokenizers


@dataclass(frozen=True)
class Leaf:
    name: str

    def accepts(self, value: Any) -> bool:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return {"str": isinstance(value, str), "bool": isinstance(value, bool), "integer": is_int,
                "id": is_int and 0 <= value <= MAX_ID, "none": value is None,
                # a float's range: 10**400 is a valid JSON integer that float() cannot hold
                "number": (is_int and abs(value) <= 2**53) or (isinstance(value, float) and math.isfinite(value)),
                }[self.name]


STR, BOOL, INT, ID, NUMBER = (Leaf(n) for n in ("str", "bool", "integer", "id", "number"))


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Any]
    required: tuple[str, ...] = ()
    closed: bool = False  # unknown keys refused (they would reach a constructor as keyword arguments)


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    key: Any  # STR, or ID for keys that are ids written as strings ("5")
    value: Any


@dataclass(frozen=True)
class Pair:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Either:
    options: tuple[Any, ...]


@dataclass(frozen=True)
class OneOf:
    values: tuple[Any, ...]


def Optional(spec: Any) -> Either:  # noqa: N802 - reads as a type in the table
    return Either((Leaf("none"), spec))


def describe(spec: Any) -> str:
    if isinstance(spec, Leaf):
        return {"id": f"a token id (integer 0..{MAX_ID})", "none": "null", "integer": "an integer"}.get(
            spec.name, f"a {spec.name}")
    if isinstance(spec, Obj):
        return "an object" + (f" with {', '.join(spec.required)}" if spec.required else "")
    if isinstance(spec, (ListOf, Pair)):
        return "a list"
    if isinstance(spec, MapOf):
        return "an object"
    if isinstance(spec, OneOf):
        return " or ".join(map(repr, spec.values))
    return " or ".join(describe(option) for option in spec.options)


def _key(spec: Any, key: str) -> bool:
    """A JSON key (always a string) as the spec wants it: ids are digits."""
    if spec is ID:
        return bool(re.fullmatch(r"\d{1,10}", key)) and int(key) <= MAX_ID
    return True


def find_problem(value: Any, spec: Any, at: str = "") -> str | None:
    """The first place where `value` does not fit `spec`, as 'field: expected ..., got ...'; None when it fits."""
    def wrong() -> str:
        shown = repr(value)[:40] if isinstance(value, (bool, int, float, str, type(None))) else type(value).__name__
        return f"{at or 'the file'}: expected {describe(spec)}, got {shown}"

    if isinstance(spec, Leaf):
        return None if spec.accepts(value) else wrong()
    if isinstance(spec, OneOf):
        return None if any(value == v and type(value) is type(v) for v in spec.values) else wrong()
    if isinstance(spec, Either):
        problems = [find_problem(value, option, at) for option in spec.options]
        if all(problems):
            # The deepest complaint of an option of the value's own kind (an object's field) says the most.
            deeper = [p for p in problems if p and not p.startswith(f"{at or 'the file'}: expected")]
            return deeper[0] if deeper else wrong()
        return None
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            return wrong()
        missing = [k for k in spec.required if k not in value]
        if missing:
            return f"{at or 'the file'}: missing {missing[0]!r}"
        if spec.closed:
            unknown = sorted(set(value) - set(spec.fields))
            if unknown:
                return f"{_join(at, unknown[0])}: unknown key (known: {', '.join(spec.fields)})"
        return next((p for k, s in spec.fields.items() if k in value
                     for p in [find_problem(value[k], s, _join(at, k))] if p), None)
    if isinstance(spec, MapOf):
        if not isinstance(value, dict):
            return wrong()
        for k, v in value.items():
            if not _key(spec.key, k):
                return f"{_join(at, k, data=True)}: key must be {describe(spec.key)}"
            problem = find_problem(v, spec.value, _join(at, k, data=True))
            if problem:
                return problem
        return None
    if isinstance(spec, Pair):
        if not isinstance(value, list) or len(value) != len(spec.items):
            return f"{at or 'the file'}: expected a list of {len(spec.items)}, got {_shown(value)}"
        return next((p for i, (v, s) in enumerate(zip(value, spec.items))
                     for p in [find_problem(v, s, f"{at}[{i}]")] if p), None)
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            return wrong()
        return next((p for i, v in enumerate(value) for p in [find_problem(v, spec.item, f"{at}[{i}]")] if p), None)
    raise TypeError(f"not a spec: {spec!r}")


def _join(at: str, key: str, data: bool = False) -> str:
    """A field's path: `a.b` for names, `a['5']` for keys that are data (ids, token contents)."""
    return f"{at}[{key!r}]" if data or (at and not key.isidentifier()) else f"{at}.{key}" if at else key


def _shown(value: Any) -> str:
    return f"{len(value)} items" if isinstance(value, list) else type(value).__name__


def check_fields(data: Any, spec: Any, path: pathlib.Path | str) -> Any:
    """`data` (a file's parsed JSON) when it fits `spec`, else one BridgeError naming the file and the field."""
    problem = find_problem(data, spec)
    if problem:
        raise BridgeError(problem, file=path)
    return data
