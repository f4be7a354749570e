"""A settings field's rules (type, range, choices) and the one-line message that names the key, the
value and what is allowed when a value breaks them. The settings dataclasses (the schema in
videomae.config_schema, videomae.data.config.DataConfig) declare their fields with `rule`.
"""

import types
import typing
from dataclasses import field, fields
from typing import Any

from videomae.errors import ConfigError


def rule(
    low=None, high=None, low_open=False, high_open=False, choices=None, length=None, default=None, help=""
) -> Any:
    """A field's allowed values: [low, high] (open ends as asked), or one of `choices`; its
    `default` and, in `help`, what it means."""
    return field(
        default=default,
        metadata=dict(
            low=low,
            high=high,
            low_open=low_open,
            high_open=high_open,
            choices=choices,
            length=length,
            help=help,
        ),
    )


KIND = {
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    str: "a string",
    dict: "a mapping",
}


def _allowed(typ, meta) -> str:
    """`an integer >= 1`, `a number in (0, 1]`, `one of tube, random`, ..."""
    if meta.get("choices"):
        return f"one of {', '.join(meta['choices'])}"
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
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif typ is str:  # a directory may well be named 2024: numbers are fine where text is wanted
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, typ)
    if not ok:
        if typ is int and isinstance(value, float):
            return f"is not an integer (a fraction cannot be used); allowed: {_allowed(typ, meta)}"
        return f"is not {KIND[typ]}; allowed: {_allowed(typ, meta)}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"is not allowed; allowed: {_allowed(typ, meta)}"
    if typ in (int, float):
        low, high = meta.get("low"), meta.get("high")
        too_low = low is not None and (value <= low if meta["low_open"] else value < low)
        too_high = high is not None and (value >= high if meta["high_open"] else value > high)
        if too_low or too_high:
            return f"is out of range; allowed: {_allowed(typ, meta)}"
    return None


def check_value(key: str, value, annotation, meta) -> None:
    """A ConfigError naming `key`, `value` and what is allowed, unless `value` fits."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional, annotation = True, args[0]
    if value is None:
        if optional:
            return
        raise ConfigError(f"{key}=null is not allowed; allowed: {_describe(annotation, meta)}")
    if typing.get_origin(annotation) in (list, tuple):
        item = typing.get_args(annotation)[0]  # list[X] or tuple[X, ...]
        length = meta.get("length")
        if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
            raise ConfigError(f"{key}={_show(value)} is not allowed; allowed: {_describe(annotation, meta)}")
        for number, element in enumerate(value):
            why = _scalar_error(element, item, meta)
            if why:
                raise ConfigError(f"{key}={_show(value)}: item {number} ({_show(element)}) {why}")
        return
    why = _scalar_error(value, annotation, meta)
    if why:
        raise ConfigError(f"{key}={_show(value)} {why}")


def _describe(annotation, meta) -> str:
    if typing.get_origin(annotation) in (list, tuple):
        item = typing.get_args(annotation)[0]  # list[X] or tuple[X, ...]
        count = f"{meta['length']} " if meta.get("length") else ""
        each = _allowed(item, meta).split(" ", 1)[-1]  # "number in [0, 1)"
        return f"a list of {count}{KIND[item].split(' ', 1)[-1]}s, each {each}"
    return _allowed(annotation, meta)


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


def check_fields(cls, group: str, values: dict) -> None:
    """Check the keys of `values` that the dataclass `cls` lists, named `group.key` in messages."""
    hints = typing.get_type_hints(cls)
    for spec in fields(cls):
        if spec.name in values:
            check_value(f"{group}.{spec.name}", values[spec.name], hints[spec.name], spec.metadata)
