"""Check configuration values against the real signature of what they configure.

Every message is one line in one shape, so the CLI can print it as it is::

    encoder.epochs=2.5 is invalid; valid: an integer
    index.foo is not a parameter of HnswlibIndex; valid: M, ef_construction, seed, threads

Type rules (``check_value``):

- ``bool`` takes only ``True``/``False``: ``"yes"``, ``1`` and ``0`` are rejected.
- ``int`` takes integers, never a bool and never a float, not even an integral one such as
  ``3.0``: a config that says ``3.0`` where a count is meant was most likely meant as a float
  elsewhere, and silently truncating ``2.5`` is the bug this module exists to stop.
- ``float`` takes integers and floats (integers are converted to float), never a bool.
- ``str`` takes strings only; ``os.PathLike | str`` (or ``pathlib.Path``) takes strings and
  path objects.
- ``X | None`` / ``Optional[X]`` also takes ``None``; ``Literal[...]`` takes one of its values
  (type-exact: ``True`` is not ``1``).
- ``list[X]``, ``Sequence[X]``, ``tuple[X, ...]`` take lists or tuples (not strings), each
  element checked; ``tuple[X, Y]`` checks the length too. ``dict[K, V]``/``Mapping`` take
  mappings, each value checked.
- Unannotated parameters and ``Any`` take anything; other classes are checked with isinstance.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import inspect
import logging
import math
import numbers
import os
import pathlib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lookup.errors import BadInput

__all__ = ["check_call", "check_range", "check_value", "invalid", "describe"]


class _Invalid(Exception):
    """A value does not fit a type; ``valid`` says in words what would."""

    def __init__(self, valid: str) -> None:
        super().__init__(valid)
        self.valid = valid


def _key(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def invalid(prefix: str, key: str, value: Any, valid: str) -> BadInput:
    """The one-line error ``<prefix>.<key>=<value!r> is invalid; valid: <valid>`` (to raise)."""
    return BadInput(f"{_key(prefix, key)}={value!r} is invalid; valid: {valid}")


def _name(target: Callable) -> str:
    return getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))


def _hints(target: Callable) -> dict[str, Any]:
    """Resolved annotations of the target's parameters ({} for the unresolvable ones)."""
    sources: list[Any] = []
    if inspect.isclass(target):
        if dataclasses.is_dataclass(target):
            sources.append(target)
        sources.append(target.__init__)
    else:
        sources.append(target)
    hints: dict[str, Any] = {}
    for src in sources:
        try:
            hints.update(typing.get_type_hints(src))
        except Exception:  # noqa: BLE001 - an unresolvable annotation checks nothing
            raw = getattr(src, "__annotations__", {}) or {}
            hints.update({k: v for k, v in raw.items() if not isinstance(v, str)})
    hints.pop("return", None)
    return hints


def _signature(target: Callable) -> inspect.Signature:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the parameters of {_name(target)}: {exc}") from None


_ARTICLE_TYPES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    type(None): "null",
}


def describe(tp: Any) -> str:
    """What a type annotation accepts, in words ("an integer", "a list of numbers", ...)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return "anything"
    if tp in _ARTICLE_TYPES:
        return _ARTICLE_TYPES[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if _is_path_union(args):
            rest = [a for a in args if a not in (str, os.PathLike, pathlib.Path, type(None))]
            rest = [a for a in rest if typing.get_origin(a) is not os.PathLike]
            words = ["a path"] + [describe(a) for a in rest]
            if type(None) in args:
                words.append("null")
            return " or ".join(words)
        return " or ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (list, tuple, cabc.Sequence, cabc.MutableSequence) or tp in (list, tuple):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} items (" + ", ".join(describe(a) for a in args) + ")"
        inner = args[0] if args else Any
        return "a list" if inner is Any else f"a list of {_plural(describe(inner))}"
    if origin in (dict, cabc.Mapping, cabc.MutableMapping) or tp is dict:
        return "a mapping"
    if tp in (os.PathLike, pathlib.Path) or origin is os.PathLike:
        return "a path"
    if inspect.isclass(tp):
        return f"a {tp.__name__}"
    return str(tp)


def _plural(words: str) -> str:
    for article in ("an ", "a "):
        if words.startswith(article):
            noun = words[len(article) :]
            return noun + ("es" if noun.endswith("s") else "s")
    return words


def _is_path_union(args: tuple) -> bool:
    return any(
        a in (os.PathLike, pathlib.Path) or typing.get_origin(a) is os.PathLike for a in args
    )


def _convert(value: Any, tp: Any) -> Any:
    """``value`` checked against ``tp`` (converted where the rules say so) or _Invalid."""
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return value
    if tp is type(None) or tp is None:
        if value is None:
            return None
        raise _Invalid("null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Invalid(describe(tp))
    if tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        raise _Invalid(describe(tp))
    if tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise _Invalid(describe(tp))
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Invalid(describe(tp))
    if tp in (os.PathLike, pathlib.Path) or typing.get_origin(tp) is os.PathLike:
        if isinstance(value, (str, os.PathLike)):
            return value
        raise _Invalid("a path")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        for arg in args:
            try:
                return _convert(value, arg)
            except _Invalid:
                continue
        raise _Invalid(describe(tp))
    if origin is typing.Literal:
        for arg in args:
            if type(arg) is type(value) and arg == value:
                return value
        raise _Invalid(describe(tp))
    if origin in (list, tuple, cabc.Sequence, cabc.MutableSequence) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, cabc.Sequence):
            raise _Invalid(describe(tp))
        items = list(value)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise _Invalid(describe(tp))
            return tuple(_convert(v, a) for v, a in zip(items, args, strict=True))
        inner = args[0] if args else Any
        try:
            out = [_convert(v, inner) for v in items]
        except _Invalid:
            raise _Invalid(describe(tp)) from None
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin in (dict, cabc.Mapping, cabc.MutableMapping) or tp is dict:
        if not isinstance(value, cabc.Mapping):
            raise _Invalid(describe(tp))
        vt = args[1] if len(args) == 2 else Any
        try:
            return {k: _convert(v, vt) for k, v in value.items()}
        except _Invalid:
            raise _Invalid(describe(tp)) from None
    if origin is not None and inspect.isclass(origin):
        if isinstance(value, origin):
            return value
        raise _Invalid(describe(origin))
    if inspect.isclass(tp):
        if isinstance(value, tp):
            return value
        raise _Invalid(describe(tp))
    return value  # anything this module does not understand is not checked


def check_value(prefix: str, key: str, value: Any, tp: Any) -> Any:
    """``value`` checked against annotation ``tp`` and converted (ints to float for floats).

    Raises the one-line BadInput ``<prefix>.<key>=<value!r> is invalid; valid: ...``.
    """
    try:
        return _convert(value, tp)
    except _Invalid as exc:
        raise invalid(prefix, key, _plain(value), exc.valid) from None


def _plain(value: Any) -> Any:
    """OmegaConf containers and numpy scalars shown as plain Python values in messages."""
    if isinstance(value, cabc.Mapping) and not isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, cabc.Sequence) and not isinstance(value, (str, bytes, list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _is_special(key: str) -> bool:
    """Hydra's own keys (``_target_``, ``_partial_``, ...) pass through unchecked."""
    return key.startswith("_") and key.endswith("_")


def check_call(
    target: Callable,
    params: Mapping[str, Any],
    *,
    prefix: str,
    runtime: Iterable[str] = (),
) -> dict:
    """Check ``params`` (config keys -> values) against ``target``'s signature.

    ``target`` is a function, a class (its ``__init__``) or a dataclass. ``runtime`` names the
    parameters the harness passes itself (e.g. ``metric``, ``cache_dir``): they are not listed
    as valid and may not appear in ``params``. Keys like ``_target_`` pass through unchecked.
    Returns a new dict of the params with values converted (ints to float where a float is
    meant, sequences to lists/tuples). Raises a one-line BadInput naming ``<prefix>.<key>``:
    an unknown key (listing the valid ones), a missing required parameter, or a value that
    does not fit the annotation (see the module docstring).
    """
    sig = _signature(target)
    hints = _hints(target)
    runtime = tuple(runtime)
    named = {
        name: p
        for name, p in sig.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    valid = [name for name in named if name not in runtime]
    listing = ", ".join(valid) if valid else "none"
    out: dict = {}
    for key, value in params.items():
        key = str(key)
        if _is_special(key):
            out[key] = value
            continue
        if key in runtime:
            raise BadInput(
                f"{_key(prefix, key)} is set by the harness, not in the config; valid: {listing}"
            )
        if key not in named:
            if takes_any:
                out[key] = value
                continue
            raise BadInput(
                f"{_key(prefix, key)} is not a parameter of {_name(target)}; valid: {listing}"
            )
        out[key] = check_value(prefix, key, value, hints.get(key, inspect.Parameter.empty))
    missing = [
        name
        for name, p in named.items()
        if p.default is p.empty and name not in out and name not in runtime
    ]
    if missing:
        raise BadInput(
            f"{_key(prefix, missing[0])} is required by {_name(target)} and not set; "
            f"valid: {listing}"
        )
    return out


def _number_words(*bounds: Any) -> str:
    given = [b for b in bounds if b is not None]
    if given and all(isinstance(b, numbers.Integral) for b in given):
        return "an integer"
    return "a number"


def check_range(
    prefix: str,
    key: str,
    value: Any,
    *,
    minimum: Any = None,
    maximum: Any = None,
    choices: Iterable[Any] | None = None,
) -> Any:
    """``value`` if it lies in ``[minimum, maximum]`` and/or among ``choices``; returns it.

    Else raises ``<prefix>.<key>=<value!r> is invalid; valid: an integer >= 1`` (or
    ``... valid: one of a, b``). A bool is never a number here, and NaN is never in range.
    For the bounds of each element of a list, call it per element.
    """
    if choices is not None:
        options = list(choices)
        if not any(type(c) is type(value) and c == value for c in options):
            raise invalid(prefix, key, _plain(value), "one of " + ", ".join(map(str, options)))
        return value
    if minimum is None and maximum is None:
        return value
    words = _number_words(minimum, maximum)
    if minimum is not None and maximum is not None:
        valid = f"{words} between {minimum} and {maximum}"
    elif minimum is not None:
        valid = f"{words} >= {minimum}"
    else:
        valid = f"{words} <= {maximum}"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and words == "an integer" and not isinstance(value, numbers.Integral):
        ok = False
    if ok and isinstance(value, float) and math.isnan(value):
        ok = False
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        raise invalid(prefix, key, _plain(value), valid)
    return value


def _same_value(a: Any, b: Any) -> bool:
    """Equal and of one kind: integers of any integer type compare as integers; otherwise the
    types must match, so True is not 1 and 10.0 is not 10 (each is still checked on its own)."""
    integral = [isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (a, b)]
    if all(integral):
        return int(a) == int(b)
    return type(a) is type(b) and bool(a == b)


def unique_knob_values(
    values: Iterable[Any], name: str | None = None
) -> tuple[list[Any], list[Any]]:
    """(``values`` without repeats in first-seen order, the repeats dropped in order).

    A knob list such as ``index.search.ef=[10,10,20]`` names one operating point twice; it is
    measured once. With ``name`` (the knob), a non-empty drop logs one warning saying so, e.g.
    ``index.search.ef: repeated values 10 dropped (each operating point is measured once)``.
    Values are compared with :func:`_same_value`; unhashable values (a nested list, which the
    knob check rejects later) are compared too, never dropped silently.
    """
    kept: list[Any] = []
    dropped: list[Any] = []
    for value in values:
        (dropped if any(_same_value(value, k) for k in kept) else kept).append(value)
    if dropped and name is not None:
        logging.getLogger(__name__).warning(
            "index.search.%s: repeated values %s dropped (each operating point is measured once)",
            name,
            ", ".join(map(repr, dropped)),
        )
    return kept, dropped
