"""Typed settings: each component's settings are one frozen dataclass (a `Settings`) defined next
to the component; a field's annotation is its type, its `setting(...)` its default and allowed
values, so that one place holds a setting's name, type, default, allowed values and meaning.

Building one (`Cls.from_dict(values)` from a config group, or `Cls(...)` directly) checks every
field: a wrong type or range fails with one line naming the key, the value and what is allowed,
instead of a traceback deep inside torch or Lightning, or a silent truncation (1.5 is not an
integer). A field without a default must be given; rules between fields are a class's `check`.
"""

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import MISSING, field, fields
from typing import Any, ClassVar, TypeVar

from videomae.utils.errors import ConfigError


class _Unset:
    """A field's value when it was left out and the component's own default applies (the model
    size's, Lightning's): it may be left out, but not given as null."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def setting(
    default: Any = MISSING,
    *,
    low=None,
    high=None,
    low_open=False,
    high_open=False,
    choices=None,
    length=None,
    checked=True,
    help="",
) -> Any:
    """A field's default (none: it must be given) and allowed values: [low, high] (open ends as
    asked) for numbers and each item of a list, one of `choices`, `length` items. `checked=False`:
    its class's `check` tells what is allowed (a rule with its own message). `help`: what it means."""
    meta = dict(
        low=low,
        high=high,
        low_open=low_open,
        high_open=high_open,
        choices=choices,
        length=length,
        checked=checked,
        help=help,
    )
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def rule(
    low=None, high=None, low_open=False, high_open=False, choices=None, length=None, default=None, help=""
) -> Any:
    """A field with a default (None unless given), its allowed values (see `setting`) and meaning."""
    limits = dict(low=low, high=high, low_open=low_open, high_open=high_open)
    return setting(default, choices=choices, length=length, help=help, **limits)


def optional(low=None, high=None, low_open=False, high_open=False, choices=None, length=None) -> Any:
    """A field that may be left out (UNSET: the component's default applies) but not be null."""
    limits = dict(low=low, high=high, low_open=low_open, high_open=high_open)
    return setting(UNSET, choices=choices, length=length, **limits)


S = TypeVar("S", bound="Settings")


class Settings:
    """Base of the settings dataclasses (`@dataclass(frozen=True) class XConfig(Settings)`).
    `GROUP`: the config group its keys live under (`mask` -> `mask.ratio=...` in messages);
    empty for top-level keys."""

    GROUP: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for spec in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            if spec.metadata.get("checked", True) and getattr(self, spec.name) is not UNSET:
                check_value(self.key(spec.name), getattr(self, spec.name), hints[spec.name], spec.metadata)
        self.check()

    def check(self) -> None:
        """Rules between fields, or with their own messages (ConfigError)."""

    @classmethod
    def key(cls, name: str) -> str:
        return f"{cls.GROUP}.{name}" if cls.GROUP else name

    @classmethod
    def names(cls) -> list[str]:
        return [spec.name for spec in fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[S], values: typing.Mapping | None, unknown: str = "ignore") -> S:
        """The settings in `values` (a config group as a dict), defaults for those left out.
        `unknown`: "ignore" the keys this class does not list (another component's), or "error"."""
        values = dict(values or {})
        names = cls.names()
        if unknown == "error" and (extra := [k for k in values if k not in names]):
            where = cls.GROUP or "the config"
            raise ConfigError(f"{cls.key(extra[0])} is not a {where} setting; known: {', '.join(names)}")
        for spec in fields(cls):  # type: ignore[arg-type]
            if spec.name not in values and spec.default is MISSING and spec.default_factory is MISSING:
                raise ConfigError(f"{cls.key(spec.name)} is missing; it has no default")
        return cls(**{k: v for k, v in values.items() if k in names})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass


KIND = {
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    str: "a string",
    dict: "a mapping",
}


def allowed(typ, meta) -> str:
    """`an integer >= 1`, `a number in (0, 1]`, `one of tube, random`, ..."""
    if meta.get("choices"):
        return f"one of {', '.join(map(str, meta['choices']))}"
    if typ is bool:
        return "true or false"
    text = KIND[typ]
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        left, right = "(" if meta["low_open"] else "[", ")" if meta["high_open"] else "]"
        text += f" in {left}{low}, {high}{right}"
    elif low is not None:
        text += f" {'>' if meta['low_open'] else '>='} {low}"
    elif high is not None:
        text += f" {'<' if meta['high_open'] else '<='} {high}"
    return text


def _scalar_error(value, typ, meta) -> str | None:
    """Why `value` is not an allowed `typ` (None when it is)."""
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif typ is str:  # a directory may well be named 2024: numbers are fine where text is wanted
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
    elif typ is dict:
        ok = isinstance(value, typing.Mapping)
    else:
        ok = isinstance(value, typ)
    if not ok:
        if typ is int and isinstance(value, float):
            return f"is not an integer (a fraction cannot be used); allowed: {allowed(typ, meta)}"
        return f"is not {KIND[typ]}; allowed: {allowed(typ, meta)}"
    if typ is float and not math.isfinite(value):  # NaN compares false with any bound
        return f"is not a finite number; allowed: {allowed(typ, meta)}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"is not allowed; allowed: {allowed(typ, meta)}"
    if typ in (int, float):
        low, high = meta.get("low"), meta.get("high")
        too_low = low is not None and (value <= low if meta["low_open"] else value < low)
        too_high = high is not None and (value >= high if meta["high_open"] else value > high)
        if too_low or too_high:
            return f"is out of range; allowed: {allowed(typ, meta)}"
    return None


def check_value(key: str, value, annotation, meta) -> None:
    """A ConfigError naming `key`, `value` and what is allowed, unless `value` is allowed."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional, annotation = True, args[0]
    if typing.get_origin(annotation) is dict:
        annotation = dict
    if value is None:
        if optional:
            return
        raise ConfigError(f"{key}=null is not allowed; allowed: {_describe(annotation, meta)}")
    if typing.get_origin(annotation) in (list, tuple):
        item = typing.get_args(annotation)[0]  # list[X] or tuple[X, ...]
        length = meta.get("length")
        listed = isinstance(value, Sequence) and not isinstance(value, str)  # omegaconf's ListConfig too
        if not listed or (length is not None and len(value) != length):
            raise ConfigError(f"{key}={show(value)} is not allowed; allowed: {_describe(annotation, meta)}")
        for number, element in enumerate(value):
            why = _scalar_error(element, item, meta)
            if why:
                raise ConfigError(f"{key}={show(value)}: item {number} ({show(element)}) {why}")
        return
    why = _scalar_error(value, annotation, meta)
    if why:
        raise ConfigError(f"{key}={show(value)} {why}")


def _describe(annotation, meta) -> str:
    if typing.get_origin(annotation) in (list, tuple):
        item = typing.get_args(annotation)[0]  # list[X] or tuple[X, ...]
        count = f"{meta['length']} " if meta.get("length") else ""
        each = allowed(item, meta).split(" ", 1)[-1]  # "number in [0, 1)"
        return f"a list of {count}{KIND[item].split(' ', 1)[-1]}s, each {each}"
    return allowed(annotation, meta)


def show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value)


def check_fields(cls, group: str, values: dict) -> None:
    """Check the keys of `values` that the dataclass `cls` lists, named `group.key` in messages."""
    hints = typing.get_type_hints(cls)
    for spec in fields(cls):
        if spec.name in values:
            check_value(f"{group}.{spec.name}", values[spec.name], hints[spec.name], spec.metadata)
